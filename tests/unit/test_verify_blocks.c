/* test_verify_blocks.c - the verify forward pass's math blocks against float64
 * computations written out here, on small inputs: GEMM, RMSNorm, SwiGLU,
 * RoPE/YaRN tables, MLA attention, group-limited MoE routing (ties included). */
#include "tests/unit/test.h"
#include "verify/blocks.h"
#include "verify/structure.h"
#include "kernels/kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* deterministic values in [-1, 1) */
static uint64_t rng_state = 12345;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / (double)(1ull << 53) * 2 - 1;
}
static void fill(float *x, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(urand() * scale);
}

/* A DeepSeek-V3-like config (dev-tiny's shape): rope dim 32, YaRN factor 40. */
static ds_config v3_config(int rope_dim) {
    ds_config c;
    memset(&c, 0, sizeof c);
    c.hidden_size = 256;
    c.num_attention_heads = 8;
    c.qk_nope_head_dim = 32;
    c.qk_rope_head_dim = rope_dim;
    c.v_head_dim = 32;
    c.rope_theta = 10000;
    c.max_position_embeddings = 163840;
    c.rope_yarn = 1;
    c.rope_factor = 40;
    c.rope_original_max_pos = 4096;
    c.rope_beta_fast = 32;
    c.rope_beta_slow = 1;
    c.rope_mscale = 1;
    c.rope_mscale_all_dim = 1;
    c.rms_norm_eps = 1e-6;
    return c;
}

TEST(gemm_matches_float64) {
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {5, 17, 9}, {7, 33, 513}, {16, 40, 1030}, {2, 3, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * (size_t)(M * K + 1)), *W = malloc(sizeof(float) * (size_t)(N * K + 1));
        float *C = malloc(sizeof(float) * (size_t)(M * N));
        fill(A, M * K, 1);
        fill(W, N * K, 1);
        CHECK_EQ_INT(ds_cpu_gemm_f32(A, W, C, M, N, K), 0);
        double worst = 0;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double ref = 0, mag = 0;
                for (int64_t k = 0; k < K; k++) {
                    ref += (double)A[m * K + k] * W[n * K + k];
                    mag += fabs((double)A[m * K + k] * W[n * K + k]);
                }
                double e = fabs(C[m * N + n] - ref) / (mag > 0 ? mag : 1);
                if (e > worst) worst = e;
            }
        CHECKF(worst < 1e-6, "M=%lld N=%lld K=%lld: error %g of the sum of |products|", (long long)M,
               (long long)N, (long long)K, worst);
        free(A); free(W); free(C);
    }
}

/* Bit-identical logits need every element's sum to be independent of M, of
 * where the element sits in a tile, and of the thread count. */
TEST(gemm_is_reproducible) {
    int64_t M = 9, N = 37, K = 1100;
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *W = malloc(sizeof(float) * (size_t)(N * K));
    float *C = malloc(sizeof(float) * (size_t)(M * N)), *c1 = malloc(sizeof(float) * (size_t)N);
    float *c2 = malloc(sizeof(float) * (size_t)(M * 5));
    fill(A, M * K, 3);
    fill(W, N * K, 3);
    ds_cpu_gemm_f32(A, W, C, M, N, K);
    int same = 1;
    for (int64_t m = 0; m < M; m++) { /* one row at a time */
        ds_cpu_gemm_f32(A + m * K, W, c1, 1, N, K);
        same &= memcmp(c1, C + m * N, sizeof(float) * (size_t)N) == 0;
    }
    ds_cpu_gemm_f32(A, W + 3 * K, c2, M, 5, K); /* a slice of weight rows lands in other tile slots */
    for (int64_t m = 0; m < M; m++) same &= memcmp(c2 + m * 5, C + m * N + 3, sizeof(float) * 5) == 0;
    CHECK(same);
    free(A); free(W); free(C); free(c1); free(c2);
}

