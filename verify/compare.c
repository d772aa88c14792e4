/* compare.c - per-position logit metrics and their summary (compare.h).
 * Everything is computed in double from the float32 logits. */
#include "verify/compare.h"
#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ds_vc_all_finite(const float *x, int64_t n) {
    int ok = 1;
    #pragma omp parallel for reduction(&& : ok) schedule(static)
    for (int64_t i = 0; i < n; i++) ok = ok && isfinite(x[i]);
    return ok;
}

/* log-sum-exp of x[0..n) */
static double lse(const float *x, int64_t n) {
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < n; i++) if (x[i] > m) m = x[i];
    for (int64_t i = 0; i < n; i++) s += exp(x[i] - m);
    return m + log(s);
}

/* The k largest ids, lowest id first among equal values. */
static void topk(const float *x, int64_t n, int k, int *out) {
    for (int j = 0; j < k; j++) out[j] = -1;
    for (int64_t i = 0; i < n; i++) {
        int j = k;
        while (j > 0 && (out[j - 1] < 0 || x[i] > x[out[j - 1]])) j--;
        if (j >= k) continue;
        for (int m = k - 1; m > j; m--) out[m] = out[m - 1];
        out[j] = (int)i;
    }
}

void ds_vc_position(const float *a, const float *ref, int64_t V, ds_vc_pos *p) {
    memset(p, 0, sizeof *p);
    double d2 = 0, r2 = 0, a2 = 0, dot = 0, mx = 0;
    int nan_seen = 0;
    p->identical = memcmp(a, ref, (size_t)V * sizeof(float)) == 0;
    for (int64_t i = 0; i < V; i++) {
        double d = (double)a[i] - ref[i], ad = fabs(d);
        if (isnan(ad)) nan_seen = 1;
        else if (ad > mx) mx = ad;
        d2 += d * d;
        r2 += (double)ref[i] * ref[i];
        a2 += (double)a[i] * a[i];
        dot += (double)a[i] * ref[i];
    }
    p->max_abs = nan_seen ? NAN : mx;
    p->rel_l2 = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
    p->cosine = a2 > 0 && r2 > 0 ? dot / sqrt(a2 * r2) : (a2 == r2 ? 1.0 : 0.0);
    double la = lse(a, V), lr = lse(ref, V), kl = 0;
    for (int64_t i = 0; i < V; i++) {
        double lpr = ref[i] - lr, lpa = a[i] - la;
        kl += exp(lpr) * (lpr - lpa);
    }
    p->kl = kl < 0 ? 0 : kl; /* rounding can leave a tiny negative for equal inputs */
    int k = V < 5 ? (int)V : 5, ta[5], tr[5], common = 0;
    topk(a, V, k, ta);
    topk(ref, V, k, tr);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) common += ta[i] == tr[j];
    p->top1_ckpt = ta[0];
    p->top1_ref = tr[0];
    p->top5 = k ? (double)common / k : 1.0;
}

void ds_vc_compare(const float *ckpt, const float *ref, int64_t n, int64_t V, ds_vc_result *r) {
    memset(r, 0, sizeof *r);
    r->n_pos = n;
    r->vocab = V;
    r->pos = xcalloc((size_t)(n > 0 ? n : 1), sizeof(ds_vc_pos));
    r->finite = ds_vc_all_finite(ckpt, n * V) && ds_vc_all_finite(ref, n * V);
    #pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < n; i++) ds_vc_position(ckpt + i * V, ref + i * V, V, &r->pos[i]);
    int64_t diff = 0;
    for (int64_t i = 0; i < n * V; i++) diff += memcmp(ckpt + i, ref + i, sizeof(float)) != 0;
    r->values_differing = diff;
    r->identical = diff == 0;
    r->min_cosine = n ? INFINITY : 1.0;
    int64_t top1 = 0;
    for (int64_t i = 0; i < n; i++) {
        const ds_vc_pos *p = &r->pos[i];
        if (p->max_abs > r->max_abs || isnan(p->max_abs)) r->max_abs = p->max_abs;
        if (p->rel_l2 > r->worst_rel_l2 || isnan(p->rel_l2)) r->worst_rel_l2 = p->rel_l2;
        if (p->kl > r->max_kl || isnan(p->kl)) r->max_kl = p->kl;
        if (p->cosine < r->min_cosine || isnan(p->cosine)) r->min_cosine = p->cosine;
        r->mean_rel_l2 += p->rel_l2;
        r->mean_kl += p->kl;
        r->mean_top5 += p->top5;
        top1 += p->top1_ref == p->top1_ckpt;
    }
    if (n) {
        r->mean_rel_l2 /= n;
        r->mean_kl /= n;
        r->mean_top5 /= n;
        r->top1_rate = (double)top1 / n;
    } else {
        r->top1_rate = r->mean_top5 = 1.0;
    }
}

void ds_vc_free(ds_vc_result *r) {
    free(r->pos);
    r->pos = NULL;
}
