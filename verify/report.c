/* report.c - verify's stdout summary and JSON report (report.h). */
#include "verify/report.h"
#include "common/jsonfile.h"
#include "common/util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void print_side(FILE *f, const char *role, const ds_vr_side *s) {
    char eb[1024];
    /* names from the input reach the terminal escaped (common/util.h), as in inspect */
    fprintf(f, "verify: %s %s (%s): ", role, ds_esc(s->path, eb, sizeof eb), s->format ? s->format : "not opened");
    if (!s->format) { fprintf(f, "could not be opened (exit %d)\n", s->open_rc); return; }
    if (s->ran_structure) {
        if (s->structure_rc)
            fprintf(f, "structure FAILED (%d problem%s)", s->vs.problems ? s->vs.problems : 1,
                    s->vs.problems > 1 ? "s" : "");
        else fprintf(f, "structure ok (%d tensors, %lld values finite)", s->vs.tensors, (long long)s->vs.values);
    }
    if (s->ran_scan)
        fprintf(f, "; read once: %.3g GB (%.3g GB by the forward pass, %.3g GB scanned only%s)",
                (double)(s->fs.bytes_read + s->scan.bytes_scan_only) / 1e9, (double)s->fs.bytes_read / 1e9,
                (double)s->scan.bytes_scan_only / 1e9, s->scan.mtp_tensors ? ", MTP included" : "");
    if (s->ran_forward) {
        if (s->forward_rc) fprintf(f, "; forward pass failed (exit %d)", s->forward_rc);
        else fprintf(f, "; forward %.2f s, %lld routed experts read, logits %s", s->fs.seconds,
                     (long long)s->fs.experts_loaded, s->finite ? "finite" : "NOT finite");
    }
    fputc('\n', f);
}

/* What the model schema made of a side's tensors (ds_vs_census). */
static void print_census(FILE *f, const char *role, const ds_vr_side *s) {
    if (!s->vs.census_done || (!s->vs.not_run && !s->vs.unknown)) return;
    fprintf(f, "verify: %s schema: ", role);
    if (s->vs.not_run)
        fprintf(f, "%d tensors not run (%d MTP layer%s)", s->vs.not_run, s->vs.mtp_layers,
                s->vs.mtp_layers == 1 ? "" : "s");
    if (s->vs.unknown) {
        char eb[1024];
        fprintf(f, "%s%d unknown tensor%s allowed (first: %s)", s->vs.not_run ? ", " : "", s->vs.unknown,
                s->vs.unknown > 1 ? "s" : "", ds_esc(s->vs.unknown_first[0], eb, sizeof eb));
    }
    fputc('\n', f);
}

void ds_vr_print(const ds_vr_report *r, FILE *f) {
    print_side(f, "checkpoint", &r->ckpt);
    if (r->has_ref && r->ref_is_file) fprintf(f, "verify: reference  logits file %s\n", r->ref.path);
    else if (r->has_ref) print_side(f, "reference ", &r->ref);
    if (r->tk)
        fprintf(f, "verify: tokens: %d sequences, %lld positions (%s), device %s\n", r->tk->n_seq,
                (long long)r->tk->total, r->tokens_source, r->device);
    print_census(f, "checkpoint", &r->ckpt);
    if (r->has_ref && !r->ref_is_file) print_census(f, "reference ", &r->ref);
    if (r->cmp) {
        const ds_vc_result *c = r->cmp;
        if (c->identical)
            fprintf(f, "verify: logits bit-identical (%lld positions x %lld)\n", (long long)c->n_pos, (long long)c->vocab);
        else
            fprintf(f, "verify: logits differ in %lld of %lld values\n", (long long)c->values_differing,
                    (long long)(c->n_pos * c->vocab));
        fprintf(f,
                "  max|diff| %.4g   rel L2 worst %.4g mean %.4g   cosine min %.8f\n"
                "  KL(ref||ckpt) mean %.4g max %.4g   top-1 agreement %.1f%%   top-5 overlap %.1f%%\n",
                c->max_abs, c->worst_rel_l2, c->mean_rel_l2, c->min_cosine, c->mean_kl, c->max_kl,
                100 * c->top1_rate, 100 * c->mean_top5);
        if (r->expect == DS_VR_EXPECT_CLOSE) {
            fprintf(f, "  thresholds:");
            if (r->max_kl >= 0) fprintf(f, " mean KL <= %g", r->max_kl);
            if (r->min_top1 >= 0) fprintf(f, " top-1 agreement >= %.1f%%", 100 * r->min_top1);
            if (r->max_rel_l2 >= 0) fprintf(f, " worst rel L2 <= %g", r->max_rel_l2);
            fputc('\n', f);
        }
    }
    if (!strcmp(r->verdict, "pass")) fprintf(f, "verify: PASS (exit 0)\n");
    else fprintf(f, "verify: FAIL: %s (exit %d)\n", r->verdict, r->exit_code);
    if (r->reason) fprintf(f, "  %s\n", r->reason);
}

