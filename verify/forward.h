/* forward.h - the DeepSeek-V3 forward pass of verify: token embedding; per
 * layer RMSNorm -> MLA attention -> residual, RMSNorm -> FFN (SwiGLU MLP or
 * MoE) -> residual; final RMSNorm; lm_head. Every position's logits. For
 * deepseek_v32 (V3.2), MLA attends only to the keys DeepSeek Sparse
 * Attention's indexer selects (verify/dsa.h).
 *
 * Weights are planned in the order they are used and read ahead by reader
 * threads into a bounded ring (verify/ws_stream.h); routed experts are planned,
 * and so read, only once the router has chosen them. Memory is the ring, one
 * decoded weight and the activations, whatever the model size. */
#ifndef DS_VERIFY_FORWARD_H
#define DS_VERIFY_FORWARD_H

#include <stdint.h>
#include "verify/ws_source.h"
#include "verify/backend.h"

typedef struct {
    int n_seq;
    int *len;          /* [n_seq] tokens per sequence */
    int32_t *tok;      /* all sequences, concatenated */
    int64_t total;     /* sum of len */
} ds_vf_tokens;

void ds_vf_tokens_free(ds_vf_tokens *t);

typedef struct {
    int verbose;              /* progress per layer on stderr */
    /* filled by the pass */
    int64_t experts_loaded;   /* routed experts read, over all layers */
    int64_t expert_slots;     /* routed experts present, over all MoE layers */
    uint64_t bytes_read;      /* stored weight bytes the pass read */
    int64_t weights_planned;  /* steps (weights or head chunks) announced to the read-ahead stream */
    int64_t weights_taken;    /* of them multiplied by; every weight is taken from the plan */
    double dsa_min_gap;       /* DSA: smallest relative gap at a selection boundary (dsa.h); inf: none */
    double seconds;
} ds_vf_stats;

/* logits: [t->total][vocab_size], caller-allocated. Token ids must be < vocab.
 * 0, DS_EXIT_INPUT (a tensor missing or of the wrong shape, a bad token), DS_EXIT_IO. */
int ds_vf_forward(ds_ws_source *ws, ds_vf_backend *be, const ds_vf_tokens *t, float *logits, ds_vf_stats *st);
/* The pass's steps for config c, in the order it takes them, every routed
 * expert as if chosen: each weight (or lm_head row chunk [r0, r0+n)) of shape
 * [rows, cols], as ds_vf_forward plans them (the model schema's check, tests). */
typedef void (*ds_vf_step_visit)(const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols, void *ctx);
void ds_vf_forward_steps(const ds_config *c, ds_vf_step_visit fn, void *ctx);

/* 0, or DS_EXIT_INPUT when a size in config.json lies outside what the pass
 * computes (bounded so that a hostile config cannot overflow or crash it),
 * or the indexer of a deepseek_v32 config cannot run. ds_vf_forward checks it. */
int ds_vf_forward_check_config(const char *path, const ds_config *c);

#endif
