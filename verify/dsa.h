/* dsa.h - DeepSeek Sparse Attention (model_type deepseek_v32) in the verify
 * forward pass: the indexer's choice of keys, as transformers' DeepseekV32
 * computes it (DeepseekV32Indexer; MANUAL.md, section verify).
 *
 * Per layer, on the attention input h (after input_layernorm) and q_resid
 * (q_a_layernorm's output):
 *   q = indexer.wq_b(q_resid)                      [T][index_n_heads][index_head_dim]
 *   k = LayerNorm(indexer.wk(h); k_norm.weight, k_norm.bias, eps 1e-6)   [T][index_head_dim]
 *   RoPE on the first qk_rope_head_dim values of every q head and of k,
 *   half-split (rotate_half), with MLA's cos/sin (YaRN attention factor included)
 *   w = indexer.weights_proj(h) * index_n_heads^-1/2                     [T][index_n_heads]
 *   score(s, t) = sum_h w[s][h] * relu(q[s][h] . k[t] * index_head_dim^-1/2), t <= s
 * and query s keeps its min(index_topk, s+1) best-scored keys; MLA attends to
 * those only. Sequences no longer than index_topk are attended densely. */
#ifndef DS_VERIFY_DSA_H
#define DS_VERIFY_DSA_H

#include <stdint.h>
#include "formats/config.h"

#define DS_VF_DSA_KNORM_EPS 1e-6 /* nn.LayerNorm(index_head_dim, eps=1e-6) in both references */

/* True for a model whose attention is DeepSeek Sparse Attention (deepseek_v32). */
int ds_vf_dsa_enabled(const ds_config *c);
/* 0, or DS_EXIT_INPUT naming what in config.json the indexer cannot run with. */
int ds_vf_dsa_check_config(const char *path, const ds_config *c);

/* Keys of one sequence of S tokens: q [S][nh][d], k [S][d] (RoPE applied),
 * w [S][nh] (weights_proj output, already times nh^-1/2). Writes sel [S][kk],
 * kk = min(topk, S): query i's min(kk, i+1) selected keys, ascending (the rest
 * of its row is -1). Scores are summed in double; equal scores keep the lower
 * key index. min_gap (NULL: not wanted) is lowered to the smallest gap between
 * a query's kk-th and next score, relative to its largest |score|, over the
 * queries that drop keys: near 0, float32 rounding (or another implementation's)
 * may select differently. */
void ds_vf_dsa_select(const float *q, const float *k, const float *w, int S, int nh, int d, int topk, int *sel,
                      double *min_gap);

#endif
