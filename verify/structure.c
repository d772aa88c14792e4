/* structure.c - structural checks of a checkpoint for verify (see structure.h). */
#include "verify/structure.h"
#include "common/util.h"
#include "formats/schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPORTS 20

typedef struct {
    ds_vs_visit fn;
    void *ctx;
} expected_ctx;

static void expected_one(const ds_schema_tensor *t, void *ctx) {
    expected_ctx *x = ctx;
    if (t->rule->forward) x->fn(t->name, t->ndim, t->shape[0], t->shape[1], x->ctx);
}

void ds_vs_expected(const ds_config *c, ds_vs_visit fn, void *ctx) {
    const ds_family *f = ds_family_find(c->model_type);
    if (!f) return; /* ds_vs_check_config refuses it first */
    expected_ctx x = {fn, ctx};
    ds_schema_expected(c, f, 0, expected_one, &x);
}

int ds_vs_check_config(const char *path, const ds_config *c) {
    const char *why = NULL;
    const ds_family *f;
    DS_TRY(ds_schema_family(path, c, &f));
    if (c->num_hidden_layers < 1) why = "num_hidden_layers must be at least 1";
    else if (c->qk_rope_head_dim % 2) why = "qk_rope_head_dim must be even (RoPE rotates pairs)";
    else if (c->qk_nope_head_dim < 0) why = "qk_nope_head_dim must not be negative";
    else if (c->rms_norm_eps < 0) why = "rms_norm_eps must not be negative";
    else if (c->scoring == DS_SCORE_UNKNOWN) why = "scoring_func must be sigmoid or softmax";
    else if (c->topk == DS_TOPK_UNKNOWN) why = "topk_method must be noaux_tc, greedy or group_limited_greedy";
    else if (c->rope_yarn && !(c->rope_factor > 0)) why = "rope_scaling.factor must be positive";
    else if (c->first_k_dense_replace > 0 && c->intermediate_size < 1) why = "intermediate_size must be positive";
    else if (f->indexer && (c->index_n_heads < 1 || c->index_head_dim < 1 || c->index_topk < 1))
        why = "index_n_heads, index_head_dim and index_topk must be positive (DeepSeek Sparse Attention)";
    else if (f->indexer && (c->index_head_dim < c->qk_rope_head_dim || c->q_lora_rank < 1))
        why = "the indexer needs index_head_dim >= qk_rope_head_dim and a q_lora_rank";
    if (!why && c->n_routed_experts > 0 && c->first_k_dense_replace < c->num_hidden_layers) {
        int E = c->n_routed_experts, G = c->n_group > 0 ? c->n_group : 1;
        if (c->moe_intermediate_size < 1) why = "moe_intermediate_size must be positive";
        else if (c->num_experts_per_tok < 1 || c->num_experts_per_tok > E)
            why = "num_experts_per_tok must be between 1 and n_routed_experts";
        else if (c->topk_group < 1 || c->topk_group > G) why = "topk_group must be between 1 and n_group";
        else if ((int64_t)c->topk_group * (E / G) < c->num_experts_per_tok)
            why = "topk_group groups hold fewer experts than num_experts_per_tok";
    }
    return why ? ds_fail(DS_EXIT_INPUT, "%s: config.json: %s", path, why) : 0;
}

typedef struct {
    ds_ws_source *ws;
    int values;
    ds_vs_stats *st;
} vctx;

static void problem_in(vctx *v, const char *file, const char *name, const char *detail) {
    if (++v->st->problems <= MAX_REPORTS) ds_err("%s: tensor %s: %s", file, name, detail);
}
static void problem(vctx *v, const char *name, const char *detail) { problem_in(v, ds_ws_path(v->ws), name, detail); }

/* Reads the tensor in row chunks and reports its first non-finite value. */
static void check_values(vctx *v, const char *name, const ds_ws_tinfo *ti) {
    int64_t cols = ti->cols > 0 ? ti->cols : 1;
    int64_t chunk = ((int64_t)16 << 20) / cols;
    if (chunk < 1) chunk = 1;
    float *buf = xmalloc((size_t)((chunk < ti->rows ? chunk : ti->rows) * cols + 1) * sizeof(float));
    for (int64_t r0 = 0; r0 < ti->rows; r0 += chunk) {
        int64_t n = ti->rows - r0 < chunk ? ti->rows - r0 : chunk;
        if (ds_ws_read_rows(v->ws, name, r0, n, buf)) { v->st->problems++; break; }
        int64_t bad = -1;
        #pragma omp parallel for reduction(max : bad) schedule(static)
        for (int64_t i = 0; i < n * cols; i++)
            if (!isfinite(buf[i]) && i > bad) bad = i;
        if (bad >= 0) {
            /* report the first one, not the last the reduction kept */
            for (int64_t i = 0; i < n * cols; i++) if (!isfinite(buf[i])) { bad = i; break; }
            char d[160];
            int64_t row = r0 + bad / cols, col = bad % cols;
            snprintf(d, sizeof d, "row %lld, column %lld is %s", (long long)row, (long long)col,
                     isnan(buf[bad]) ? "NaN" : "infinite");
            problem_in(v, ds_ws_locate(v->ws, name, row, col), name, d);
            break;
        }
        v->st->values += n * cols;
    }
    free(buf);
}

static void visit(const char *name, int ndim, int64_t d0, int64_t d1, void *ctx) {
    vctx *v = ctx;
    ds_ws_tinfo ti;
    v->st->tensors++;
    if (!ds_ws_has(v->ws, name)) { problem(v, name, "missing (config.json implies it)"); return; }
    /* stored: a storage problem (scale, packing, MP parts) is reported by the source */
    if (ds_ws_info(v->ws, name, &ti)) { v->st->problems++; return; } /* storage problem, already reported */
    int ok = ti.ndim == ndim && ti.shape[0] == d0 && (ndim == 1 || ti.shape[1] == d1);
    if (!ok) {
        char d[160];
        if (ndim == 1) snprintf(d, sizeof d, "expected shape [%lld] from config.json", (long long)d0);
        else snprintf(d, sizeof d, "expected shape [%lld, %lld] from config.json", (long long)d0, (long long)d1);
        char got[96] = "[";
        for (int i = 0; i < ti.ndim && i < 8; i++) {
            char x[32];
            snprintf(x, sizeof x, "%s%lld", i ? ", " : "", (long long)ti.shape[i]);
            strncat(got, x, sizeof got - strlen(got) - 2);
        }
        strcat(got, "]");
        char full[300];
        snprintf(full, sizeof full, "shape %s, %s", got, d);
        problem(v, name, full);
        return;
    }
    if (ndim == 1 && ti.kind != DS_WQ_PLAIN) {
        problem(v, name, "a 1-D tensor must be stored as plain floats");
        return;
    }
    if (v->values) check_values(v, name, &ti);
}

int ds_vs_check(ds_ws_source *ws, int values, ds_vs_stats *st) {
    memset(st, 0, sizeof *st);
    double t0 = ds_now();
    const ds_config *c = ds_ws_config(ws);
    DS_TRY(ds_vs_check_config(ds_ws_path(ws), c));
    vctx v = {ws, values, st};
    ds_vs_expected(c, visit, &v);
    st->seconds = ds_now() - t0;
    if (st->problems > MAX_REPORTS)
        ds_err("%s: ... and %d more problems", ds_ws_path(ws), st->problems - MAX_REPORTS);
    return st->problems ? DS_EXIT_INPUT : 0;
}