TEST(rmsnorm_matches_float64) {
    int64_t rows = 3, n = 129;
    float x[3 * 129], w[129], y[3 * 129];
    fill(x, rows * n, 4);
    fill(w, n, 2);
    x[5] = 1e4f; /* a large outlier in row 0 */
    double eps = 1e-6;
    ds_vf_rmsnorm(x, w, y, rows, n, eps);
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[r * n + i] * x[r * n + i];
        double inv = 1 / sqrt(ss / n + eps);
        for (int64_t i = 0; i < n; i++) {
            double ref = (double)w[i] * x[r * n + i] * inv;
            double e = fabs(y[r * n + i] - ref) / (fabs(ref) + 1e-30);
            if (e > worst) worst = e;
        }
    }
    CHECKF(worst < 5e-7, "relative error %g", worst);
    /* in place */
    float z[3 * 129];
    memcpy(z, x, sizeof z);
    ds_vf_rmsnorm(z, w, z, rows, n, eps);
    CHECK(memcmp(z, y, sizeof z) == 0);
}

TEST(swiglu_matches_float64) {
    float g[64], u[64], g0[64];
    fill(g, 64, 8);
    fill(u, 64, 2);
    memcpy(g0, g, sizeof g);
    ds_vf_swiglu(g, u, 64);
    for (int i = 0; i < 64; i++) {
        double ref = (double)g0[i] / (1 + exp(-(double)g0[i])) * u[i];
        CHECKF(fabs(g[i] - ref) <= 1e-6 * fabs(ref) + 1e-30, "i=%d %g vs %g", i, g[i], ref);
    }
}

/* YaRN written out from the paper's definitions in float64. */
static void yarn_ref(const ds_config *c, double *inv) {
    int d = c->qk_rope_head_dim;
    double base = c->rope_theta, f = c->rope_factor, L = c->rope_original_max_pos;
    double lo = floor(d * log(L / (c->rope_beta_fast * 2 * M_PI)) / (2 * log(base)));
    double hi = ceil(d * log(L / (c->rope_beta_slow * 2 * M_PI)) / (2 * log(base)));
    lo = lo < 0 ? 0 : lo;
    hi = hi > d - 1 ? d - 1 : hi;
    for (int i = 0; i < d / 2; i++) {
        double theta = pow(base, -2.0 * i / d);
        double t = (i - lo) / (hi - lo);
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        inv[i] = theta / f * t + theta * (1 - t);
    }
}

TEST(rope_yarn_tables_match_float64) {
    int dims[] = {32, 64};
    for (int di = 0; di < 2; di++) {
        ds_config c = v3_config(dims[di]);
        int half = dims[di] / 2;
        double inv[32], ref[32];
        ds_vf_rope_inv_freq(&c, inv);
        yarn_ref(&c, ref);
        for (int i = 0; i < half; i++)
            CHECKF(fabs(inv[i] - ref[i]) <= 1e-7 * ref[i], "dim %d pair %d: %.9g vs %.9g", dims[di], i, inv[i], ref[i]);
        /* the ramp's ends: highest frequency kept, lowest divided by the factor */
        CHECK(fabs(inv[0] - 1.0) < 1e-12);
        CHECK(fabs(inv[half - 1] - pow(10000, -2.0 * (half - 1) / dims[di]) / 40) < 1e-7 * inv[half - 1]);
        int npos = 48;
        float *ct = malloc(sizeof(float) * (size_t)(npos * half)), *st = malloc(sizeof(float) * (size_t)(npos * half));
        ds_vf_rope_tables(&c, npos, ct, st);
        double worst = 0;
        for (int p = 0; p < npos; p++)
            for (int i = 0; i < half; i++) {
                double a = p * ref[i];
                worst = fmax(worst, fabs(ct[p * half + i] - cos(a)));
                worst = fmax(worst, fabs(st[p * half + i] - sin(a)));
            }
        /* float32 angle (as both references) loses < 1 ulp of p*inv, ~5e-6 rad at p=47 */
        CHECKF(worst < 2e-5, "dim %d: table error %g", dims[di], worst);
        free(ct);
        free(st);
    }
    /* dev-tiny's correction range: dims 5 and 12 of 32 */
    ds_config c = v3_config(32);
    double inv[16], th5 = pow(10000, -10.0 / 32), th12 = pow(10000, -24.0 / 32);
    ds_vf_rope_inv_freq(&c, inv);
    CHECK(fabs(inv[5] - th5) < 1e-7 * th5);               /* ramp 0 at low = 5 */
    CHECK(fabs(inv[12] - th12 / 40) < 1e-7 * th12 / 40);  /* ramp 1 at high = 12 */
    CHECK(fabs(inv[8] - (th5 * 0 + pow(10000, -16.0 / 32) * (1 - 3.0 / 7) + pow(10000, -16.0 / 32) / 40 * 3.0 / 7)) <
          1e-7 * inv[8]);
}

