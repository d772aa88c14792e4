/* blocks.c - RMSNorm, SwiGLU, RoPE/YaRN, causal MLA attention and MoE routing
 * for the verify forward pass (see blocks.h for the exact semantics). */
#include "verify/blocks.h"
#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ds_vf_rmsnorm(const float *x, const float *w, float *y, int64_t rows, int64_t n, double eps) {
    #pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / (double)n + eps));
        for (int64_t i = 0; i < n; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

void ds_vf_swiglu(float *g, const float *u, int64_t n) {
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        double v = g[i];
        g[i] = (float)(v / (1.0 + exp(-v))) * u[i];
    }
}

/* ---- rotary embedding ---- */

double ds_vf_yarn_mscale(double s, double m) {
    return s <= 1 ? 1.0 : 0.1 * m * log(s) + 1.0;
}

/* The dimension index at which a wavelength makes num_rot turns over max_pos. */
static double correction_dim(double num_rot, int dim, double base, double max_pos) {
    return dim * log(max_pos / (num_rot * 2 * M_PI)) / (2 * log(base));
}

void ds_vf_rope_inv_freq(const ds_config *c, double *inv_freq) {
    int dim = c->qk_rope_head_dim, half = dim / 2;
    double base = c->rope_theta;
    for (int i = 0; i < half; i++) inv_freq[i] = (float)(1.0 / pow(base, (double)(2 * i) / dim));
    if (!c->rope_yarn) return;
    double factor = c->rope_factor;
    double orig = c->rope_original_max_pos > 0 ? c->rope_original_max_pos : c->max_position_embeddings;
    double low = floor(correction_dim(c->rope_beta_fast, dim, base, orig));
    double high = ceil(correction_dim(c->rope_beta_slow, dim, base, orig));
    if (low < 0) low = 0;
    if (high > dim - 1) high = dim - 1;
    if (low == high) high += 0.001; /* avoid a zero-width ramp */
    for (int i = 0; i < half; i++) {
        double ramp = (i - low) / (high - low);
        if (ramp < 0) ramp = 0;
        if (ramp > 1) ramp = 1;
        double extra = inv_freq[i], inter = (float)(inv_freq[i] / factor);
        /* ramp 0 (high-frequency pairs) keeps the original frequency,
         * ramp 1 (low-frequency pairs) takes the interpolated one */
        inv_freq[i] = (float)(inter * ramp + extra * (1 - ramp));
    }
}

double ds_vf_rope_attention_factor(const ds_config *c) {
    if (!c->rope_yarn) return 1.0;
    if (c->rope_mscale != 0 && c->rope_mscale_all_dim != 0)
        return ds_vf_yarn_mscale(c->rope_factor, c->rope_mscale) /
               ds_vf_yarn_mscale(c->rope_factor, c->rope_mscale_all_dim);
    return ds_vf_yarn_mscale(c->rope_factor, 1.0);
}

double ds_vf_softmax_scale(const ds_config *c) {
    double s = 1.0 / sqrt((double)(c->qk_nope_head_dim + c->qk_rope_head_dim));
    if (c->rope_mscale_all_dim != 0) {
        double m = ds_vf_yarn_mscale(c->rope_factor, c->rope_mscale_all_dim);
        s *= m * m;
    }
    return s;
}

void ds_vf_rope_tables(const ds_config *c, int npos, float *cos_t, float *sin_t) {
    int half = c->qk_rope_head_dim / 2;
    double *inv = xmalloc(sizeof(double) * (size_t)(half > 0 ? half : 1)); /* sized by config.json: not on the stack */
    ds_vf_rope_inv_freq(c, inv);
    double af = ds_vf_rope_attention_factor(c);
    for (int p = 0; p < npos; p++)
        for (int i = 0; i < half; i++) {
            float ang = (float)p * (float)inv[i];
            cos_t[(int64_t)p * half + i] = (float)(cos((double)ang) * af);
            sin_t[(int64_t)p * half + i] = (float)(sin((double)ang) * af);
        }
    free(inv);
}

