/* test_verify_model.c - the verify forward pass on the dev-tiny fixture against
 * transformers' float64 logits, the weight sources (row reads, compressed-tensors
 * INT4/INT8 built here by hand), the comparison metrics and the token reader. */
#include "tests/unit/test.h"
#include "common/util.h"
#include "formats/dtype.h"
#include "formats/safetensors.h"
#include "verify/compare.h"
#include "verify/forward.h"
#include "verify/structure.h"
#include "verify/tokens.h"
#include "verify/ws_source.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TINY DS_TEST_DATA "/dev-tiny"

static int tiny_tokens(ds_vf_tokens *t) { return ds_vf_tokens_load(TINY "/expected.json", t); }

static float *run(ds_ws_source *ws, const ds_vf_tokens *t) {
    ds_vf_backend be;
    ds_vf_backend_open(&be, 0);
    float *lg = malloc(sizeof(float) * (size_t)(t->total * ds_ws_config(ws)->vocab_size));
    ds_vf_stats st = {0};
    int rc = ds_vf_forward(ws, &be, t, lg, &st);
    ds_vf_backend_close(&be);
    if (rc) { free(lg); return NULL; }
    return lg;
}

TEST(forward_matches_transformers_fp64) {
    ds_ws_source *ws;
    ds_vf_tokens t;
    CHECK_EQ_INT(ds_ws_open(TINY "/input", &ws), 0);
    CHECK_EQ_INT(tiny_tokens(&t), 0);
    if (!ws || !t.total) return;
    CHECK_EQ_INT(t.n_seq, 3);
    CHECK_EQ_INT(t.total, 48);
    int64_t V = ds_ws_config(ws)->vocab_size;
    float *lg = run(ws, &t), *ref = malloc(sizeof(float) * (size_t)(48 * V));
    CHECK(lg != NULL);
    FILE *f = fopen(TINY "/logits-hf-fp64-cpu-all.f32", "rb");
    CHECK(f && fread(ref, sizeof(float), (size_t)(48 * V), f) == (size_t)(48 * V));
    if (f) fclose(f);
    double worst = 0;
    for (int64_t p = 0; lg && p < 48; p++) {
        ds_vc_pos m;
        ds_vc_position(lg + p * V, ref + p * V, V, &m);
        if (m.rel_l2 > worst) worst = m.rel_l2;
        CHECKF(m.top1_ckpt == m.top1_ref, "position %lld: top-1 %d vs %d", (long long)p, m.top1_ckpt, m.top1_ref);
    }
    printf("  dev-tiny FP8, 48 positions: worst relative L2 vs float64 = %.3g\n", worst);
    CHECKF(worst < 1e-4, "worst relative L2 %g", worst);
    free(lg);
    free(ref);
    ds_vf_tokens_free(&t);
    ds_ws_close(ws);
}

TEST(row_reads_match_whole_reads) {
    ds_ws_source *ws;
    CHECK_EQ_INT(ds_ws_open(TINY "/input", &ws), 0);
    if (!ws) return;
    /* 160 rows: a partial 128-row scale block, read across the block edge */
    const char *n = "model.layers.0.self_attn.kv_a_proj_with_mqa.weight";
    ds_ws_tinfo ti;
    CHECK_EQ_INT(ds_ws_info(ws, n, &ti), 0);
    CHECK(ti.kind == DS_WQ_FP8 && ti.rows == 160 && ti.cols == 256);
    float *all, part[40 * 256];
    CHECK_EQ_INT(ds_ws_load(ws, n, 160, 256, &all), 0);
    CHECK_EQ_INT(ds_ws_read_rows(ws, n, 110, 40, part), 0);
    CHECK(all && memcmp(part, all + 110 * 256, sizeof part) == 0);
    /* FP8 values are bf16-exact (the fp8-to-bf16 rounding) */
    int exact = 1;
    for (int i = 0; all && i < 160 * 256; i++) exact &= ds_bf16_to_f32(ds_f32_to_bf16(all[i])) == all[i];
    CHECK(exact);
    free(all);
    CHECK(ds_ws_load(ws, n, 161, 256, &all) == DS_EXIT_INPUT && all == NULL); /* wrong shape is named */
    CHECK(!ds_ws_has(ws, "model.layers.0.no_such.weight"));
    ds_ws_close(ws);
}