TEST(rope_without_scaling_is_plain) {
    ds_config c = v3_config(16);
    c.rope_yarn = 0;
    c.rope_factor = 1;
    c.rope_mscale_all_dim = 0;
    double inv[8];
    ds_vf_rope_inv_freq(&c, inv);
    for (int i = 0; i < 8; i++) CHECK(fabs(inv[i] - pow(10000, -2.0 * i / 16)) < 1e-7 * inv[i]);
    CHECK(ds_vf_rope_attention_factor(&c) == 1.0);
    CHECK(fabs(ds_vf_softmax_scale(&c) - 1 / sqrt(48.0)) < 1e-15);
}

TEST(softmax_scale_and_mscale) {
    ds_config c = v3_config(64);
    c.qk_nope_head_dim = 128;
    double m = 0.1 * log(40.0) + 1;
    CHECK(fabs(ds_vf_softmax_scale(&c) - m * m / sqrt(192.0)) < 1e-15);
    CHECK(fabs(ds_vf_rope_attention_factor(&c) - 1.0) < 1e-15); /* mscale == mscale_all_dim */
    c.rope_mscale_all_dim = 0.707;
    double m2 = 0.1 * 0.707 * log(40.0) + 1;
    CHECK(fabs(ds_vf_softmax_scale(&c) - m2 * m2 / sqrt(192.0)) < 1e-15);
    CHECK(fabs(ds_vf_rope_attention_factor(&c) - m / m2) < 1e-15);
    CHECK(ds_vf_yarn_mscale(1.0, 5) == 1.0);
}

TEST(rope_apply_is_complex_rotation) {
    float x[8] = {1, 2, -3, 0.5f, 0.25f, -1, 4, 2}, c[4], s[4];
    double ang[4] = {0.1, 1.3, -2.0, 3.0};
    for (int i = 0; i < 4; i++) { c[i] = (float)cos(ang[i]); s[i] = (float)sin(ang[i]); }
    float y[8];
    memcpy(y, x, sizeof x);
    ds_vf_rope_apply(y, 4, c, s);
    for (int i = 0; i < 4; i++) { /* (a + ib) * (cos + i sin) */
        double re = x[2 * i] * (double)c[i] - x[2 * i + 1] * (double)s[i];
        double im = x[2 * i] * (double)s[i] + x[2 * i + 1] * (double)c[i];
        CHECK(fabs(y[2 * i] - re) < 1e-6 && fabs(y[2 * i + 1] - im) < 1e-6);
    }
}

