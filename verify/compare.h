/* compare.h - logits of a checkpoint against a reference's, position by
 * position: max |diff|, relative L2 (||ckpt - ref|| / ||ref||), cosine,
 * KL(ref || ckpt) of the softmax distributions, top-1 agreement, top-5
 * overlap; and the summary the verdict is taken on. */
#ifndef DS_VERIFY_COMPARE_H
#define DS_VERIFY_COMPARE_H

#include <stdint.h>

typedef struct {
    double max_abs, rel_l2, cosine, kl;
    int top1_ref, top1_ckpt;   /* argmax ids */
    double top5;               /* |top5(ref) ∩ top5(ckpt)| / 5 */
    int identical;             /* every value bit-identical */
} ds_vc_pos;

typedef struct {
    int64_t n_pos, vocab;
    ds_vc_pos *pos;            /* [n_pos], malloc'd */
    int identical;             /* all positions bit-identical */
    int64_t values_differing;
    int finite;                /* both sides all finite */
    double max_abs, worst_rel_l2, mean_rel_l2, min_cosine, mean_kl, max_kl, top1_rate, mean_top5;
} ds_vc_result;

/* ckpt, ref: [n_pos][vocab]. */
void ds_vc_compare(const float *ckpt, const float *ref, int64_t n_pos, int64_t vocab, ds_vc_result *r);
void ds_vc_free(ds_vc_result *r);

/* Metrics of one position, exposed for the tests. */
void ds_vc_position(const float *a, const float *ref, int64_t vocab, ds_vc_pos *p);

/* 1 when every value is finite. */
int ds_vc_all_finite(const float *x, int64_t n);

#endif