/* ---- a compressed-tensors checkpoint built by hand from dev-tiny ---- */

typedef struct {
    ds_tensor_desc *d;
    void **data;
    int n, cap;
} tlist;

static void add(tlist *l, const char *name, ds_dtype dt, int ndim, int64_t a, int64_t b, void *data) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->d = realloc(l->d, sizeof(ds_tensor_desc) * (size_t)l->cap);
        l->data = realloc(l->data, sizeof(void *) * (size_t)l->cap);
    }
    ds_tensor_desc *d = &l->d[l->n];
    memset(d, 0, sizeof *d);
    d->name = strdup(name);
    d->dtype = dt;
    d->ndim = ndim;
    d->shape[0] = a;
    d->shape[1] = b;
    l->data[l->n++] = data;
}

typedef struct {
    ds_ws_source *src;
    tlist *out;
    int bits;
    int64_t group;   /* 0: per channel */
    int n_quant;
    /* expected dequantized values of the zero-point tensors, checked after reading back */
    float *exp_plain_zp, *exp_packed_zp;
} ctx_ct;

static int is_linear(const char *name) {
    size_t l = strlen(name);
    return strncmp(name, "model.layers.", 13) == 0 && l > 12 && strcmp(name + l - 12, "_proj.weight") == 0;
}

/* zp_mode: 0 symmetric, 1 plain I8 zero point, 2 zero point packed along rows (I32). */
static float *quantize(tlist *out, const char *name, const float *w, int64_t R, int64_t C, int bits, int zp_mode,
                       int64_t G) {
    const int per = 32 / bits, qmax = (1 << (bits - 1)) - 1, off = 1 << (bits - 1);
    int64_t ng = C / G, pc = C / per;
    uint32_t *packed = calloc((size_t)(R * pc), 4);
    uint16_t *scale = malloc(sizeof(uint16_t) * (size_t)(R * ng));
    int8_t *zp8 = calloc((size_t)(R * ng), 1);
    uint32_t *zp32 = calloc((size_t)(((R + per - 1) / per) * ng), 4);
    float *deq = malloc(sizeof(float) * (size_t)(R * C));
    for (int64_t r = 0; r < R; r++)
        for (int64_t g = 0; g < ng; g++) {
            float mx = 0;
            for (int64_t c = g * G; c < (g + 1) * G; c++) mx = fmaxf(mx, fabsf(w[r * C + c]));
            uint16_t sb = ds_f32_to_bf16(mx > 0 ? mx / qmax : 1.0f);
            float s = ds_bf16_to_f32(sb);
            scale[r * ng + g] = sb;
            int zp = zp_mode ? (int)((r + g) % 3) - 1 : 0;
            if (zp_mode == 1) zp8[r * ng + g] = (int8_t)zp;
            if (zp_mode == 2) zp32[(r / per) * ng + g] |= (uint32_t)(zp + off) << (bits * (r % per));
            for (int64_t c = g * G; c < (g + 1) * G; c++) {
                int q = (int)lrintf(w[r * C + c] / s) + zp;
                q = q < -off ? -off : q > qmax ? qmax : q;
                packed[r * pc + c / per] |= (uint32_t)(q + off) << (bits * (c % per));
                /* compressed-tensors dequantizes in the scale's dtype: the product rounded to bf16 */
                deq[r * C + c] = ds_bf16_to_f32(ds_f32_to_bf16((float)(q - zp) * s));
            }
        }
    char nm[300], base[256];
    snprintf(base, sizeof base, "%.*s", (int)(strlen(name) - 7), name);
    snprintf(nm, sizeof nm, "%s.weight_packed", base);
    add(out, nm, DS_I32, 2, R, pc, packed);
    snprintf(nm, sizeof nm, "%s.weight_scale", base);
    add(out, nm, DS_BF16, 2, R, ng, scale);
    int64_t *shape = malloc(16);
    shape[0] = R;
    shape[1] = C;
    snprintf(nm, sizeof nm, "%s.weight_shape", base);
    add(out, nm, DS_I64, 1, 2, 0, shape);
    snprintf(nm, sizeof nm, "%s.weight_zero_point", base);
    if (zp_mode == 1) add(out, nm, DS_I8, 2, R, ng, zp8);
    else free(zp8);
    if (zp_mode == 2) add(out, nm, DS_I32, 2, (R + per - 1) / per, ng, zp32);
    else free(zp32);
    return deq;
}