TEST(attention_matches_float64) {
    int S = 6, H = 3, dn = 4, dr = 2, dv = 5;
    float q[6 * 3 * 6], kv[6 * 3 * 9], kpe[6 * 2], out[6 * 3 * 5];
    fill(q, S * H * (dn + dr), 2);
    fill(kv, S * H * (dn + dv), 2);
    fill(kpe, S * dr, 2);
    double scale = 0.37;
    ds_vf_attention(q, kv, kpe, out, S, H, dn, dr, dv, scale);
    double worst = 0;
    for (int i = 0; i < S; i++)
        for (int h = 0; h < H; h++) {
            double sc[6], mx = -1e300, sum = 0;
            for (int j = 0; j <= i; j++) {
                double d = 0;
                for (int k = 0; k < dn; k++) d += (double)q[(i * H + h) * 6 + k] * kv[(j * H + h) * 9 + k];
                for (int k = 0; k < dr; k++) d += (double)q[(i * H + h) * 6 + dn + k] * kpe[j * dr + k];
                sc[j] = d * scale;
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j <= i; j++) sum += sc[j] = exp(sc[j] - mx);
            for (int d = 0; d < dv; d++) {
                double o = 0;
                for (int j = 0; j <= i; j++) o += sc[j] / sum * kv[(j * H + h) * 9 + dn + d];
                worst = fmax(worst, fabs(out[(i * H + h) * dv + d] - o));
            }
        }
    CHECKF(worst < 1e-6, "max error %g", worst);
    /* causality: position 0 attends only to itself, so it is v_0 exactly */
    for (int h = 0; h < H; h++)
        for (int d = 0; d < dv; d++) CHECK(fabs(out[h * dv + d] - kv[h * 9 + dn + d]) < 1e-7);
}

static ds_vf_route_params v3_route(void) {
    ds_vf_route_params p = {.n_experts = 8, .n_group = 4, .topk_group = 2, .topk = 2, .softmax = 0,
                         .group_mode = 2, .norm_topk_prob = 1, .scaling = 2.5};
    return p;
}

/* logit whose sigmoid is s */
static float logit_of(double s) { return (float)log(s / (1 - s)); }

TEST(routing_group_limited) {
    ds_vf_route_params p = v3_route();
    float lg[8], bias[8] = {0}, w[2], scratch[32];
    int idx[2];
    /* groups {0,1} {2,3} {4,5} {6,7}; group scores (sum of both): 1.0, 1.3, 1.2, 0.95.
     * expert 6 has the single best score but its group loses: groups 1 and 2 win. */
    double s[8] = {0.5, 0.5, 0.65, 0.65, 0.6, 0.6, 0.9, 0.05};
    for (int e = 0; e < 8; e++) lg[e] = logit_of(s[e]);
    ds_vf_route(&p, lg, bias, idx, w, scratch);
    CHECK_EQ_INT(idx[0], 2); /* tie 2 vs 3: the lower index first */
    CHECK_EQ_INT(idx[1], 3);
    double s2 = 1 / (1 + exp(-(double)lg[2])), s3 = 1 / (1 + exp(-(double)lg[3]));
    CHECK(fabs(w[0] - 2.5 * s2 / (s2 + s3)) < 1e-6 && fabs(w[1] - 2.5 * s3 / (s2 + s3)) < 1e-6);

    /* the bias steers selection, the unbiased scores weigh: bias lifts expert 5 over 2 and 3 */
    bias[5] = 0.2f;
    ds_vf_route(&p, lg, bias, idx, w, scratch);
    CHECK_EQ_INT(idx[0], 5);
    CHECK_EQ_INT(idx[1], 2);
    double s5 = 1 / (1 + exp(-(double)lg[5]));
    CHECK(fabs(w[0] - 2.5 * s5 / (s5 + s2)) < 1e-6);
}

TEST(routing_ties) {
    ds_vf_route_params p = v3_route();
    p.topk_group = 1;
    p.topk = 1;
    float lg[8], w[1], scratch[32];
    int idx[1];
    /* all equal: group 0, expert 0 */
    for (int e = 0; e < 8; e++) lg[e] = 0.3f;
    ds_vf_route(&p, lg, NULL, idx, w, scratch);
    CHECK_EQ_INT(idx[0], 0);
    CHECK(fabs(w[0] - 2.5) < 1e-6);
    /* groups 1 and 3 tie on the top-2 sum (expert 7 ties expert 2 on score): group 1 wins, then expert 2 */
    double s[8] = {0.1, 0.1, 0.8, 0.3, 0.2, 0.2, 0.3, 0.8};
    for (int e = 0; e < 8; e++) lg[e] = logit_of(s[e]);
    lg[7] = lg[2];
    lg[6] = lg[3];
    ds_vf_route(&p, lg, NULL, idx, w, scratch);
    CHECK_EQ_INT(idx[0], 2);
    /* group score is the top-2 sum, not the max: group 2 (0.6 + 0.6) beats group 1 (0.9 + 0.1) */
    double s2[8] = {0.1, 0.1, 0.9, 0.1, 0.6, 0.6, 0.1, 0.1};
    for (int e = 0; e < 8; e++) lg[e] = logit_of(s2[e]);
    ds_vf_route(&p, lg, NULL, idx, w, scratch);
    CHECK_EQ_INT(idx[0], 4);
    /* ... while group_limited_greedy takes the max */
    p.group_mode = 1;
    ds_vf_route(&p, lg, NULL, idx, w, scratch);
    CHECK_EQ_INT(idx[0], 2);
}

