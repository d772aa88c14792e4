/* verify.c - dsconv verify CKPT [--against REF] [--tokens FILE] [--dump-logits FILE]
 *            [--json REPORT] [--device D] ...
 * Structural checks of what costs no weight bytes (shapes, storage, scales),
 * then the built-in DeepSeek-V3 forward pass (verify/), whose readers also
 * test every stored value of the checkpoint, the tensors the pass does not
 * use included (verify/ws_scan.h: each checkpoint is read once), then, with
 * --against, the comparison and its verdict. */
#include "cmd/cmd.h"
#include "cmd/parse_options.h"
#include "common/util.h"
#include "verify/compare.h"
#include "verify/forward.h"
#include "verify/manifest_hook.h"
#include "verify/report.h"
#include "verify/structure.h"
#include "verify/tokens.h"
#include "verify/verdict.h"
#include "verify/ws_scan.h"
#include "verify/ws_source.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage =
    "usage: dsconv verify CKPT [--against REF] [--tokens FILE] [--dump-logits FILE]\n"
    "                     [--json REPORT] [--device auto|cpu|cuda] [options]\n\n"
    "Check a checkpoint with a built-in DeepSeek-V3 forward pass (float32, weights\n"
    "streamed one at a time; routed experts read only when routed to).\n"
    "CKPT and REF: an HF checkpoint (FP8, BF16, compressed-tensors INT8/INT4) or a\n"
    "directory of shard-for-mp rank files.\n\n"
    "Without --against: structural checks (config, every tensor present with the\n"
    "right shape, readable storage, scales finite and positive, every stored value\n"
    "finite: tested as the pass's readers read it, unrouted experts and MTP layers\n"
    "too, so each checkpoint is read once) and a forward pass with finite logits.\n"
    "With --against: both forward passes on the same tokens and per-position\n"
    "max|diff|, relative L2, cosine, KL(ref||ckpt), top-1 agreement, top-5 overlap.\n\n"
    ;

static const char *epilog =
    "\n"
    "Families (config.json model_type): deepseek_v3 (V3, R1, V3.1, Terminus, Moonlight),\n"
    "deepseek_v32 (V3.2), kimi_k2; any other model_type is refused (exit 3). Tensors of\n"
    "MTP layers are known but not run; the report counts them.\n\n"
    "exit: 0 pass, 1 mismatch (or non-finite logits), 2 usage, 3 structural failure\n"
    "(the message names the file and tensor), 4 I/O error.\n\n"
    "example:\n"
    "  dsconv fp8-to-bf16 /models/V3 /models/V3-bf16\n"
    "  dsconv verify /models/V3-bf16 --against /models/V3 --json report.json\n";

typedef struct {
    const char *ckpt, *against, *against_logits, *tokens, *dump, *json, *manifest;
    int expect;                  /* DS_VR_EXPECT_AUTO, or a ds_vr_expect */
    double max_kl, min_top1, max_rel_l2;   /* < 0: default */
    ds_device_req device;
    long threads, io_threads;
    int progress, profile;
    int allow_unknown;   /* tensors the model schema does not know are listed, not refused */
} vopts;

