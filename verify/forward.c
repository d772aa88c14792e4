/* forward.c - the verify forward pass (see forward.h). Layout of activations:
 * row-major [T][...] over all T tokens of all sequences; attention runs per
 * sequence, each starting at position 0.
 *
 * Every weight multiplied by is planned (vf_plan) before it is taken, in the
 * order the pass takes them, so the backend's readers fetch the next weights
 * while the current ones are multiplied: the planner runs ahead through dense
 * layers up to the next MoE layer's routed experts, which are planned once
 * that layer's router has chosen them. Norm weights, the router bias and the
 * embedding rows are small and read directly. */
#include "verify/forward.h"
#include "verify/blocks.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ds_wsource *ws;
    vf_backend *be;
    const ds_config *c;
    const vf_tokens *tk;
    int64_t T;
    int *pos;              /* [T] position of each token in its sequence */
    float *cos_t, *sin_t;  /* [max_len][rope/2] */
    vf_stats *st;
    int plan_layer;        /* next layer to plan (num_hidden_layers: the head) */
    int plan_blocked;      /* waiting for plan_layer's routing */
    double cpu_s[6];       /* --profile: CPU blocks, by PF_* */
} fctx;

enum { PF_NORM, PF_ATTN, PF_SWIGLU, PF_MOE, PF_EMBED, PF_PLAN };
/* Adds the time since *t to block k and restarts *t. */
static void tick(fctx *f, int k, double *t) {
    double now = ds_now();
    f->cpu_s[k] += now - *t;
    *t = now;
}

void vf_tokens_free(vf_tokens *t) {
    free(t->len);
    free(t->tok);
    memset(t, 0, sizeof *t);
}