TEST(routing_softmax_greedy) {
    ds_vf_route_params p = {.n_experts = 6, .n_group = 1, .topk_group = 1, .topk = 2, .softmax = 1,
                         .group_mode = 0, .norm_topk_prob = 0, .scaling = 1.5};
    float lg[6] = {0.1f, 2.0f, -1.0f, 1.5f, 0.3f, 2.0f}, w[2], scratch[32];
    int idx[2];
    ds_vf_route(&p, lg, NULL, idx, w, scratch);
    CHECK_EQ_INT(idx[0], 1); /* 1 and 5 tie: lower first */
    CHECK_EQ_INT(idx[1], 5);
    double z = 0;
    for (int e = 0; e < 6; e++) z += exp(lg[e]);
    CHECK(fabs(w[0] - 1.5 * exp(2.0) / z) < 1e-6 && fabs(w[1] - 1.5 * exp(2.0) / z) < 1e-6);
    p.norm_topk_prob = 1;
    ds_vf_route(&p, lg, NULL, idx, w, scratch);
    CHECK(fabs(w[0] - 0.75) < 1e-6 && fabs(w[1] - 0.75) < 1e-6);
}

TEST(routing_params_from_config) {
    ds_config c;
    ds_vf_route_params p;
    /* through the config parser, as a config.json gives them */
    CHECK_EQ_INT(ds_config_parse("v3.json", "{\"n_routed_experts\": 256, \"n_group\": 8, \"topk_group\": 4, "
                 "\"num_experts_per_tok\": 8, \"scoring_func\": \"sigmoid\", \"topk_method\": \"noaux_tc\"}", &c), 0);
    ds_vf_route_params_from_config(&c, &p);
    CHECK(p.group_mode == 2 && !p.softmax && p.topk == 8 && p.topk_group == 4 && p.n_group == 8);
    CHECK(p.norm_topk_prob && fabs(p.scaling - 2.5) < 1e-12); /* transformers' defaults */
    CHECK_EQ_INT(ds_config_parse("v2.json", "{\"n_routed_experts\": 160, \"n_group\": 8, \"topk_group\": 3, "
                 "\"scoring_func\": \"softmax\", \"topk_method\": \"greedy\"}", &c), 0);
    ds_vf_route_params_from_config(&c, &p);
    CHECK(p.group_mode == 0 && p.softmax);
    CHECK_EQ_INT(ds_config_parse("v2.json", "{\"n_routed_experts\": 160, \"n_group\": 8, \"topk_group\": 3, "
                 "\"scoring_func\": \"softmax\", \"topk_method\": \"group_limited_greedy\"}", &c), 0);
    ds_vf_route_params_from_config(&c, &p);
    CHECK(p.group_mode == 1);
    CHECK_EQ_INT(ds_vs_check_config("v2.json", &c), 0);
}

TESTS_MAIN(T(gemm_matches_float64), T(gemm_is_reproducible), T(rmsnorm_matches_float64), T(swiglu_matches_float64),
           T(rope_yarn_tables_match_float64), T(rope_without_scaling_is_plain), T(softmax_scale_and_mscale),
           T(rope_apply_is_complex_rotation), T(attention_matches_float64), T(routing_group_limited),
           T(routing_ties), T(routing_softmax_greedy), T(routing_params_from_config))
