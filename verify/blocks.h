/* blocks.h - the DeepSeek-V3 math blocks of the verify forward pass, as plain
 * functions over float32 arrays (no weights, no I/O), so each can be tested
 * against a float64 hand computation.
 *
 * Semantics follow transformers' DeepseekV3ForCausalLM (the float64 logits of
 * the golden fixture come from it) and upstream inference/model.py where the
 * two agree; MANUAL.md (section verify) lists the few places where they differ
 * and which one is followed. */
#ifndef DS_VERIFY_BLOCKS_H
#define DS_VERIFY_BLOCKS_H

#include <stddef.h>
#include <stdint.h>
#include "formats/config.h"

/* y[r] = w * x[r] / sqrt(mean(x[r]^2) + eps) for rows r of length n.
 * The mean of squares is summed in double. y may alias x. */
void ds_vf_rmsnorm(const float *x, const float *w, float *y, int64_t rows, int64_t n, double eps);

/* silu(g) * u, elementwise, written to g. */
void ds_vf_swiglu(float *g, const float *u, int64_t n);

/* ---- rotary embedding ---- */
/* Rotary frequencies for the qk_rope_head_dim/2 pairs: theta^(-2i/d), and with
 * YaRN (rope_scaling type yarn, factor > 1) blended between the extrapolated
 * and the factor-interpolated frequency by the linear ramp between the
 * correction dims of beta_fast and beta_slow over original_max_position_embeddings. */
void ds_vf_rope_inv_freq(const ds_config *c, double *inv_freq);
/* Factor multiplying cos and sin (transformers' attention_scaling of YaRN):
 * get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) when both are
 * non-zero, else get_mscale(factor); 1 without YaRN. */
double ds_vf_rope_attention_factor(const ds_config *c);
/* 0.1 * m * ln(s) + 1 for s > 1, else 1 (yarn_get_mscale). */
double ds_vf_yarn_mscale(double s, double m);
/* Attention softmax scale: (qk_nope+qk_rope)^-1/2, times mscale^2 with
 * mscale = yarn_get_mscale(factor, mscale_all_dim) when rope scaling is YaRN
 * and mscale_all_dim is non-zero. */
double ds_vf_softmax_scale(const ds_config *c);
/* cos/sin tables [npos][half], half = qk_rope_head_dim/2, in float32, as both
 * references build them: inv_freq rounded to float32, the angle p * inv_freq as
 * a float32 product, then cos/sin (evaluated in double, rounded once) times the
 * attention factor. */
void ds_vf_rope_tables(const ds_config *c, int npos, float *cos_t, float *sin_t);
/* Rotates one vector of 2*half values in interleaved pairs (x[2i], x[2i+1]) by
 * the angle of row (cos_r, sin_r): model.py's complex multiply. */
void ds_vf_rope_apply(float *x, int half, const float *cos_r, const float *sin_r);
/* Rotates one vector of 2*half values in halves (x[i], x[half+i]), transformers'
 * rotate_half: the layout of DeepSeek Sparse Attention's indexer (not MLA's). */
void ds_vf_rope_apply_half(float *x, int half, const float *cos_r, const float *sin_r);

/* LayerNorm with bias: y[r] = (x[r] - mean) / sqrt(var + eps) * w + b, the
 * biased variance, mean and variance in double (torch's nn.LayerNorm). y may alias x. */
void ds_vf_layernorm(const float *x, const float *w, const float *b, float *y, int64_t rows, int64_t n, double eps);

/* ---- attention ---- */
/* Causal MLA attention of one sequence of S tokens and H heads.
 * q: [S][H][dn+dr] (nope then rope part, rope already applied)
 * kv: [S][H][dn+dv] (k_nope then v, from kv_b_proj)
 * kpe: [S][dr] (the shared rope key, rope applied)
 * out: [S][H][dv]. Scores, softmax and the weighted sum are computed in double. */
void ds_vf_attention(const float *q, const float *kv, const float *kpe, float *out,
                     int S, int H, int dn, int dr, int dv, double scale);
/* The same over selected keys (DeepSeek Sparse Attention): query i attends to
 * sel[i][0 .. min(kk, i+1)), keys <= i (verify/dsa.h writes them ascending, so
 * with every key selected the result is ds_vf_attention's bit for bit). sel NULL:
 * ds_vf_attention. */
void ds_vf_attention_sel(const float *q, const float *kv, const float *kpe, float *out,
                         int S, int H, int dn, int dr, int dv, double scale, const int *sel, int kk);

/* ---- MoE routing ---- */
typedef struct {
    int n_experts, n_group, topk_group, topk;
    int softmax;        /* scoring: 1 softmax, 0 sigmoid */
    int group_mode;     /* 0 no group limit (greedy), 1 group score = max (group_limited_greedy),
                           2 group score = sum of the top-2 biased scores (noaux_tc) */
    int norm_topk_prob;
    double scaling;     /* routed_scaling_factor */
} ds_vf_route_params;

void ds_vf_route_params_from_config(const ds_config *c, ds_vf_route_params *p);
/* Bytes of scratch ds_vf_route needs (sized by config.json: heap, not stack). */
size_t ds_vf_route_scratch_bytes(const ds_vf_route_params *p);
/* Routes one token: logits [n_experts] (router output, x . gate^T), bias
 * [n_experts] or NULL (e_score_correction_bias). Writes topk expert indices
 * (ascending selection order: best first) and their weights.
 * Scores, biased scores and group sums are float32 values, as in the
 * references. Ties are broken toward the lower index, for groups and experts.
 * scratch: ds_vf_route_scratch_bytes(p) bytes, float-aligned (malloc's). */
void ds_vf_route(const ds_vf_route_params *p, const float *logits, const float *bias,
                 int *idx, float *w, void *scratch);

#endif
