/* test_verify_dsa.c - verify's forward pass on the v32-tiny fixture (DeepSeek
 * Sparse Attention) against transformers' float64 DeepseekV32 logits, the proof
 * that the fixture needs the indexer, the forward step list (every weight taken
 * from the read-ahead plan; the list is the model schema's forward linears) and
 * config.json bounds (a hostile config is exit 3). */
#include "tests/unit/test.h"
#include "tests/unit/test_fs.h"
#include "common/util.h"
#include "formats/config.h"
#include "formats/schema.h"
#include "verify/blocks.h"
#include "verify/compare.h"
#include "verify/dsa.h"
#include "verify/forward.h"
#include "verify/tokens.h"
#include "verify/ws_source.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define V32 DS_TEST_DATA "/v32-tiny"
#define TINY DS_TEST_DATA "/dev-tiny"
#define V32_TOPK 5

/* Logits of ckpt on tokens (NULL on failure); st and the stream's counters filled. */
static float *run(const char *ckpt, const ds_vf_tokens *t, ds_vf_stats *st, ds_ws_stream_prof *prof) {
    ds_ws_source *ws;
    if (ds_ws_open(ckpt, &ws)) return NULL;
    ds_vf_backend be;
    ds_vf_backend_open(&be, 0);
    float *lg = malloc(sizeof(float) * (size_t)(t->total * ds_ws_config(ws)->vocab_size));
    memset(st, 0, sizeof *st);
    int rc = ds_vf_forward(ws, &be, t, lg, st);
    if (prof) ds_ws_stream_prof_get(be.stream, prof);
    ds_vf_backend_close(&be);
    ds_ws_close(ws);
    if (rc) { free(lg); return NULL; }
    return lg;
}

static float *read_f32(const char *path, int64_t n) {
    float *r = malloc(sizeof(float) * (size_t)n);
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(r, sizeof(float), (size_t)n, f) : 0;
    if (f) fclose(f);
    if (got != (size_t)n) { free(r); return NULL; }
    return r;
}

/* Position p of the concatenated sequences: its index within its sequence. */
static int pos_in_seq(const ds_vf_tokens *t, int64_t p) {
    for (int s = 0; s < t->n_seq; p -= t->len[s], s++)
        if (p < t->len[s]) return (int)p;
    return -1;
}

static double rel_l2(const float *a, const float *b, int64_t V) {
    ds_vc_pos m;
    ds_vc_position(a, b, V, &m);
    return m.rel_l2;
}

TEST(v32_forward_matches_transformers_fp64) {
    ds_vf_tokens t;
    CHECK_EQ_INT(ds_vf_tokens_load(V32 "/tokens.json", &t), 0);
    CHECK_EQ_INT(t.total, 32);
    const int64_t V = 256;
    ds_vf_stats st;
    float *fp8 = run(V32 "/fp8", &t, &st, NULL), *bf16 = run(V32 "/bf16", &t, &st, NULL);
    float *ref = read_f32(V32 "/logits-hf-fp64-all.f32", t.total * V);
    CHECK(fp8 && bf16 && ref);
    double worst = 0;
    for (int64_t p = 0; fp8 && ref && p < t.total; p++) {
        double r = rel_l2(fp8 + p * V, ref + p * V, V);
        CHECKF(r < 1e-4, "position %lld: relative L2 %g", (long long)p, r);
        if (r > worst) worst = r;
    }
    printf("  v32-tiny FP8, 32 positions (index_topk 5): worst relative L2 vs transformers float64 = %.3g, "
           "smallest selection gap %.3g\n", worst, st.dsa_min_gap);
    /* make_v32_ref.py found 0.004 in float64 */
    CHECKF(st.dsa_min_gap > 3e-3 && st.dsa_min_gap < 5e-3, "gap %g", st.dsa_min_gap);
    /* the FP8 source gives its BF16 conversion's logits, bit for bit */
    CHECK(fp8 && bf16 && memcmp(fp8, bf16, sizeof(float) * (size_t)(t.total * V)) == 0);
    free(fp8); free(bf16); free(ref);
    ds_vf_tokens_free(&t);
}

/* bf16/ relabelled deepseek_v3: the same weights, the indexer ignored (dense
 * attention), as verify computed V3.2 before it knew DSA. */
