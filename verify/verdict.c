/* verdict.c - verify's verdict rules (verdict.h). */
#include "verify/verdict.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* Default thresholds when a side is integer-quantized (MANUAL.md, section verify): they
 * catch a broken conversion (garbage weights give KL of nats and top-1 near 0
 * on a real model), not a merely poor one; quality gates pass their own. */
#define INT8_MAX_KL 0.05
#define INT8_MIN_TOP1 0.80
#define INT4_MAX_KL 0.25
#define INT4_MIN_TOP1 0.50
/* Default for --against-logits: a float32 pass against e.g. a float64 reference. */
#define LOGITS_MAX_REL_L2 1e-4

int ds_vr_pair_int_bits(int a, int b) { return a && b ? (a < b ? a : b) : a | b; }

void ds_vr_set_rules(ds_vr_report *r, int expect, int int_bits, int ref_is_file, double max_kl, double min_top1,
                     double max_rel_l2) {
    if (ref_is_file) {
        r->expect = expect == DS_VR_EXPECT_AUTO ? DS_VR_EXPECT_CLOSE : (ds_vr_expect)expect;
        r->max_kl = max_kl;
        r->min_top1 = min_top1;
        r->max_rel_l2 = max_rel_l2 >= 0 ? max_rel_l2 : LOGITS_MAX_REL_L2;
        return;
    }
    r->expect = expect == DS_VR_EXPECT_AUTO ? (int_bits ? DS_VR_EXPECT_CLOSE : DS_VR_EXPECT_IDENTICAL) : (ds_vr_expect)expect;
    r->max_kl = max_kl >= 0 ? max_kl : int_bits == 4 ? INT4_MAX_KL : INT8_MAX_KL;
    r->min_top1 = min_top1 >= 0 ? min_top1 : int_bits == 4 ? INT4_MIN_TOP1 : INT8_MIN_TOP1;
    r->max_rel_l2 = max_rel_l2;
}

void ds_vr_decide_alone(ds_vr_report *r) {
    r->verdict = r->ckpt.finite ? "pass" : "mismatch";
    r->reason = r->ckpt.finite ? "structure ok and finite logits" : "the forward pass produced non-finite logits";
    r->exit_code = r->ckpt.finite ? 0 : DS_EXIT_MISMATCH;
}

/* Appends ", name value (limit)" for one checked threshold; pct: show as percentages. */
static void add_check(char *why, size_t cap, const char *what, double value, const char *rel, double limit, int pct) {
    size_t n = strlen(why);
    if (limit < 0 || n >= cap) return;
    if (pct) snprintf(why + n, cap - n, "%s%s %.1f%% (%s %.1f%%)", n ? ", " : "", what, 100 * value, rel, 100 * limit);
    else snprintf(why + n, cap - n, "%s%s %.4g (%s %g)", n ? ", " : "", what, value, rel, limit);
}

/* Sets verdict/reason/exit for an expected-identical or thresholded comparison. */
void ds_vr_decide(ds_vr_report *r, const ds_vc_result *c, char *why, size_t cap) {
    int ok;
    why[0] = 0;
    if (!c->finite) {
        ok = 0;
        snprintf(why, cap, "non-finite logits");
    } else if (r->expect == DS_VR_EXPECT_IDENTICAL) {
        ok = c->identical;
        snprintf(why, cap, ok ? "logits bit-identical, as expected for a lossless conversion"
                              : "the checkpoints should be lossless copies, but %lld logit values differ",
                 (long long)c->values_differing);
    } else {
        /* a negative threshold is not checked */
        ok = (r->max_kl < 0 || c->mean_kl <= r->max_kl) && (r->min_top1 < 0 || c->top1_rate >= r->min_top1) &&
             (r->max_rel_l2 < 0 || c->worst_rel_l2 <= r->max_rel_l2);
        add_check(why, cap, "mean KL", c->mean_kl, "max", r->max_kl, 0);
        add_check(why, cap, "top-1 agreement", c->top1_rate, "min", r->min_top1, 1);
        add_check(why, cap, "worst rel L2", c->worst_rel_l2, "max", r->max_rel_l2, 0);
        if (!why[0]) snprintf(why, cap, "no threshold set");
    }
    r->verdict = ok ? "pass" : "mismatch";
    r->reason = why;
    r->exit_code = ok ? 0 : DS_EXIT_MISMATCH;
}

