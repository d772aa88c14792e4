/* dsa.c - the indexer's key selection of DeepSeek Sparse Attention (dsa.h). */
#include "verify/dsa.h"
#include "common/util.h"
#include "formats/schema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The model schema says which families carry the indexer (formats/schema.c). */
int ds_vf_dsa_enabled(const ds_config *c) {
    const ds_family *f = ds_family_find(c->model_type);
    return f && f->indexer;
}

int ds_vf_dsa_check_config(const char *path, const ds_config *c) {
    const char *why = NULL;
    if (!ds_vf_dsa_enabled(c)) return 0;
    if (c->q_lora_rank < 1) why = "q_lora_rank must be set: the indexer's queries come from q_a_layernorm's output";
    else if (c->index_n_heads < 1) why = "index_n_heads must be positive";
    else if (c->index_head_dim < c->qk_rope_head_dim)
        why = "index_head_dim must be at least qk_rope_head_dim (RoPE rotates that many of its values)";
    else if (c->index_topk < 1) why = "index_topk must be positive";
    return why ? ds_fail(DS_EXIT_INPUT, "%s: config.json: %s", path, why) : 0;
}

typedef struct { double score; int key; } scored;

/* Best score first; equal scores: the lower key first. */
static int by_score(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

static int ascending(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void ds_vf_dsa_select(const float *q, const float *k, const float *w, int S, int nh, int d, int topk, int *sel,
                      double *min_gap) {
    int kk = topk < S ? topk : S;
    double scale = 1.0 / sqrt((double)d), gap = INFINITY;
    #pragma omp parallel reduction(min : gap)
    {
        scored *sc = xmalloc(sizeof(scored) * (size_t)(S > 0 ? S : 1));
        #pragma omp for schedule(dynamic, 4)
        for (int i = 0; i < S; i++) {
            int *row = sel + (int64_t)i * kk;
            for (int j = 0; j < kk; j++) row[j] = -1;
            if (i + 1 <= kk) { /* every causal key is kept */
                for (int j = 0; j <= i; j++) row[j] = j;
                continue;
            }
            const float *qi = q + (int64_t)i * nh * d, *wi = w + (int64_t)i * nh;
            for (int t = 0; t <= i; t++) {
                const float *kt = k + (int64_t)t * d;
                double s = 0;
                for (int h = 0; h < nh; h++) {
                    const float *qh = qi + (int64_t)h * d;
                    double dot = 0;
                    for (int x = 0; x < d; x++) dot += (double)qh[x] * kt[x];
                    dot *= scale;
                    if (dot > 0) s += (double)wi[h] * dot;
                }
                sc[t].score = s;
                sc[t].key = t;
            }
            qsort(sc, (size_t)i + 1, sizeof *sc, by_score);
            double big = fmax(fabs(sc[0].score), fabs(sc[i].score));
            double g = big > 0 ? (sc[kk - 1].score - sc[kk].score) / big : 0;
            if (g < gap) gap = g;
            for (int j = 0; j < kk; j++) row[j] = sc[j].key;
            qsort(row, (size_t)kk, sizeof *row, ascending);
        }
        free(sc);
    }
    if (min_gap && gap < *min_gap) *min_gap = gap;
}