static float *fbuf(int64_t n) { return xaligned((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static const char *lname(char *buf, size_t cap, int layer, const char *rest) {
    snprintf(buf, cap, "model.layers.%d.%s", layer, rest);
    return buf;
}

/* y[T,N] = x[T,K] . W^T with W = tensor name [N,K], planned before. */
static int linear(fctx *f, const char *name, const float *x, float *y, int64_t M, int64_t N, int64_t K) {
    return vf_linear_w(f->be, name, 0, N, x, y, M, N, K);
}

/* ---- planning: the weights of the pass in the order linear() takes them ---- */

static void plan(fctx *f, const char *name, int64_t n, int64_t k) {
    (void)vf_plan(f->be, name, 0, n, n, k); /* a failure is returned again when linear() takes it */
}

static void plan_l(fctx *f, int L, const char *rest, int64_t n, int64_t k) {
    char nm[256];
    plan(f, lname(nm, sizeof nm, L, rest), n, k);
}

static void plan_mlp(fctx *f, const char *prefix, int64_t I) {
    int64_t H = f->c->hidden_size;
    char nm[256];
    snprintf(nm, sizeof nm, "%s.gate_proj.weight", prefix);
    plan(f, nm, I, H);
    snprintf(nm, sizeof nm, "%s.up_proj.weight", prefix);
    plan(f, nm, I, H);
    snprintf(nm, sizeof nm, "%s.down_proj.weight", prefix);
    plan(f, nm, H, I);
}

static void plan_attention(fctx *f, int L) {
    const ds_config *c = f->c;
    int64_t H = c->hidden_size, nh = c->num_attention_heads, qd = c->qk_nope_head_dim + c->qk_rope_head_dim;
    int64_t kvl = c->kv_lora_rank, dr = c->qk_rope_head_dim;
    if (c->q_lora_rank > 0) {
        plan_l(f, L, "self_attn.q_a_proj.weight", c->q_lora_rank, H);
        plan_l(f, L, "self_attn.q_b_proj.weight", nh * qd, c->q_lora_rank);
    } else {
        plan_l(f, L, "self_attn.q_proj.weight", nh * qd, H);
    }
    plan_l(f, L, "self_attn.kv_a_proj_with_mqa.weight", kvl + dr, H);
    plan_l(f, L, "self_attn.kv_b_proj.weight", nh * (c->qk_nope_head_dim + c->v_head_dim), kvl);
    plan_l(f, L, "self_attn.o_proj.weight", H, nh * c->v_head_dim);
}

static const char *head_name(fctx *f) {
    if (!ds_ws_has(f->ws, "lm_head.weight") && f->c->tie_word_embeddings) return "model.embed_tokens.weight";
    return "lm_head.weight";
}

/* Rows of the head read and multiplied at a time (it can be GBs). */
static int64_t head_chunk(const ds_config *c) {
    int64_t chunk = ((int64_t)256 << 20) / ((int64_t)c->hidden_size * 4);
    if (chunk < 1) chunk = 1;
    if (chunk > c->vocab_size) chunk = c->vocab_size;
    return chunk;
}

/* Plans on from plan_layer until a MoE layer's routed experts (unknown until
 * its router has run) or the end of the pass. */
static void plan_ahead(fctx *f) {
    const ds_config *c = f->c;
    while (!f->plan_blocked && f->plan_layer <= c->num_hidden_layers) {
        int L = f->plan_layer;
        if (L == c->num_hidden_layers) {
            int64_t V = c->vocab_size, H = c->hidden_size, chunk = head_chunk(c);
            for (int64_t v0 = 0; v0 < V; v0 += chunk)
                (void)vf_plan(f->be, head_name(f), v0, V - v0 < chunk ? V - v0 : chunk, V, H);
            f->plan_layer++;
            break;
        }
        plan_attention(f, L);
        if (ds_config_is_moe_layer(c, L)) {
            plan_l(f, L, "mlp.gate.weight", c->n_routed_experts, c->hidden_size);
            f->plan_blocked = 1;
        } else {
            char pre[256];
            plan_mlp(f, lname(pre, sizeof pre, L, "mlp"), c->intermediate_size);
            f->plan_layer++;
        }
    }
}

/* Layer L's router has chosen: its experts with count[e] > 0 in ascending
 * order, its shared experts, then on. */
static void plan_routed(fctx *f, int L, const int64_t *count) {
    const ds_config *c = f->c;
    char pre[256];
    if (!f->plan_blocked || f->plan_layer != L) return;
    for (int64_t e = 0; e < c->n_routed_experts; e++) {
        if (!count[e]) continue;
        snprintf(pre, sizeof pre, "model.layers.%d.mlp.experts.%lld", L, (long long)e);
        plan_mlp(f, pre, c->moe_intermediate_size);
    }
    if (c->n_shared_experts > 0)
        plan_mlp(f, lname(pre, sizeof pre, L, "mlp.shared_experts"),
                 (int64_t)c->moe_intermediate_size * c->n_shared_experts);
    f->plan_blocked = 0;
    f->plan_layer = L + 1;
    plan_ahead(f);
}

static int norm(fctx *f, const char *name, const float *x, float *y, int64_t rows, int64_t n) {
    double t = ds_now();
    float *w;
    DS_TRY(ds_ws_load(f->ws, name, n, 1, &w));
    vf_rmsnorm(x, w, y, rows, n, f->c->rms_norm_eps);
    free(w);
    tick(f, PF_NORM, &t);
    return 0;
}

/* x += MLA(rmsnorm(x)) */
static int attention(fctx *f, int L, float *x) {
    const ds_config *c = f->c;
    int64_t T = f->T, H = c->hidden_size, nh = c->num_attention_heads;
    int dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim, dv = c->v_head_dim, half = dr / 2;
    int64_t qd = dn + dr, kvl = c->kv_lora_rank;
    char nm[256];
    int rc = 0;
    float *h = fbuf(T * H), *q = fbuf(T * nh * qd), *kva = fbuf(T * (kvl + dr));
    float *ckv = fbuf(T * kvl), *kpe = fbuf(T * dr), *kv = fbuf(T * nh * (dn + dv));
    float *att = fbuf(T * nh * dv), *o = fbuf(T * H), *qa = NULL;

    if ((rc = norm(f, lname(nm, sizeof nm, L, "input_layernorm.weight"), x, h, T, H))) goto out;
    if (c->q_lora_rank > 0) {
        int64_t r = c->q_lora_rank;
        qa = fbuf(T * r);
        if ((rc = linear(f, lname(nm, sizeof nm, L, "self_attn.q_a_proj.weight"), h, qa, T, r, H)) ||
            (rc = norm(f, lname(nm, sizeof nm, L, "self_attn.q_a_layernorm.weight"), qa, qa, T, r)) ||
            (rc = linear(f, lname(nm, sizeof nm, L, "self_attn.q_b_proj.weight"), qa, q, T, nh * qd, r)))
            goto out;
    } else if ((rc = linear(f, lname(nm, sizeof nm, L, "self_attn.q_proj.weight"), h, q, T, nh * qd, H))) {
        goto out;
    }
    if ((rc = linear(f, lname(nm, sizeof nm, L, "self_attn.kv_a_proj_with_mqa.weight"), h, kva, T, kvl + dr, H)))
        goto out;
    for (int64_t t = 0; t < T; t++) { /* split into the latent and the shared rope key */
        memcpy(ckv + t * kvl, kva + t * (kvl + dr), (size_t)kvl * sizeof(float));
        memcpy(kpe + t * dr, kva + t * (kvl + dr) + kvl, (size_t)dr * sizeof(float));
    }
    if ((rc = norm(f, lname(nm, sizeof nm, L, "self_attn.kv_a_layernorm.weight"), ckv, ckv, T, kvl)) ||
        (rc = linear(f, lname(nm, sizeof nm, L, "self_attn.kv_b_proj.weight"), ckv, kv, T, nh * (dn + dv), kvl)))
        goto out;
    double tp = ds_now();
    for (int64_t t = 0; t < T; t++) {
        const float *cr = f->cos_t + (int64_t)f->pos[t] * half, *sr = f->sin_t + (int64_t)f->pos[t] * half;
        for (int64_t hh = 0; hh < nh; hh++) vf_rope_apply(q + (t * nh + hh) * qd + dn, half, cr, sr);
        vf_rope_apply(kpe + t * dr, half, cr, sr);
    }
    double scale = vf_softmax_scale(c);
    for (int64_t s = 0, t0 = 0; s < f->tk->n_seq; t0 += f->tk->len[s], s++)
        vf_attention(q + t0 * nh * qd, kv + t0 * nh * (dn + dv), kpe + t0 * dr, att + t0 * nh * dv,
                     f->tk->len[s], (int)nh, dn, dr, dv, scale);
    tick(f, PF_ATTN, &tp);
    if ((rc = linear(f, lname(nm, sizeof nm, L, "self_attn.o_proj.weight"), att, o, T, H, nh * dv))) goto out;
    for (int64_t i = 0; i < T * H; i++) x[i] += o[i];
out:
    free(h); free(q); free(kva); free(ckv); free(kpe); free(kv); free(att); free(o); free(qa);
    return rc;
}

/* y[M,H] = down(silu(gate(x)) * up(x)) with weights <prefix>.{gate,up,down}_proj.weight. */
static int mlp(fctx *f, const char *prefix, const float *x, float *y, int64_t M, int64_t I) {
    int64_t H = f->c->hidden_size;
    char nm[256];
    float *g = fbuf(M * I), *u = fbuf(M * I);
    int rc;
    snprintf(nm, sizeof nm, "%s.gate_proj.weight", prefix);
    if ((rc = linear(f, nm, x, g, M, I, H))) goto out;
    snprintf(nm, sizeof nm, "%s.up_proj.weight", prefix);
    if ((rc = linear(f, nm, x, u, M, I, H))) goto out;
    double t = ds_now();
    vf_swiglu(g, u, M * I);
    tick(f, PF_SWIGLU, &t);
    snprintf(nm, sizeof nm, "%s.down_proj.weight", prefix);
    rc = linear(f, nm, g, y, M, H, I);
out:
    free(g);
    free(u);
    return rc;
}

/* Routed experts plus shared experts of one MoE layer: y = routed(h) + shared(h). */
static int moe(fctx *f, int L, const float *h, float *y) {
    const ds_config *c = f->c;
    int64_t T = f->T, H = c->hidden_size, E = c->n_routed_experts, K = c->num_experts_per_tok;
    char nm[256], pre[256];
    int rc = 0;
    float *logits = fbuf(T * E), *bias = NULL, *rw = fbuf(T * K), *ye = NULL, *xe = NULL;
    int *ri = xmalloc((size_t)(T * K) * sizeof(int)), *rows = xmalloc((size_t)T * sizeof(int));
    float *rsel = xmalloc((size_t)T * sizeof(float));
    vf_route_params rp;
    vf_route_params_from_config(c, &rp);

    if ((rc = linear(f, lname(nm, sizeof nm, L, "mlp.gate.weight"), h, logits, T, E, H))) goto out;
    double tp = ds_now();
    lname(nm, sizeof nm, L, "mlp.gate.e_score_correction_bias");
    if (ds_ws_has(f->ws, nm) && (rc = ds_ws_load(f->ws, nm, E, 1, &bias))) goto out;
    {
        float *scratch = fbuf(2 * E + rp.n_group);
        for (int64_t t = 0; t < T; t++) vf_route(&rp, logits + t * E, bias, ri + t * K, rw + t * K, scratch);
        free(scratch);
        int64_t *count = xcalloc((size_t)(E > 0 ? E : 1), sizeof *count);
        for (int64_t i = 0; i < T * K; i++)
            if (ri[i] >= 0 && ri[i] < E) count[ri[i]]++;
        tick(f, PF_MOE, &tp);
        plan_routed(f, L, count);
        tick(f, PF_PLAN, &tp);
        free(count);
    }
    memset(y, 0, (size_t)(T * H) * sizeof(float));
    xe = fbuf(T * H);
    ye = fbuf(T * H);
    for (int64_t e = 0; e < E; e++) { /* ascending, as both references accumulate */
        int64_t n = 0;
        for (int64_t t = 0; t < T; t++)
            for (int64_t k = 0; k < K; k++)
                if (ri[t * K + k] == e) { rows[n] = (int)t; rsel[n] = rw[t * K + k]; n++; }
        if (!n) continue;
        for (int64_t i = 0; i < n; i++) memcpy(xe + i * H, h + (int64_t)rows[i] * H, (size_t)H * sizeof(float));
        snprintf(pre, sizeof pre, "model.layers.%d.mlp.experts.%lld", L, (long long)e);
        tick(f, PF_MOE, &tp);
        if ((rc = mlp(f, pre, xe, ye, n, c->moe_intermediate_size))) goto out;
        tp = ds_now();
        f->st->experts_loaded++;
        for (int64_t i = 0; i < n; i++) {
            float *yr = y + (int64_t)rows[i] * H, *er = ye + i * H;
            for (int64_t j = 0; j < H; j++) yr[j] += er[j] * rsel[i];
        }
    }
    tick(f, PF_MOE, &tp);
    f->st->expert_slots += E;
    if (c->n_shared_experts > 0) {
        snprintf(pre, sizeof pre, "model.layers.%d.mlp.shared_experts", L);
        if ((rc = mlp(f, pre, h, ye, T, (int64_t)c->moe_intermediate_size * c->n_shared_experts))) goto out;
        for (int64_t i = 0; i < T * H; i++) y[i] += ye[i];
    }
out:
    free(logits); free(bias); free(rw); free(ye); free(xe); free(ri); free(rows); free(rsel);
    return rc;
}

/* x += FFN(rmsnorm(x)) */
static int ffn(fctx *f, int L, float *x) {
    int64_t T = f->T, H = f->c->hidden_size;
    char nm[256];
    float *h = fbuf(T * H), *y = fbuf(T * H);
    int rc = norm(f, lname(nm, sizeof nm, L, "post_attention_layernorm.weight"), x, h, T, H);
    if (!rc) {
        if (ds_config_is_moe_layer(f->c, L)) rc = moe(f, L, h, y);
        else rc = mlp(f, lname(nm, sizeof nm, L, "mlp"), h, y, T, f->c->intermediate_size);
    }
    if (!rc) for (int64_t i = 0; i < T * H; i++) x[i] += y[i];
    free(h);
    free(y);
    return rc;
}

/* logits = rmsnorm(x) . lm_head^T, the head read in row chunks (it can be GBs). */
static int head(fctx *f, float *x, float *logits) {
    const ds_config *c = f->c;
    int64_t T = f->T, H = c->hidden_size, V = c->vocab_size;
    const char *hn = head_name(f);
    ds_ws_tinfo ti;
    DS_TRY(ds_ws_info(f->ws, hn, &ti));
    if (ti.rows != V || ti.cols != H)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape %lldx%lld, expected %lldx%lld from config.json",
                       ds_ws_path(f->ws), hn, (long long)ti.rows, (long long)ti.cols, (long long)V, (long long)H);
    DS_TRY(norm(f, "model.norm.weight", x, x, T, H));
    int64_t chunk = head_chunk(c);
    float *part = fbuf(T * chunk);
    int rc = 0;
    for (int64_t v0 = 0; v0 < V && !rc; v0 += chunk) {
        int64_t n = V - v0 < chunk ? V - v0 : chunk;
        if ((rc = vf_linear_w(f->be, hn, v0, V, x, part, T, n, H))) break;
        for (int64_t t = 0; t < T; t++) memcpy(logits + t * V + v0, part + t * n, (size_t)n * sizeof(float));
    }
    free(part);
    return rc;
}

static int embed(fctx *f, float *x) {
    const ds_config *c = f->c;
    const char *en = "model.embed_tokens.weight";
    ds_ws_tinfo ti;
    DS_TRY(ds_ws_info(f->ws, en, &ti));
    if (ti.rows != c->vocab_size || ti.cols != c->hidden_size)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape %lldx%lld, expected %dx%d from config.json",
                       ds_ws_path(f->ws), en, (long long)ti.rows, (long long)ti.cols, c->vocab_size, c->hidden_size);
    for (int64_t t = 0; t < f->T; t++)
        DS_TRY(ds_ws_read_rows(f->ws, en, f->tk->tok[t], 1, x + t * c->hidden_size));
    return 0;
}

static int64_t max3(int64_t a, int64_t b, int64_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

/* Values of the largest weight (or head chunk) the pass multiplies by. */
static int64_t max_weight(const ds_config *c) {
    int64_t H = c->hidden_size, nh = c->num_attention_heads, qd = c->qk_nope_head_dim + c->qk_rope_head_dim;
    int64_t attn = max3((c->q_lora_rank > 0 ? c->q_lora_rank : nh * qd) * H, nh * qd * c->q_lora_rank,
                        (int64_t)(c->kv_lora_rank + c->qk_rope_head_dim) * H);
    attn = max3(attn, nh * (c->qk_nope_head_dim + c->v_head_dim) * c->kv_lora_rank, H * nh * c->v_head_dim);
    int64_t mi = c->moe_intermediate_size, ffn = max3((int64_t)c->intermediate_size * H,
                                                      (int64_t)c->n_routed_experts * H,
                                                      mi * (c->n_shared_experts > 1 ? c->n_shared_experts : 1) * H);
    return max3(attn, ffn, head_chunk(c) * H);
}

int vf_forward(ds_wsource *ws, vf_backend *be, const vf_tokens *tk, float *logits, vf_stats *st) {
    const ds_config *c = ds_ws_config(ws);
    double t0 = ds_now();
    uint64_t bytes0 = ds_ws_bytes_read(ws);
    fctx f = {.ws = ws, .be = be, .c = c, .tk = tk, .T = tk->total, .st = st};
    st->experts_loaded = st->expert_slots = 0;
    int max_len = 0;
    for (int s = 0; s < tk->n_seq; s++) if (tk->len[s] > max_len) max_len = tk->len[s];
    for (int64_t t = 0; t < tk->total; t++)
        if (tk->tok[t] < 0 || tk->tok[t] >= c->vocab_size)
            return ds_fail(DS_EXIT_INPUT, "token %d at index %lld is outside the vocabulary of %d", tk->tok[t],
                           (long long)t, c->vocab_size);
    if (c->qk_rope_head_dim % 2)
        return ds_fail(DS_EXIT_INPUT, "%s: qk_rope_head_dim %d is odd", ds_ws_path(ws), c->qk_rope_head_dim);
    f.pos = xmalloc((size_t)(tk->total > 0 ? tk->total : 1) * sizeof(int));
    for (int s = 0, t = 0; s < tk->n_seq; s++)
        for (int p = 0; p < tk->len[s]; p++) f.pos[t++] = p;
    int half = c->qk_rope_head_dim / 2;
    f.cos_t = fbuf((int64_t)max_len * half);
    f.sin_t = fbuf((int64_t)max_len * half);
    vf_rope_tables(c, max_len, f.cos_t, f.sin_t);

    float *x = fbuf(f.T * c->hidden_size);
    int rc = vf_backend_begin(be, ws, max_weight(c));
    if (!rc) {
        double tp = ds_now();
        plan_ahead(&f);
        tick(&f, PF_PLAN, &tp);
        rc = embed(&f, x);
        tick(&f, PF_EMBED, &tp);
    }
    for (int L = 0; !rc && L < c->num_hidden_layers; L++) {
        int64_t before = st->experts_loaded;
        if (!(rc = attention(&f, L, x))) rc = ffn(&f, L, x);
        if (st->verbose && !rc)
            fprintf(stderr, "verify: %s: layer %d/%d done (%lld experts read), %.1f s\n", ds_ws_path(ws), L + 1,
                    c->num_hidden_layers, (long long)(st->experts_loaded - before), ds_now() - t0);
    }
    if (!rc) rc = head(&f, x, logits);
    free(x);
    free(f.pos);
    free(f.cos_t);
    free(f.sin_t);
    st->seconds = ds_now() - t0;
    st->bytes_read = ds_ws_bytes_read(ws) - bytes0;
    if (be->profile && !rc) {
        vf_backend_profile(be, st->seconds, st->bytes_read, stderr);
        fprintf(stderr, "verify: profile: CPU blocks: norms %.3f s, RoPE + attention %.3f s, SwiGLU %.3f s, "
                "MoE routing and mixing %.3f s, embedding %.3f s, planning %.3f s\n", f.cpu_s[PF_NORM],
                f.cpu_s[PF_ATTN], f.cpu_s[PF_SWIGLU], f.cpu_s[PF_MOE], f.cpu_s[PF_EMBED], f.cpu_s[PF_PLAN]);
    }
    vf_backend_end(be);
    return rc;
}