/* cJSON prints non-finite numbers as null, which is what the report wants. */
static cJSON *side_json(const ds_vr_side *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", s->path);
    if (s->format) cJSON_AddStringToObject(o, "format", s->format);
    else cJSON_AddNullToObject(o, "format");
    cJSON_AddNumberToObject(o, "open_exit_code", s->open_rc);
    if (s->vs.census_done) {
        /* the model schema's view: known tensors the forward pass does not run, unknown ones allowed */
        cJSON *sc = cJSON_AddObjectToObject(o, "schema");
        cJSON_AddNumberToObject(sc, "not_run", s->vs.not_run);
        cJSON_AddNumberToObject(sc, "mtp_layers", s->vs.mtp_layers);
        cJSON_AddNumberToObject(sc, "unknown", s->vs.unknown);
        cJSON *u = cJSON_AddArrayToObject(sc, "unknown_tensors");
        for (int i = 0; i < s->vs.unknown && i < 8; i++)
            cJSON_AddItemToArray(u, cJSON_CreateString(s->vs.unknown_first[i]));
    }
    if (s->ran_structure) {
        cJSON *st = cJSON_AddObjectToObject(o, "structure");
        cJSON_AddBoolToObject(st, "ok", s->structure_rc == 0);
        cJSON_AddNumberToObject(st, "tensors", s->vs.tensors);
        cJSON_AddNumberToObject(st, "values_finite", (double)s->vs.values);
        cJSON_AddNumberToObject(st, "problems", s->vs.problems);
        cJSON_AddNumberToObject(st, "seconds", s->vs.seconds);
    }
    if (s->ran_forward) {
        cJSON *fw = cJSON_AddObjectToObject(o, "forward");
        cJSON_AddNumberToObject(fw, "exit_code", s->forward_rc);
        cJSON_AddNumberToObject(fw, "seconds", s->fs.seconds);
        cJSON_AddNumberToObject(fw, "routed_experts_read", (double)s->fs.experts_loaded);
        cJSON_AddNumberToObject(fw, "routed_experts_present", (double)s->fs.expert_slots);
        cJSON_AddNumberToObject(fw, "bytes_read", (double)s->fs.bytes_read);
        cJSON_AddBoolToObject(fw, "logits_finite", s->finite);
    }
    if (s->ran_scan) {
        /* the value check on the bytes as they stream (verify/ws_scan.h) */
        const ds_ws_scan_stats *v = &s->scan;
        cJSON *sc = cJSON_AddObjectToObject(o, "scan");
        cJSON_AddNumberToObject(sc, "tensors", v->tensors);
        cJSON_AddNumberToObject(sc, "mtp_tensors", v->mtp_tensors);
        cJSON_AddNumberToObject(sc, "tensors_scan_only", v->tensors_scan_only);
        cJSON_AddNumberToObject(sc, "tensors_read_by_forward", v->tensors_skipped);
        cJSON_AddNumberToObject(sc, "bytes_in_stream", (double)v->bytes_in_stream);
        cJSON_AddNumberToObject(sc, "bytes_scan_only", (double)v->bytes_scan_only);
        cJSON_AddNumberToObject(sc, "values_tested", (double)v->values);
        cJSON_AddNumberToObject(sc, "problems", v->problems);
        cJSON_AddNumberToObject(sc, "test_seconds", v->test_seconds);
        cJSON_AddNumberToObject(sc, "scan_only_seconds", v->scan_only_seconds);
        cJSON_AddNumberToObject(sc, "drain_seconds", v->drain_seconds);
        cJSON_AddNumberToObject(sc, "drain_threads", v->drain_threads);
        /* the whole read of this checkpoint: each stored byte once (plus the few KB
         * the pass reads directly: norms, router biases, embedding rows) */
        cJSON *rd = cJSON_AddObjectToObject(o, "read");
        double bytes = (double)(s->fs.bytes_read + v->bytes_scan_only);
        double secs = s->vs.seconds + s->fs.seconds + v->drain_seconds;
        cJSON_AddNumberToObject(rd, "bytes", bytes);
        cJSON_AddNumberToObject(rd, "seconds", secs);
        cJSON_AddNumberToObject(rd, "gb_per_s", secs > 0 ? bytes / secs / 1e9 : 0);
    }
    return o;
}