static int parse_args(int argc, char **argv, vopts *o, int *help_only) {
    static const ds_opt_choice expects[] = {
        {"auto", DS_VR_EXPECT_AUTO}, {"identical", DS_VR_EXPECT_IDENTICAL}, {"close", DS_VR_EXPECT_CLOSE}, {NULL, 0}};
    memset(o, 0, sizeof *o);
    o->expect = DS_VR_EXPECT_AUTO;
    o->max_kl = o->min_top1 = o->max_rel_l2 = -1;
    *help_only = 0;
    const ds_option opts[] = {
        DS_OPT_STRING_("against", 0, &o->against, "REF", "compare the logits with REF's"),
        DS_OPT_STRING_("against-logits", 0, &o->against_logits, "F",
                       "compare with logits from a file (float32 [positions, vocab], as\n"
                       "--dump-logits writes; e.g. from transformers); default verdict:\n"
                       "worst relative L2 <= 1e-4"),
        DS_OPT_STRING_("tokens", 0, &o->tokens, "FILE",
                       "JSON array of token-id arrays (or {\"tokens\": [...]});\n"
                       "default: a built-in probe set (4 sequences of 32 tokens)"),
        DS_OPT_STRING_("dump-logits", 0, &o->dump, "FILE",
                       "CKPT's logits, float32 little-endian [sequences, positions, vocab]"),
        DS_OPT_STRING_("json", 0, &o->json, "REPORT", "everything measured, as JSON"),
        DS_OPT_ENUM_("expect", &o->expect, "auto|identical|close", expects,
                     "auto (default): identical unless a side is INT8/INT4-quantized;\n"
                     "identical: logits must be bit-identical (FP8<->BF16, resharding,\n"
                     "strip-mtp); close: thresholds on KL and top-1 agreement"),
        DS_OPT_DOUBLE_("max-kl", &o->max_kl, "X", 0, 1e9,
                       "close: largest mean KL(ref||ckpt) (default 0.05 INT8, 0.25 INT4)"),
        DS_OPT_DOUBLE_("min-top1", &o->min_top1, "X", 0, 1,
                       "close: smallest top-1 agreement, 0..1 (default 0.8 INT8, 0.5 INT4)"),
        DS_OPT_DOUBLE_("max-rel-l2", &o->max_rel_l2, "X", 0, 1e9,
                       "close: largest per-position relative L2 (default: not checked,\n"
                       "1e-4 with --against-logits)"),
        DS_OPT_DEVICE_(&o->device, "where the GEMMs run (default auto)"),
        DS_OPT_THREADS_(&o->threads, "CPU threads (default: all cores; cuda: those the I/O threads leave)"),
        DS_OPT_INT_("io-threads", &o->io_threads, "N", 1, 64,
                    "threads reading weights ahead of the forward pass (default: cuda\n"
                    "a quarter of the cores, 2 to 8; cpu 1)"),
        DS_OPT_FLAG_("profile", 0, &o->profile,
                     "time the forward pass's phases (reads, waits, decode, GEMMs) on stderr"),
        DS_OPT_STRING_("manifest", 0, &o->manifest, "FILE",
                       "check CKPT's bytes against a manifest (dsconv manifest, or --manifest of a\n"
                       "writing command); exit 1 naming what differs. Alone, that is the whole check"),
        DS_OPT_FLAG_("progress", 0, &o->progress, "one line per layer on stderr"),
        DS_OPT_FLAG_("allow-unknown", 0, &o->allow_unknown,
                     "accept tensors the model schema does not know (listed in the report);\n"
                     "without it they are refused (exit 3): verify would not check them"),
        DS_OPT_END_()};
    const ds_opt_doc doc = {usage, epilog, NULL, NULL, 0};
    int i, rc = ds_parse_options(argc, argv, opts, &doc, &i);
    if (rc == DS_OPT_HELP_SHOWN) { *help_only = 1; return 0; }
    if (rc) return rc;
    if (i != argc - 1) {
        ds_opt_print_help(stderr, opts, &doc);
        return ds_fail(DS_EXIT_USAGE, "verify takes exactly one checkpoint (got %d)", argc - i);
    }
    o->ckpt = argv[i];
    if (o->against && o->against_logits) return ds_fail(DS_EXIT_USAGE, "--against and --against-logits exclude each other");
    if (!o->against && !o->against_logits &&
        (o->max_kl >= 0 || o->min_top1 >= 0 || o->max_rel_l2 >= 0 || o->expect != DS_VR_EXPECT_AUTO))
        return ds_fail(DS_EXIT_USAGE, "--expect, --max-kl, --min-top1 and --max-rel-l2 need --against or --against-logits");
    return 0;
}

/* Opens one side and runs its structural checks that read no weight bytes;
 * *sc: its scan list, for the forward pass to test the values with. */
static int open_side(const char *path, ds_vr_side *s, ds_ws_source **ws, ds_ws_scan **sc) {
    s->path = path;
    if ((s->open_rc = ds_ws_open(path, ws))) return s->open_rc;
    s->format = ds_ws_describe(*ws);
    s->ran_structure = 1;
    if ((s->structure_rc = ds_vs_check(*ws, 0, &s->vs))) return s->structure_rc;
    double t0 = ds_now();
    s->structure_rc = ds_ws_scan_open(*ws, sc);
    s->vs.seconds += ds_now() - t0;
    if (s->structure_rc) s->vs.problems++;
    return s->structure_rc;
}