void ds_vf_rope_apply(float *x, int half, const float *cos_r, const float *sin_r) {
    for (int i = 0; i < half; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cos_r[i] - b * sin_r[i];
        x[2 * i + 1] = a * sin_r[i] + b * cos_r[i];
    }
}

void ds_vf_rope_apply_half(float *x, int half, const float *cos_r, const float *sin_r) {
    for (int i = 0; i < half; i++) {
        float a = x[i], b = x[half + i];
        x[i] = a * cos_r[i] - b * sin_r[i];
        x[half + i] = b * cos_r[i] + a * sin_r[i];
    }
}

void ds_vf_layernorm(const float *x, const float *w, const float *b, float *y, int64_t rows, int64_t n, double eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += xr[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) var += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        double inv = 1.0 / sqrt(var / (double)n + eps);
        for (int64_t i = 0; i < n; i++) yr[i] = (float)(((double)xr[i] - mean) * inv * w[i] + b[i]);
    }
}

/* ---- attention ---- */

void ds_vf_attention(const float *q, const float *kv, const float *kpe, float *out,
                     int S, int H, int dn, int dr, int dv, double scale) {
    ds_vf_attention_sel(q, kv, kpe, out, S, H, dn, dr, dv, scale, NULL, 0);
}

/* Key number jj of query i: j = jj without a selection (jj <= i), else sel[i][jj]. */
static inline int key_at(const int *sel, int kk, int i, int jj) { return sel ? sel[(int64_t)i * kk + jj] : jj; }

void ds_vf_attention_sel(const float *q, const float *kv, const float *kpe, float *out,
                         int S, int H, int dn, int dr, int dv, double scale, const int *sel, int kk) {
    int qd = dn + dr, kd = dn + dv;
    #pragma omp parallel
    {
        /* per-thread scratch on the heap: a long sequence would overflow a thread stack */
        double *p = xmalloc(sizeof(double) * (size_t)(S > 0 ? S : 1));
        double *acc = xmalloc(sizeof(double) * (size_t)(dv > 0 ? dv : 1));
        #pragma omp for collapse(2) schedule(static)
        for (int i = 0; i < S; i++)
            for (int h = 0; h < H; h++) {
                const float *qi = q + ((int64_t)i * H + h) * qd;
                /* causal: keys up to the query's position; selected: the first nk of its list */
                int nk = sel ? (i + 1 < kk ? i + 1 : kk) : i + 1;
                double mx = -INFINITY;
                for (int jj = 0; jj < nk; jj++) {
                    int j = key_at(sel, kk, i, jj);
                    const float *kj = kv + ((int64_t)j * H + h) * kd;
                    const float *pj = kpe + (int64_t)j * dr;
                    double s = 0;
                    for (int d = 0; d < dn; d++) s += (double)qi[d] * kj[d];
                    for (int d = 0; d < dr; d++) s += (double)qi[dn + d] * pj[d];
                    p[jj] = s * scale;
                    if (p[jj] > mx) mx = p[jj];
                }
                double sum = 0;
                for (int jj = 0; jj < nk; jj++) sum += p[jj] = exp(p[jj] - mx);
                for (int d = 0; d < dv; d++) acc[d] = 0;
                for (int jj = 0; jj < nk; jj++) {
                    const float *vj = kv + ((int64_t)key_at(sel, kk, i, jj) * H + h) * kd + dn;
                    double pj = p[jj] / sum;
                    for (int d = 0; d < dv; d++) acc[d] += pj * vj[d];
                }
                float *o = out + ((int64_t)i * H + h) * dv;
                for (int d = 0; d < dv; d++) o[d] = (float)acc[d];
            }
        free(p);
        free(acc);
    }
}

/* ---- MoE routing ---- */