static cJSON *compare_json(const ds_vr_report *r) {
    const ds_vc_result *c = r->cmp;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "bit_identical", c->identical);
    cJSON_AddNumberToObject(o, "values_differing", (double)c->values_differing);
    cJSON_AddNumberToObject(o, "max_abs_diff", c->max_abs);
    cJSON_AddNumberToObject(o, "worst_rel_l2", c->worst_rel_l2);
    cJSON_AddNumberToObject(o, "mean_rel_l2", c->mean_rel_l2);
    cJSON_AddNumberToObject(o, "min_cosine", c->min_cosine);
    cJSON_AddNumberToObject(o, "mean_kl", c->mean_kl);
    cJSON_AddNumberToObject(o, "max_kl", c->max_kl);
    cJSON_AddNumberToObject(o, "top1_agreement", c->top1_rate);
    cJSON_AddNumberToObject(o, "mean_top5_overlap", c->mean_top5);
    cJSON *arr = cJSON_AddArrayToObject(o, "positions");
    int64_t i = 0;
    for (int s = 0; r->tk && s < r->tk->n_seq; s++)
        for (int p = 0; p < r->tk->len[s] && i < c->n_pos; p++, i++) {
            const ds_vc_pos *q = &c->pos[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "sequence", s);
            cJSON_AddNumberToObject(e, "position", p);
            cJSON_AddNumberToObject(e, "token", r->tk->tok[i]);
            cJSON_AddBoolToObject(e, "bit_identical", q->identical);
            cJSON_AddNumberToObject(e, "max_abs_diff", q->max_abs);
            cJSON_AddNumberToObject(e, "rel_l2", q->rel_l2);
            cJSON_AddNumberToObject(e, "cosine", q->cosine);
            cJSON_AddNumberToObject(e, "kl", q->kl);
            cJSON_AddNumberToObject(e, "top1_ref", q->top1_ref);
            cJSON_AddNumberToObject(e, "top1_ckpt", q->top1_ckpt);
            cJSON_AddNumberToObject(e, "top5_overlap", q->top5);
            cJSON_AddItemToArray(arr, e);
        }
    return o;
}

int ds_vr_write_json(const ds_vr_report *r, const char *path) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "checkpoint", side_json(&r->ckpt));
    if (r->has_ref && r->ref_is_file) {
        cJSON *ref = cJSON_AddObjectToObject(o, "reference");
        cJSON_AddStringToObject(ref, "logits_file", r->ref.path);
    } else if (r->has_ref) {
        cJSON_AddItemToObject(o, "reference", side_json(&r->ref));
    }
    cJSON_AddStringToObject(o, "device", r->device);
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)ds_peak_rss());
    if (r->tk) {
        cJSON *t = cJSON_AddObjectToObject(o, "tokens");
        cJSON_AddStringToObject(t, "source", r->tokens_source);
        cJSON_AddNumberToObject(t, "sequences", r->tk->n_seq);
        cJSON_AddNumberToObject(t, "positions", (double)r->tk->total);
    }
    if (r->has_ref) {
        cJSON_AddStringToObject(o, "expect", ds_vr_expect_name(r->expect));
        if (r->expect == DS_VR_EXPECT_CLOSE) {
            cJSON *th = cJSON_AddObjectToObject(o, "thresholds");
            if (r->max_kl >= 0) cJSON_AddNumberToObject(th, "max_mean_kl", r->max_kl);
            if (r->min_top1 >= 0) cJSON_AddNumberToObject(th, "min_top1_agreement", r->min_top1);
            if (r->max_rel_l2 >= 0) cJSON_AddNumberToObject(th, "max_worst_rel_l2", r->max_rel_l2);
        }
    }
    if (r->cmp) cJSON_AddItemToObject(o, "comparison", compare_json(r));
    cJSON_AddStringToObject(o, "verdict", r->verdict);
    if (r->reason) cJSON_AddStringToObject(o, "reason", r->reason);
    cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
    int rc = ds_write_json_atomic(path, o);
    cJSON_Delete(o);
    return rc;
}
