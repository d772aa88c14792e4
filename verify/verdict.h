/* verdict.h - verify's verdict rules: which comparison a pair of checkpoints
 * must pass (bit-identical, or within thresholds that depend on how they are
 * quantized) and whether the measured logits pass it (MANUAL.md, verify). */
#ifndef DS_VERIFY_VERDICT_H
#define DS_VERIFY_VERDICT_H

#include <stddef.h>
#include "verify/compare.h"
#include "verify/report.h"

/* --expect auto: identical unless a side is integer-quantized (then close). */
#define DS_VR_EXPECT_AUTO (-1)

/* Sets r->expect and the thresholds for a comparison with another checkpoint
 * (int_bits: the fewer integer bits of the two sides, 0 when neither is
 * integer-quantized) or, ref_is_file, with a logits file. expect is a
 * ds_vr_expect or DS_VR_EXPECT_AUTO; a threshold < 0 takes its default. */
void ds_vr_set_rules(ds_vr_report *r, int expect, int int_bits, int ref_is_file, double max_kl, double min_top1,
                     double max_rel_l2);
/* The integer bits that set the defaults for two sides of a and b bits (0: not integer-quantized). */
int ds_vr_pair_int_bits(int a, int b);

/* Sets verdict, reason (in why) and exit code from the comparison c. */
void ds_vr_decide(ds_vr_report *r, const ds_vc_result *c, char *why, size_t cap);
/* The verdict without a reference: the forward pass of r->ckpt gave finite logits. */
void ds_vr_decide_alone(ds_vr_report *r);

#endif