/* The model schema's census of one opened side: tensors it does not know
 * (refused unless allow_unknown) and known ones the forward pass does not run. */
static int census_side(ds_ws_source *ws, ds_vr_side *s, int allow_unknown) {
    if (!ws) return 0;
    if ((s->structure_rc = ds_vs_census(s->path, ds_ws_config(ws), allow_unknown, &s->vs))) s->vs.problems++;
    return s->structure_rc;
}

/* Forward pass of one side with its value scan; *logits malloc'd [total][vocab].
 * A problem the scan found makes it a structural failure, whatever the logits. */
static int run_side(ds_ws_source *ws, ds_ws_scan *sc, ds_vf_backend *be, const ds_vf_tokens *tk, int progress, ds_vr_side *s,
                    float **logits) {
    int64_t V = ds_ws_config(ws)->vocab_size;
    *logits = xaligned((size_t)(tk->total * V > 0 ? tk->total * V : 1) * sizeof(float));
    s->ran_forward = 1;
    s->fs.verbose = progress;
    ds_vf_backend_set_scan(be, sc);
    s->forward_rc = ds_vf_forward(ws, be, tk, *logits, &s->fs); /* returns once the scan has finished too */
    ds_vf_backend_set_scan(be, NULL);
    s->ran_scan = 1;
    ds_ws_scan_stats_get(sc, &s->scan);
    s->vs.values = s->scan.values;
    s->vs.problems += s->scan.problems;
    if (be->profile) {
        const ds_ws_scan_stats *v = &s->scan;
        fprintf(stderr, "verify: profile: scan: %.3f GB tested as the pass read them, %.3f GB scan-only (%d tensors, "
                "%d of MTP layers); value tests %.3f s, scan-only jobs %.3f s (CPU, all threads); after the pass "
                "%.3f s (the readers and %d more)\n", (double)v->bytes_in_stream / 1e9, (double)v->bytes_scan_only / 1e9,
                v->tensors_scan_only, v->mtp_tensors, v->test_seconds, v->scan_only_seconds, v->drain_seconds,
                v->drain_threads);
    }
    if ((s->structure_rc = ds_ws_scan_result(sc))) return s->structure_rc;
    if (!s->forward_rc) s->finite = ds_vc_all_finite(*logits, tk->total * V);
    return s->forward_rc;
}

static int write_logits(const char *path, const float *x, int64_t n) {
    return ds_write_file_atomic(path, x, (size_t)n * sizeof(float));
}

/* Reads a reference logits file that must hold exactly n floats. */
static int read_logits(const char *path, int64_t n, float **out) {
    char *buf;
    size_t len;
    DS_TRY(ds_read_file(path, &buf, &len));
    if (len != (size_t)n * sizeof(float)) {
        free(buf);
        return ds_fail(DS_EXIT_INPUT, "%s: %zu bytes, expected %lld float32 logits (%lld bytes) for these tokens",
                       path, len, (long long)n, (long long)n * 4);
    }
    *out = xaligned((size_t)(n > 0 ? n : 1) * sizeof(float));
    memcpy(*out, buf, len);
    free(buf);
    return 0;
}