static char *as_v3(void) {
    char *d = test_tmpdir("v32dense");
    if (!d) return NULL;
    static const char *files[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                  "model.safetensors.index.json"};
    char *cwd = getcwd(NULL, 0);
    for (int i = 0; i < 3; i++) {
        char src[1024], *dst = ds_path_join(d, files[i]);
        snprintf(src, sizeof src, "%s/%s/bf16/%s", cwd, V32, files[i]);
        if (symlink(src, dst)) { free(dst); free(cwd); test_rm_tree(d); free(d); return NULL; }
        free(dst);
    }
    free(cwd);
    char *cfg;
    if (ds_read_file(V32 "/bf16/config.json", &cfg, NULL)) { test_rm_tree(d); free(d); return NULL; }
    char *m = strstr(cfg, "\"deepseek_v32\"");
    if (m) memmove(m + 12, m + 13, strlen(m + 13) + 1); /* "deepseek_v32" -> "deepseek_v3" */
    char *dst = ds_path_join(d, "config.json");
    FILE *f = fopen(dst, "w");
    if (f) { fputs(cfg, f); fclose(f); }
    free(dst);
    free(cfg);
    return d;
}

TEST(v32_fixture_needs_the_indexer) {
    ds_vf_tokens t;
    CHECK_EQ_INT(ds_vf_tokens_load(V32 "/tokens.json", &t), 0);
    const int64_t V = 256;
    char *dir = as_v3();
    CHECK(dir != NULL);
    if (!dir) { ds_vf_tokens_free(&t); return; }
    ds_vf_stats st;
    float *dense = run(dir, &t, &st, NULL), *sparse = run(V32 "/fp8", &t, &st, NULL);
    float *ref = read_f32(V32 "/logits-hf-fp64-all.f32", t.total * V);
    float *dref = read_f32(V32 "/logits-dense-fp64-all.f32", t.total * V);
    CHECK(dense && sparse && ref && dref);
    double least = 1e9;
    for (int64_t p = 0; dense && sparse && ref && dref && p < t.total; p++) {
        /* the dense pass is what transformers computes with the selection off... */
        CHECKF(rel_l2(dense + p * V, dref + p * V, V) < 1e-4, "position %lld", (long long)p);
        double d = rel_l2(dense + p * V, ref + p * V, V);
        if (pos_in_seq(&t, p) >= V32_TOPK) {
            /* ...and it is far from the truth wherever the selection matters */
            CHECKF(d > 1e-2, "position %lld (index %d): dense vs sparse only %g", (long long)p, pos_in_seq(&t, p), d);
            if (d < least) least = d;
        } else {
            /* up to index_topk keys, sparse attention is dense attention, bit for bit */
            CHECKF(memcmp(dense + p * V, sparse + p * V, sizeof(float) * (size_t)V) == 0, "position %lld",
                   (long long)p);
        }
    }
    printf("  v32-tiny: ignoring the indexer moves every position >= index_topk by relative L2 >= %.3g\n", least);
    free(dense); free(sparse); free(ref); free(dref);
    test_rm_tree(dir);
    free(dir);
    ds_vf_tokens_free(&t);
}

/* Every weight is multiplied from the plan: as many taken as planned, all
 * through the read-ahead stream, none read directly. */
static void check_plan(test_ctx *t_, const char *ckpt, const char *tokens, int64_t want) {
    ds_vf_tokens t;
    CHECK_EQ_INT(ds_vf_tokens_load(tokens, &t), 0);
    ds_vf_stats st;
    ds_ws_stream_prof p;
    float *lg = run(ckpt, &t, &st, &p);
    CHECK(lg != NULL);
    printf("  %s: %lld weights planned, %lld taken from the stream, %lld read directly\n", ckpt,
           (long long)st.weights_planned, (long long)p.takes, (long long)p.direct_reads);
    CHECK_EQ_INT(st.weights_planned, want);
    CHECK_EQ_INT(st.weights_taken, st.weights_planned);
    CHECK_EQ_INT(p.takes, st.weights_planned);
    CHECK_EQ_INT(p.direct_reads, 0);
    free(lg);
    ds_vf_tokens_free(&t);
}