static void visit_ct(const char *name, int ndim, int64_t d0, int64_t d1, void *vp) {
    ctx_ct *x = vp;
    int64_t cols = ndim == 2 ? d1 : 1;
    float *w;
    if (ds_ws_load(x->src, name, d0, cols, &w)) return;
    if (is_linear(name)) {
        int zp_mode = strstr(name, "layers.0.self_attn.o_proj") ? 1 : strstr(name, "layers.0.self_attn.kv_b_proj") ? 2 : 0;
        float *deq = quantize(x->out, name, w, d0, cols, x->bits, zp_mode, x->group ? x->group : cols);
        if (zp_mode == 1) x->exp_plain_zp = deq;
        else if (zp_mode == 2) x->exp_packed_zp = deq;
        else free(deq);
        x->n_quant++;
    } else if (strstr(name, "e_score_correction_bias")) {
        float *c = malloc(sizeof(float) * (size_t)d0);
        memcpy(c, w, sizeof(float) * (size_t)d0);
        add(x->out, name, DS_F32, 1, d0, 0, c);
    } else {
        uint16_t *b = malloc(sizeof(uint16_t) * (size_t)(d0 * cols));
        for (int64_t i = 0; i < d0 * cols; i++) b[i] = ds_f32_to_bf16(w[i]);
        add(x->out, name, DS_BF16, ndim, d0, d1, b);
    }
    free(w);
}

/* Writes dir/model.safetensors + config.json; returns the expected zero-point tensors. */
static int write_ct(ds_ws_source *src, const char *dir, int bits, int64_t group, ctx_ct *x) {
    tlist l = {0};
    memset(x, 0, sizeof *x);
    x->src = src;
    x->out = &l;
    x->bits = bits;
    x->group = group;
    ds_vs_expected(ds_ws_config(src), visit_ct, x);
    char *p = ds_path_join(dir, "model.safetensors");
    ds_st_writer *w;
    int rc = ds_stw_open(&w, p, l.d, l.n);
    for (int i = 0; !rc && i < l.n; i++) rc = ds_stw_append(w, l.data[i], ds_stw_tensor_bytes(w, i));
    if (!rc) rc = ds_stw_commit(w);
    free(p);
    for (int i = 0; i < l.n; i++) { free((void *)l.d[i].name); free(l.data[i]); }
    free(l.d);
    free(l.data);
    /* config: dev-tiny's, with a compressed-tensors quantization_config */
    char *cfg;
    if (!rc) rc = ds_read_file(TINY "/input/config.json", &cfg, NULL);
    if (!rc) {
        char *q = strstr(cfg, "\"quantization_config\"");
        char *end = q ? strchr(q, '}') : NULL;
        if (!q || !end) rc = 1;
        else {
            char out[4096];
            snprintf(out, sizeof out, "%.*s\"quantization_config\": {\"quant_method\": \"compressed-tensors\", "
                     "\"format\": \"pack-quantized\"}%s", (int)(q - cfg), cfg, end + 1);
            char *cp = ds_path_join(dir, "config.json");
            rc = ds_write_file_atomic(cp, out, strlen(out));
            free(cp);
        }
        free(cfg);
    }
    return rc;
}