void ds_vf_route_params_from_config(const ds_config *c, ds_vf_route_params *p) {
    memset(p, 0, sizeof *p);
    p->n_experts = c->n_routed_experts;
    p->n_group = c->n_group > 0 ? c->n_group : 1;
    p->topk_group = c->topk_group > 0 ? c->topk_group : p->n_group;
    p->topk = c->num_experts_per_tok;
    p->softmax = c->scoring == DS_SCORE_SOFTMAX;
    if (p->n_group <= 1 || c->topk == DS_TOPK_GREEDY) p->group_mode = 0;
    else if (c->topk == DS_TOPK_GROUP_LIMITED_GREEDY) p->group_mode = 1;
    else p->group_mode = 2; /* noaux_tc, V3's method */
    p->norm_topk_prob = c->norm_topk_prob;
    p->scaling = c->routed_scaling_factor;
}

/* Index of the largest v[i] with allowed[i] (NULL: all), lowest index on ties; -1 if none. */
static int argmax_allowed(const float *v, const unsigned char *allowed, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if ((!allowed || allowed[i]) && (best < 0 || v[i] > v[best])) best = i;
    return best;
}

size_t ds_vf_route_scratch_bytes(const ds_vf_route_params *p) {
    size_t E = (size_t)(p->n_experts > 0 ? p->n_experts : 1), G = (size_t)(p->n_group > 0 ? p->n_group : 1);
    return sizeof(float) * (2 * E + G) + E + 2 * G;
}

void ds_vf_route(const ds_vf_route_params *p, const float *logits, const float *bias,
                 int *idx, float *w, void *scratch) {
    int E = p->n_experts, G = p->n_group;
    /* sized by config.json, so in the caller's heap scratch, never on the stack */
    float *s = scratch, *b = s + E, *gs = b + E;
    unsigned char *ok = (unsigned char *)(gs + (G > 0 ? G : 1)), *gok = ok + (E > 0 ? E : 1), *chosen = gok + G;

    if (p->softmax) {
        double mx = -INFINITY, sum = 0;
        for (int e = 0; e < E; e++) if (logits[e] > mx) mx = logits[e];
        for (int e = 0; e < E; e++) sum += exp(logits[e] - mx);
        for (int e = 0; e < E; e++) s[e] = (float)(exp(logits[e] - mx) / sum);
    } else {
        for (int e = 0; e < E; e++) s[e] = (float)(1.0 / (1.0 + exp(-(double)logits[e])));
    }
    for (int e = 0; e < E; e++) b[e] = bias ? s[e] + bias[e] : s[e];

    /* Group limit: keep the topk_group best groups, mask the rest out entirely
     * (upstream masks with -inf; see MANUAL.md, section verify). */
    memset(ok, 1, (size_t)E);
    if (p->group_mode && G > 1 && p->topk_group < G) {
        int gsz = E / G;
        for (int g = 0; g < G; g++) {
            const float *bg = b + g * gsz;
            int m1 = argmax_allowed(bg, NULL, gsz);
            if (p->group_mode == 1 || gsz < 2) { gs[g] = bg[m1]; continue; }
            int m2 = -1; /* the best but m1, lowest index on ties */
            for (int i = 0; i < gsz; i++)
                if (i != m1 && (m2 < 0 || bg[i] > bg[m2])) m2 = i;
            gs[g] = bg[m1] + bg[m2];
        }
        memset(gok, 1, (size_t)G);
        memset(chosen, 0, (size_t)G);
        for (int k = 0; k < p->topk_group; k++) {
            int g = argmax_allowed(gs, gok, G);
            chosen[g] = 1;
            gok[g] = 0;
        }
        for (int e = 0; e < E; e++) ok[e] = chosen[e / gsz];
    }

    float sum = 0;
    for (int k = 0; k < p->topk; k++) {
        int e = argmax_allowed(b, ok, E);
        if (e < 0) { idx[k] = -1; w[k] = 0; continue; } /* fewer allowed experts than topk */
        ok[e] = 0;
        idx[k] = e;
        w[k] = s[e];
        sum += s[e];
    }
    for (int k = 0; k < p->topk; k++) {
        if (idx[k] < 0) continue;
        if (p->norm_topk_prob) w[k] = w[k] / (sum + 1e-20f);
        w[k] = w[k] * (float)p->scaling;
    }
}