TEST(step_list_every_weight_from_the_plan) {
    /* dev-tiny: 9 + 3 + 3 x (experts hit) + 3 shared + 1 head chunk = 42 on its tokens */
    check_plan(t_, TINY "/input", TINY "/expected.json", 42);
    /* v32-tiny: 3 more steps per layer (wq_b, wk, weights_proj); 4 experts, all hit */
    check_plan(t_, V32 "/fp8", V32 "/tokens.json", 8 + 3 + 8 + 1 + 12 + 3 + 1);
}

static int check_json(const char *json) {
    ds_config c;
    int rc = ds_config_parse("hostile/config.json", json, &c);
    return rc ? rc : ds_vf_forward_check_config("hostile", &c);
}

TEST(hostile_config_is_exit_3) {
    CHECK_EQ_INT(check_json("{}"), 0); /* transformers' defaults: V3 671B */
    CHECK_EQ_INT(check_json("{\"model_type\": \"deepseek_v32\"}"), 0);
    const char *bad[] = {
        "{\"qk_rope_head_dim\": 2000000000}",   /* the RoPE tables (once a stack array) */
        "{\"n_routed_experts\": 2000000000, \"n_group\": 1}", /* routing scratch (once stack arrays) */
        "{\"hidden_size\": 2000000000}",
        "{\"num_attention_heads\": 1000000}",
        "{\"num_experts_per_tok\": 300}",        /* more than n_routed_experts */
        "{\"topk_group\": 9}",                   /* more than n_group */
        "{\"vocab_size\": 2000000000}",
        "{\"qk_rope_head_dim\": 63}",
        "{\"num_hidden_layers\": 0}",
        "{\"model_type\": \"deepseek_v32\", \"q_lora_rank\": null}",
        "{\"model_type\": \"deepseek_v32\", \"index_head_dim\": 32}", /* < qk_rope_head_dim 64 */
        "{\"model_type\": \"deepseek_v32\", \"index_n_heads\": 0}",
        "{\"model_type\": \"deepseek_v32\", \"index_topk\": 0}",
        "{\"model_type\": \"deepseek_v32\", \"index_head_dim\": 100000}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(check_json(bad[i]) == DS_EXIT_INPUT, "accepted %s", bad[i]);
}

/* A hostile config next to real weights: the pass itself answers exit 3 (it
 * crashed on the RoPE table's stack array before). */
TEST(hostile_config_forward_is_exit_3) {
    char *d = test_tmpdir("hostile");
    CHECK(d != NULL);
    if (!d) return;
    char *cwd = getcwd(NULL, 0);
    static const char *files[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                  "model.safetensors.index.json"};
    for (int i = 0; i < 3; i++) {
        char src[1024], *dst = ds_path_join(d, files[i]);
        snprintf(src, sizeof src, "%s/%s/fp8/%s", cwd, V32, files[i]);
        CHECK(symlink(src, dst) == 0);
        free(dst);
    }
    free(cwd);
    char *cfg, *dst = ds_path_join(d, "config.json");
    CHECK_EQ_INT(ds_read_file(V32 "/fp8/config.json", &cfg, NULL), 0);
    char *m = strstr(cfg, "\"qk_rope_head_dim\": 16");
    CHECK(m != NULL);
    FILE *f = fopen(dst, "w");
    if (f && m) {
        fwrite(cfg, 1, (size_t)(m - cfg), f);
        fputs("\"qk_rope_head_dim\": 1999999998", f);
        fputs(m + strlen("\"qk_rope_head_dim\": 16"), f);
    }
    if (f) fclose(f);
    free(cfg);
    free(dst);
    ds_vf_tokens t;
    CHECK_EQ_INT(ds_vf_tokens_load(V32 "/tokens.json", &t), 0);
    ds_ws_source *ws = NULL;
    int orc = ds_ws_open(d, &ws);
    CHECK(orc == 0 || orc == DS_EXIT_INPUT);
    if (orc == 0) {
        ds_vf_backend be;
        ds_vf_backend_open(&be, 0);
        float *lg = malloc(sizeof(float) * (size_t)(t.total * 256));
        ds_vf_stats st = {0};
        CHECK_EQ_INT(ds_vf_forward(ws, &be, &t, lg, &st), DS_EXIT_INPUT);
        free(lg);
        ds_vf_backend_close(&be);
        ds_ws_close(ws);
    }
    ds_vf_tokens_free(&t);
    test_rm_tree(d);
    free(d);
}


/* ---- the blocks, against float64 written out here ---- */

static uint64_t rng_state = 777;
static double urand(void) { /* [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / (double)(1ull << 53) * 2 - 1;
}
static void fill(float *x, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(urand() * scale);
}

TEST(layernorm_with_bias_matches_float64) {
    float x[3 * 7], w[7], b[7], y[3 * 7];
    fill(x, 21, 3);
    fill(w, 7, 1);
    fill(b, 7, 1);
    ds_vf_layernorm(x, w, b, y, 3, 7, 1e-6);
    for (int r = 0; r < 3; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < 7; i++) m += x[r * 7 + i] / 7.0;
        for (int i = 0; i < 7; i++) v += (x[r * 7 + i] - m) * (x[r * 7 + i] - m) / 7.0; /* biased, as torch */
        for (int i = 0; i < 7; i++) {
            double want = (x[r * 7 + i] - m) / sqrt(v + 1e-6) * w[i] + b[i];
            CHECKF(fabs(y[r * 7 + i] - want) < 1e-6, "row %d col %d: %g vs %g", r, i, y[r * 7 + i], want);
        }
    }
    ds_vf_layernorm(x, w, b, x, 3, 7, 1e-6); /* in place */
    CHECK(memcmp(x, y, sizeof y) == 0);
}

