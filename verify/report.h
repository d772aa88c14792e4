/* report.h - what verify found: the stdout summary and the --json report. */
#ifndef DS_VERIFY_REPORT_H
#define DS_VERIFY_REPORT_H

#include <stdio.h>
#include "verify/compare.h"
#include "verify/forward.h"
#include "verify/structure.h"
#include "verify/ws_scan.h"

typedef struct {
    const char *path, *format;   /* format: ds_ws_describe, NULL when it did not open */
    int open_rc, structure_rc, forward_rc;
    int ran_structure, ran_forward, finite;
    ds_vs_stats vs;
    ds_vf_stats fs;
    int ran_scan;                /* the value scan ran with the forward pass */
    ds_ws_scan_stats scan;
} ds_vr_side;

/* What a comparison must show: bit-identical logits, or logits within thresholds. */
typedef enum { DS_VR_EXPECT_IDENTICAL, DS_VR_EXPECT_CLOSE } ds_vr_expect;
static inline const char *ds_vr_expect_name(ds_vr_expect e) { return e == DS_VR_EXPECT_CLOSE ? "close" : "identical"; }

typedef struct {
    ds_vr_side ckpt, ref;
    int has_ref;
    int ref_is_file;             /* --against-logits: ref.path is a logits file */
    const char *device;          /* "cpu" | "cuda" */
    const ds_vf_tokens *tk;      /* NULL when it never got that far */
    const char *tokens_source;   /* file name or "built-in probe set" */
    ds_vr_expect expect;
    double max_kl, min_top1, max_rel_l2;   /* negative: not checked */
    const ds_vc_result *cmp;     /* NULL without --against or before the comparison */
    const char *verdict;         /* "pass" | "mismatch" | "structural failure" | "invalid input" | "error" */
    const char *reason;          /* one line saying why */
    int exit_code;
} ds_vr_report;

void ds_vr_print(const ds_vr_report *r, FILE *f);
/* Writes the JSON report atomically. 0 or DS_EXIT_IO. */
int ds_vr_write_json(const ds_vr_report *r, const char *path);

#endif