int cmd_verify(int argc, char **argv) {
    vopts o;
    int help_only;
    DS_TRY(parse_args(argc, argv, &o, &help_only));
    if (help_only) return 0;
    if (o.manifest) {
        /* Bytes first; alone (no comparison or dump asked for) that is the whole check. */
        DS_TRY(ds_verify_manifest_check(o.ckpt, o.manifest));
        if (!o.against && !o.against_logits && !o.dump && !o.json) return 0;
    }
    int use_cuda = 0;
    DS_TRY(ds_resolve_device(o.device, &use_cuda));
    long threads = o.threads;
    if (!threads && use_cuda) { /* the CPU blocks get the cores the weight readers leave */
        long nc = sysconf(_SC_NPROCESSORS_ONLN), io = o.io_threads ? o.io_threads : ds_ws_stream_default_readers(1);
        threads = nc - io > 2 ? nc - io : 2;
    }
    ds_set_threads((int)threads);

    ds_vr_report r = {0};
    r.has_ref = o.against || o.against_logits;
    r.ref_is_file = o.against_logits != NULL;
    r.device = use_cuda ? "cuda" : "cpu";
    r.expect = DS_VR_EXPECT_IDENTICAL;
    r.verdict = "error";
    ds_ws_source *ws = NULL, *wr = NULL;
    ds_ws_scan *sa = NULL, *sb = NULL;
    ds_vf_tokens tk = {0};
    ds_vf_backend be = {0};
    ds_vc_result cmp = {0};
    float *la = NULL, *lb = NULL;
    char why[320];

    int rc = open_side(o.ckpt, &r.ckpt, &ws, &sa), rc_ref = 0;
    if (o.against) rc_ref = open_side(o.against, &r.ref, &wr, &sb);
    if (o.against_logits) r.ref.path = o.against_logits;
    if ((r.exit_code = rc ? rc : rc_ref)) goto report;

    if ((r.exit_code = census_side(ws, &r.ckpt, o.allow_unknown)) ||
        (r.exit_code = census_side(wr, &r.ref, o.allow_unknown)))
        goto report;
    const ds_config *c = ds_ws_config(ws);
    int64_t V = c->vocab_size;
    if (wr && ds_ws_config(wr)->vocab_size != V) {
        r.exit_code = ds_fail(DS_EXIT_INPUT, "%s has a vocabulary of %lld, %s of %d: the logits cannot be compared",
                              o.ckpt, (long long)V, o.against, ds_ws_config(wr)->vocab_size);
        goto report;
    }
    if (o.tokens) {
        if ((r.exit_code = ds_vf_tokens_load(o.tokens, &tk))) goto report;
        r.tokens_source = o.tokens;
    } else {
        ds_vf_tokens_probe((int)V, &tk);
        r.tokens_source = "built-in probe set";
    }
    r.tk = &tk;
    ds_vf_backend_opts bo = {.io_threads = (int)o.io_threads, .profile = o.profile};
    if ((r.exit_code = ds_vf_backend_open_opts(&be, use_cuda, &bo))) goto report;
    if ((r.exit_code = run_side(ws, sa, &be, &tk, o.progress, &r.ckpt, &la))) goto report;
    if (o.dump && (r.exit_code = write_logits(o.dump, la, tk.total * V))) goto report;
    if (!r.has_ref) {
        ds_vr_decide_alone(&r);
        goto report;
    }
    if (wr) {
        if ((r.exit_code = run_side(wr, sb, &be, &tk, o.progress, &r.ref, &lb))) goto report;
        ds_vr_set_rules(&r, o.expect, ds_vr_pair_int_bits(ds_ws_int_bits(ws), ds_ws_int_bits(wr)), 0, o.max_kl, o.min_top1,
                        o.max_rel_l2);
    } else {
        if ((r.exit_code = read_logits(o.against_logits, tk.total * V, &lb))) goto report;
        ds_vr_set_rules(&r, o.expect, 0, 1, o.max_kl, o.min_top1, o.max_rel_l2);
    }
    ds_vc_compare(la, lb, tk.total, V, &cmp);
    r.cmp = &cmp;
    ds_vr_decide(&r, &cmp, why, sizeof why);

report:
    if (r.ckpt.structure_rc || r.ref.structure_rc || r.ckpt.open_rc == DS_EXIT_INPUT || r.ref.open_rc == DS_EXIT_INPUT)
        r.verdict = "structural failure";
    else if (r.exit_code == DS_EXIT_INPUT) r.verdict = "invalid input";
    ds_vr_print(&r, stdout);
    if (o.json) {
        int jrc = ds_vr_write_json(&r, o.json);
        if (jrc && !r.exit_code) r.exit_code = jrc;
    }
    int code = r.exit_code;
    ds_vc_free(&cmp);
    free(la);
    free(lb);
    ds_vf_backend_close(&be);
    ds_vf_tokens_free(&tk);
    ds_ws_scan_close(sa);
    ds_ws_scan_close(sb);
    ds_ws_close(ws);
    ds_ws_close(wr);
    return code;
}