TEST(rope_half_is_rotate_half) {
    /* transformers: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1), cos = cat(c, c) */
    float x[8] = {1, 2, -3, 0.5f, 0.25f, -1, 4, 2}, y[8], c[4], s[4];
    double ang[4] = {0.1, 1.3, -2.0, 3.0};
    for (int i = 0; i < 4; i++) { c[i] = (float)cos(ang[i]); s[i] = (float)sin(ang[i]); }
    memcpy(y, x, sizeof x);
    ds_vf_rope_apply_half(y, 4, c, s);
    for (int i = 0; i < 8; i++) {
        double rh = i < 4 ? -x[i + 4] : x[i - 4];
        double want = x[i] * (double)c[i % 4] + rh * s[i % 4];
        CHECKF(fabs(y[i] - want) < 1e-6, "value %d: %g vs %g", i, y[i], want);
    }
}

/* The scores of ds_vf_dsa_select written out: sum_h w_h relu(q_h . k_t / sqrt(d)). */
static double score(const float *q, const float *k, const float *w, int i, int t, int nh, int d) {
    double s = 0;
    for (int h = 0; h < nh; h++) {
        double dot = 0;
        for (int x = 0; x < d; x++) dot += (double)q[(i * nh + h) * d + x] * k[t * d + x];
        dot /= sqrt((double)d);
        s += w[i * nh + h] * (dot > 0 ? dot : 0);
    }
    return s;
}

