/* structure.c - structural checks of a checkpoint for verify (see structure.h). */
#include "verify/structure.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPORTS 20

static void visit_layer(const ds_config *c, int L, vs_visit fn, void *ctx) {
    char n[256];
    int64_t H = c->hidden_size, nh = c->num_attention_heads;
    int64_t qd = c->qk_nope_head_dim + c->qk_rope_head_dim;
#define V1(rest, a) (snprintf(n, sizeof n, "model.layers.%d.%s", L, rest), fn(n, 1, (a), 0, ctx))
#define V2(rest, a, b) (snprintf(n, sizeof n, "model.layers.%d.%s", L, rest), fn(n, 2, (a), (b), ctx))
    V1("input_layernorm.weight", H);
    V1("post_attention_layernorm.weight", H);
    if (c->q_lora_rank > 0) {
        V2("self_attn.q_a_proj.weight", c->q_lora_rank, H);
        V1("self_attn.q_a_layernorm.weight", c->q_lora_rank);
        V2("self_attn.q_b_proj.weight", nh * qd, c->q_lora_rank);
    } else {
        V2("self_attn.q_proj.weight", nh * qd, H);
    }
    V2("self_attn.kv_a_proj_with_mqa.weight", c->kv_lora_rank + c->qk_rope_head_dim, H);
    V1("self_attn.kv_a_layernorm.weight", c->kv_lora_rank);
    V2("self_attn.kv_b_proj.weight", nh * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank);
    V2("self_attn.o_proj.weight", H, nh * c->v_head_dim);
    if (!ds_config_is_moe_layer(c, L)) {
        V2("mlp.gate_proj.weight", c->intermediate_size, H);
        V2("mlp.up_proj.weight", c->intermediate_size, H);
        V2("mlp.down_proj.weight", H, c->intermediate_size);
        return;
    }
    int64_t E = c->n_routed_experts, mi = c->moe_intermediate_size, si = mi * c->n_shared_experts;
    V2("mlp.gate.weight", E, H);
    if (!strcmp(c->topk_method, "noaux_tc")) V1("mlp.gate.e_score_correction_bias", E);
    for (int64_t e = 0; e < E; e++) {
        char r[128];
        snprintf(r, sizeof r, "mlp.experts.%lld.gate_proj.weight", (long long)e);
        V2(r, mi, H);
        snprintf(r, sizeof r, "mlp.experts.%lld.up_proj.weight", (long long)e);
        V2(r, mi, H);
        snprintf(r, sizeof r, "mlp.experts.%lld.down_proj.weight", (long long)e);
        V2(r, H, mi);
    }
    if (si > 0) {
        V2("mlp.shared_experts.gate_proj.weight", si, H);
        V2("mlp.shared_experts.up_proj.weight", si, H);
        V2("mlp.shared_experts.down_proj.weight", H, si);
    }
#undef V1
#undef V2
}

void vs_expected(const ds_config *c, vs_visit fn, void *ctx) {
    fn("model.embed_tokens.weight", 2, c->vocab_size, c->hidden_size, ctx);
    for (int L = 0; L < c->num_hidden_layers; L++) visit_layer(c, L, fn, ctx);
    fn("model.norm.weight", 1, c->hidden_size, 0, ctx);
    if (!c->tie_word_embeddings) fn("lm_head.weight", 2, c->vocab_size, c->hidden_size, ctx);
}

int vs_check_config(const char *path, const ds_config *c) {
    const char *why = NULL;
    if (c->num_hidden_layers < 1) why = "num_hidden_layers must be at least 1";
    else if (c->qk_rope_head_dim % 2) why = "qk_rope_head_dim must be even (RoPE rotates pairs)";
    else if (c->qk_nope_head_dim < 0) why = "qk_nope_head_dim must not be negative";
    else if (c->rms_norm_eps < 0) why = "rms_norm_eps must not be negative";
    else if (strcmp(c->scoring_func, "sigmoid") && strcmp(c->scoring_func, "softmax"))
        why = "scoring_func must be sigmoid or softmax";
    else if (strcmp(c->topk_method, "noaux_tc") && strcmp(c->topk_method, "greedy") &&
             strncmp(c->topk_method, "group_limited", 13)) /* the field may hold it cut to 15 characters */
        why = "topk_method must be noaux_tc, greedy or group_limited_greedy";
    else if (c->rope_yarn && !(c->rope_factor > 0)) why = "rope_scaling.factor must be positive";
    else if (c->first_k_dense_replace > 0 && c->intermediate_size < 1) why = "intermediate_size must be positive";
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
    ds_wsource *ws;
    int values;
    vs_stats *st;
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

int vs_check(ds_wsource *ws, int values, vs_stats *st) {
    memset(st, 0, sizeof *st);
    double t0 = ds_now();
    const ds_config *c = ds_ws_config(ws);
    DS_TRY(vs_check_config(ds_ws_path(ws), c));
    vctx v = {ws, values, st};
    vs_expected(c, visit, &v);
    st->seconds = ds_now() - t0;
    if (st->problems > MAX_REPORTS)
        ds_err("%s: ... and %d more problems", ds_ws_path(ws), st->problems - MAX_REPORTS);
    return st->problems ? DS_EXIT_INPUT : 0;
}