static void remove_dir(const char *dir) {
    const char *files[] = {"model.safetensors", "config.json"};
    for (int i = 0; i < 2; i++) {
        char *p = ds_path_join(dir, files[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

static void check_ct(test_ctx *t_, int bits, int64_t group, double max_kl, double min_top1) {
    ds_ws_source *src, *ct = NULL;
    ds_vf_tokens tk;
    CHECK_EQ_INT(ds_ws_open(TINY "/input", &src), 0);
    CHECK_EQ_INT(tiny_tokens(&tk), 0);
    char dir[] = "/tmp/test_verify_ct_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ctx_ct x;
    CHECK_EQ_INT(write_ct(src, dir, bits, group, &x), 0);
    CHECK_EQ_INT(ds_ws_open(dir, &ct), 0);
    if (!ct) { remove_dir(dir); return; }
    CHECK_EQ_INT(ds_ws_int_bits(ct), bits);
    CHECK_STR_CONTAINS(ds_ws_describe(ct), bits == 4 ? "int4" : "int8");
    ds_ws_tinfo ti;
    CHECK_EQ_INT(ds_ws_info(ct, "model.layers.1.mlp.experts.3.down_proj.weight", &ti), 0);
    CHECK(ti.kind == DS_WQ_INT && ti.bits == bits && ti.rows == 256 && ti.cols == 256);
    /* the reader's (q - zp) * scale equals the values the quantizer meant, bit for bit */
    float *w;
    CHECK_EQ_INT(ds_ws_load(ct, "model.layers.0.self_attn.o_proj.weight", 256, 256, &w), 0);
    CHECK(w && x.exp_plain_zp && memcmp(w, x.exp_plain_zp, sizeof(float) * 256 * 256) == 0);
    free(w);
    CHECK_EQ_INT(ds_ws_load(ct, "model.layers.0.self_attn.kv_b_proj.weight", 512, 128, &w), 0);
    CHECK(w && x.exp_packed_zp && memcmp(w, x.exp_packed_zp, sizeof(float) * 512 * 128) == 0);
    free(w);
    free(x.exp_plain_zp);
    free(x.exp_packed_zp);
    ds_vs_stats st;
    CHECK_EQ_INT(ds_vs_check(ct, 1, &st), 0);
    /* its logits stay close to the FP8 original's: the verdict thresholds hold */
    float *a = run(ct, &tk), *b = run(src, &tk);
    CHECK(a && b);
    if (a && b) {
        ds_vc_result r;
        ds_vc_compare(a, b, tk.total, ds_ws_config(src)->vocab_size, &r);
        printf("  INT%d (group %lld) vs FP8 on dev-tiny: mean KL %.3g, top-1 %.1f%%, worst rel L2 %.3g\n", bits,
               (long long)group, r.mean_kl, 100 * r.top1_rate, r.worst_rel_l2);
        CHECK(r.finite && !r.identical);
        CHECKF(r.mean_kl <= max_kl && r.top1_rate >= min_top1, "KL %g top-1 %g", r.mean_kl, r.top1_rate);
        ds_vc_free(&r);
    }
    free(a);
    free(b);
    ds_vf_tokens_free(&tk);
    ds_ws_close(ct);
    ds_ws_close(src);
    remove_dir(dir);
}

/* Thresholds: cmd/verify.c's defaults (INT8 mean KL <= 0.05, top-1 >= 80%; INT4 0.25, 50%), except INT4
 * group 128, which on dev-tiny's near-uniform random-weight logits (entropy 6.6 of 6.9 nats, and FP8 block
 * scales that vary within a row) agrees on top-1 only ~19%: there only the KL bound, below the ~0.6 that
 * logits of unrelated positions give. */
TEST(compressed_tensors_int8) { check_ct(t_, 8, 0, 0.05, 0.80); }
TEST(compressed_tensors_int4) { check_ct(t_, 4, 128, 0.25, 0.0); }
TEST(compressed_tensors_int4_g32) { check_ct(t_, 4, 32, 0.25, 0.50); }

TEST(compare_metrics_by_hand) {
    float ref[6] = {1, 2, 3, 0, -1, 0.5f}, a[6] = {1, 2, 2.5f, -2, -1, 0.5f};
    ds_vc_pos p;
    ds_vc_position(a, ref, 6, &p);
    double d2 = 0.25 + 4, r2 = 1 + 4 + 9 + 1 + 0.25;
    CHECK(fabs(p.rel_l2 - sqrt(d2 / r2)) < 1e-6);
    CHECK(fabs(p.max_abs - 2) < 1e-7);
    double dot = 1 + 4 + 7.5 + 1 + 0.25, a2 = 1 + 4 + 6.25 + 4 + 1 + 0.25;
    CHECK(fabs(p.cosine - dot / sqrt(a2 * r2)) < 1e-9);
    double zr = 0, za = 0, kl = 0;
    for (int i = 0; i < 6; i++) { zr += exp(ref[i]); za += exp(a[i]); }
    for (int i = 0; i < 6; i++) {
        double pr = exp(ref[i]) / zr, pa = exp(a[i]) / za;
        kl += pr * log(pr / pa);
    }
    CHECK(fabs(p.kl - kl) < 1e-12);
    CHECK_EQ_INT(p.top1_ref, 2);
    CHECK_EQ_INT(p.top1_ckpt, 2);
    CHECK(fabs(p.top5 - 0.8) < 1e-12); /* top-5: ref {2,1,0,5,3}, a {2,1,0,5,4} */
    CHECK(!p.identical);
    ds_vc_position(ref, ref, 6, &p);
    CHECK(p.identical && p.kl == 0 && p.rel_l2 == 0 && p.top5 == 1.0);
    ds_vc_result r;
    float two[12];
    memcpy(two, ref, sizeof ref);
    memcpy(two + 6, a, sizeof a);
    float two_ref[12];
    memcpy(two_ref, ref, sizeof ref);
    memcpy(two_ref + 6, ref, sizeof ref);
    ds_vc_compare(two, two_ref, 2, 6, &r);
    CHECK(!r.identical && r.values_differing == 2 && r.top1_rate == 1.0 && r.finite);
    ds_vc_free(&r);
    two[0] = NAN;
    ds_vc_compare(two, two_ref, 2, 6, &r);
    CHECK(!r.finite);
    ds_vc_free(&r);
}

TEST(tokens_json_and_probe) {
    ds_vf_tokens t;
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "[[1,2,3],[4]]", &t), 0);
    CHECK(t.n_seq == 2 && t.total == 4 && t.len[0] == 3 && t.len[1] == 1 && t.tok[3] == 4);
    ds_vf_tokens_free(&t);
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "{\"tokens\": [[7, 8]]}", &t), 0);
    CHECK(t.total == 2 && t.tok[1] == 8);
    ds_vf_tokens_free(&t);
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "[[1, 2.5]]", &t), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "[[1], []]", &t), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "[1, 2]", &t), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "[[-1]]", &t), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "nope", &t), DS_EXIT_INPUT);
    /* strict like every JSON dsconv reads: Python would take the last "tokens", cJSON the first */
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "{\"tokens\": [[1]], \"tokens\": [[2]]}", &t), DS_EXIT_INPUT);
    CHECK_EQ_INT(ds_vf_tokens_parse("x.json", "[[1]] [[2]]", &t), DS_EXIT_INPUT);
    ds_vf_tokens a, b;
    ds_vf_tokens_probe(129280, &a);
    ds_vf_tokens_probe(129280, &b);
    CHECK(a.n_seq >= 3 && a.total >= 3 * 32 && a.total == b.total);
    CHECK(memcmp(a.tok, b.tok, sizeof(int32_t) * (size_t)a.total) == 0); /* deterministic */
    int32_t lo = a.tok[0], hi = a.tok[0];
    int in_range = 1;
    for (int64_t i = 0; i < a.total; i++) {
        in_range &= a.tok[i] >= 0 && a.tok[i] < 129280;
        lo = a.tok[i] < lo ? a.tok[i] : lo;
        hi = a.tok[i] > hi ? a.tok[i] : hi;
    }
    CHECK(in_range && lo < 129280 / 16 && hi > 129280 - 129280 / 16); /* spread over the vocabulary */
    ds_vf_tokens_free(&a);
    ds_vf_tokens_free(&b);
}