TEST(dsa_select_keeps_the_best_causal_keys) {
    enum { S = 12, NH = 3, D = 8, TOPK = 4 };
    float q[S * NH * D], k[S * D], w[S * NH];
    fill(q, S * NH * D, 1);
    fill(k, S * D, 1);
    fill(w, S * NH, 1); /* negative head weights too, as weights_proj gives */
    int sel[S * TOPK];
    double gap = INFINITY;
    ds_vf_dsa_select(q, k, w, S, NH, D, TOPK, sel, &gap);
    CHECK(gap > 0 && gap < 1);
    for (int i = 0; i < S; i++) {
        int n = i + 1 < TOPK ? i + 1 : TOPK;
        for (int j = 0; j < TOPK; j++) CHECK((j < n) == (sel[i * TOPK + j] >= 0));
        for (int j = 1; j < n; j++) CHECK(sel[i * TOPK + j - 1] < sel[i * TOPK + j]); /* ascending */
        if (i < TOPK) {
            for (int j = 0; j < n; j++) CHECK_EQ_INT(sel[i * TOPK + j], j);
            continue;
        }
        /* every kept key scores at least every dropped causal key; none is in the future */
        double worst_kept = 1e300, best_dropped = -1e300;
        for (int t = 0; t <= i; t++) {
            int kept = 0;
            for (int j = 0; j < n; j++) kept |= sel[i * TOPK + j] == t;
            double sc = score(q, k, w, i, t, NH, D);
            if (kept) worst_kept = fmin(worst_kept, sc);
            else best_dropped = fmax(best_dropped, sc);
        }
        for (int j = 0; j < n; j++) CHECK(sel[i * TOPK + j] <= i);
        CHECKF(worst_kept >= best_dropped, "query %d: kept %g < dropped %g", i, worst_kept, best_dropped);
    }
    /* ties (here: every score 0, all heads' dots negative) keep the lower keys */
    for (int i = 0; i < S * D; i++) k[i] = -fabsf(k[i]);
    for (int i = 0; i < S * NH * D; i++) q[i] = fabsf(q[i]);
    gap = INFINITY;
    ds_vf_dsa_select(q, k, w, S, NH, D, TOPK, sel, &gap);
    CHECK(gap == 0); /* a tie at the boundary is reported */
    for (int j = 0; j < TOPK; j++) CHECK_EQ_INT(sel[(S - 1) * TOPK + j], j);
    /* topk above the length: every causal key */
    int all[S * S];
    ds_vf_dsa_select(q, k, w, S, NH, D, 1000, all, NULL);
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) CHECK_EQ_INT(all[i * S + j], j <= i ? j : -1);
}

TEST(sparse_attention_over_selected_keys) {
    enum { S = 7, H = 2, DN = 4, DR = 2, DV = 3, KK = 3 };
    float q[S * H * (DN + DR)], kv[S * H * (DN + DV)], kpe[S * DR], dense[S * H * DV], sp[S * H * DV];
    fill(q, S * H * (DN + DR), 2);
    fill(kv, S * H * (DN + DV), 2);
    fill(kpe, S * DR, 2);
    /* every causal key selected: dense attention, bit for bit */
    int all[S * S];
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) all[i * S + j] = j <= i ? j : -1;
    ds_vf_attention(q, kv, kpe, dense, S, H, DN, DR, DV, 0.4);
    ds_vf_attention_sel(q, kv, kpe, sp, S, H, DN, DR, DV, 0.4, all, S);
    CHECK(memcmp(dense, sp, sizeof dense) == 0);
    /* a selection: softmax over exactly those keys */
    int sel[S * KK];
    for (int i = 0; i < S; i++)
        for (int j = 0; j < KK; j++) sel[i * KK + j] = i < KK ? (j <= i ? j : -1) : (j == 0 ? 0 : i - (KK - 1 - j));
    ds_vf_attention_sel(q, kv, kpe, sp, S, H, DN, DR, DV, 0.4, sel, KK);
    double worst = 0;
    for (int i = 0; i < S; i++)
        for (int h = 0; h < H; h++) {
            int n = i + 1 < KK ? i + 1 : KK;
            double sc[KK], mx = -1e300, sum = 0;
            for (int jj = 0; jj < n; jj++) {
                int j = sel[i * KK + jj];
                double d = 0;
                for (int x = 0; x < DN; x++)
                    d += (double)q[(i * H + h) * (DN + DR) + x] * kv[(j * H + h) * (DN + DV) + x];
                for (int x = 0; x < DR; x++) d += (double)q[(i * H + h) * (DN + DR) + DN + x] * kpe[j * DR + x];
                sc[jj] = d * 0.4;
                mx = fmax(mx, sc[jj]);
            }
            for (int jj = 0; jj < n; jj++) sum += sc[jj] = exp(sc[jj] - mx);
            for (int d = 0; d < DV; d++) {
                double o = 0;
                for (int jj = 0; jj < n; jj++) o += sc[jj] / sum * kv[(sel[i * KK + jj] * H + h) * (DN + DV) + DN + d];
                worst = fmax(worst, fabs(sp[(i * H + h) * DV + d] - o));
            }
        }
    CHECKF(worst < 1e-6, "max error %g", worst);
}

/* Routing over many experts: its scratch is the caller's heap, sized by ds_vf_route_scratch_bytes. */
TEST(routing_many_experts_heap_scratch) {
    ds_vf_route_params p = {.n_experts = 4096, .n_group = 64, .topk_group = 8, .topk = 16, .softmax = 0,
                         .group_mode = 2, .norm_topk_prob = 1, .scaling = 1.0};
    float *lg = malloc(sizeof(float) * 4096), w[16];
    int idx[16];
    fill(lg, 4096, 4);
    lg[4095] = 50; /* the best expert, in the last group */
    void *scratch = malloc(ds_vf_route_scratch_bytes(&p));
    ds_vf_route(&p, lg, NULL, idx, w, scratch);
    CHECK_EQ_INT(idx[0], 4095);
    double sum = 0;
    for (int k = 0; k < 16; k++) sum += w[k];
    CHECK(fabs(sum - 1.0) < 1e-5);
    free(scratch);
    free(lg);
}

/* ---- the step list against the model schema ---- */

typedef struct {
    int n;
    char name[512][128];
    int64_t rows[512], cols[512], covered[512]; /* covered: rows taken (lm_head in chunks) */
} steps_seen;

static void collect(const char *name, int64_t r0, int64_t n, int64_t rows, int64_t cols, void *ctx) {
    steps_seen *s = ctx;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name)) { s->covered[i] += n; return; }
    if (s->n == 512) return;
    snprintf(s->name[s->n], sizeof s->name[0], "%s", name);
    s->rows[s->n] = rows, s->cols[s->n] = cols, s->covered[s->n] = n;
    (void)r0;
    s->n++;
}

typedef struct {
    test_ctx *t_;
    steps_seen *s;
    int matched;
} schema_cmp;

/* A tensor the schema says the pass reads: a linear is one of its steps with
 * the schema's shape; anything else (norms, router bias, embedding) is not. */
static void against_schema(const ds_schema_tensor *t, void *ctx) {
    schema_cmp *x = ctx;
    test_ctx *t_ = x->t_;
    if (t->mtp || !t->rule->forward) return;
    int at = -1;
    for (int i = 0; i < x->s->n; i++)
        if (!strcmp(x->s->name[i], t->name)) at = i;
    if (!t->rule->linear || t->ndim != 2) {
        CHECKF(at < 0, "%s is a step but the schema calls it no linear", t->name);
        return;
    }
    CHECKF(at >= 0, "the schema's forward linear %s is no step of the pass", t->name);
    if (at < 0) return;
    CHECKF(x->s->rows[at] == t->shape[0] && x->s->cols[at] == t->shape[1] && x->s->covered[at] == t->shape[0],
           "%s: step [%lld, %lld] (%lld rows taken), schema [%lld, %lld]", t->name, (long long)x->s->rows[at],
           (long long)x->s->cols[at], (long long)x->s->covered[at], (long long)t->shape[0], (long long)t->shape[1]);
    x->matched++;
}

static void check_steps_schema(test_ctx *t_, const char *config) {
    ds_config c;
    const ds_family *fam;
    CHECK_EQ_INT(ds_config_load(config, &c), 0);
    CHECK_EQ_INT(ds_schema_family(config, &c, &fam), 0);
    steps_seen *s = calloc(1, sizeof *s);
    ds_vf_forward_steps(&c, collect, s);
    schema_cmp x = {t_, s, 0};
    ds_schema_expected(&c, fam, 0, against_schema, &x);
    printf("  %s: %d weights in the step list, %d of them the schema's forward linears\n", config, s->n, x.matched);
    CHECK_EQ_INT(x.matched, s->n); /* and no step the schema does not know */
    free(s);
}

TEST(step_list_is_the_schemas_forward_linears) {
    check_steps_schema(t_, TINY "/input/config.json");
    check_steps_schema(t_, V32 "/fp8/config.json");
}

TESTS_MAIN(T(step_list_is_the_schemas_forward_linears), T(layernorm_with_bias_matches_float64),
           T(rope_half_is_rotate_half),
           T(dsa_select_keeps_the_best_causal_keys), T(sparse_attention_over_selected_keys),
           T(routing_many_experts_heap_scratch), T(v32_forward_matches_transformers_fp64),
           T(v32_fixture_needs_the_indexer),
           T(step_list_every_weight_from_the_plan), T(hostile_config_is_exit_3), T(hostile_config_forward_is_exit_3))