static void count(const char *n, int nd, int64_t a, int64_t b, void *c) {
    (void)n; (void)nd; (void)a; (void)b;
    (*(int *)c)++;
}

TEST(expected_tensor_list) {
    ds_ws_source *ws;
    CHECK_EQ_INT(ds_ws_open(TINY "/input", &ws), 0);
    if (!ws) return;
    int n = 0;
    ds_vs_expected(ds_ws_config(ws), count, &n);
    /* embed, norm, head; layer 0: 2 norms + 7 attention + 3 MLP; layer 1: 2 + 7 + gate, bias, 8x3 experts, 3 shared */
    CHECK_EQ_INT(n, 3 + (2 + 7 + 3) + (2 + 7 + 2 + 24 + 3));
    ds_vs_stats st;
    CHECK_EQ_INT(ds_vs_check(ws, 1, &st), 0);
    CHECK_EQ_INT(st.tensors, n);
    CHECK(st.values > 3000000 && st.problems == 0);
    ds_ws_close(ws);
}

TESTS_MAIN(T(forward_matches_transformers_fp64), T(row_reads_match_whole_reads), T(compressed_tensors_int8),
           T(compressed_tensors_int4), T(compressed_tensors_int4_g32), T(compare_metrics_by_hand), T(tokens_json_and_probe), T(expected_tensor_list))
