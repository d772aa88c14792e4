/* forward.c - the verify forward pass (see forward.h). Layout of activations:
 * row-major [T][...] over all T tokens of all sequences; attention runs per
 * sequence, each starting at position 0.
 *
 * Every weight multiplied by is a step of one list (below: layer_steps,
 * moe_steps, head_steps), planned before it is taken, in the order the pass
 * takes them, so the backend's readers fetch the next weights while the
 * current ones are multiplied: the planner runs ahead through dense layers up
 * to the next MoE layer's routed experts, which are planned once that layer's
 * router has chosen them. Norm weights (the indexer's k_norm too), the router
 * bias and the embedding rows are small and read directly. */
#include "verify/forward.h"
#include "verify/blocks.h"
#include "verify/dsa.h"
#include "formats/schema.h"
#include "common/bug.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fstep fstep;

typedef struct {
    ds_ws_source *ws;
    ds_vf_backend *be;
    const ds_config *c;
    const ds_vf_tokens *tk;
    int64_t T;
    int dsa;               /* DeepSeek Sparse Attention (deepseek_v32) */
    int *pos;              /* [T] position of each token in its sequence */
    float *cos_t, *sin_t;  /* [max_len][rope/2] */
    ds_vf_stats *st;
    ds_vf_step_visit visit;   /* ds_vf_forward_steps: steps go to visit(), not to the stream */
    void *visit_ctx;
    fstep *q;              /* the steps planned: [qhead, qlen) not taken yet */
    int qhead, qlen, qcap;
    int plan_layer;        /* next layer to plan (num_hidden_layers: the head) */
    int plan_blocked;      /* waiting for plan_layer's routing */
    double cpu_s[7];       /* --profile: CPU blocks, by PF_* */
} fctx;

enum { PF_NORM, PF_ATTN, PF_SWIGLU, PF_MOE, PF_EMBED, PF_PLAN, PF_INDEX };
/* Adds the time since *t to block k and restarts *t. */
static void tick(fctx *f, int k, double *t) {
    double now = ds_now();
    f->cpu_s[k] += now - *t;
    *t = now;
}

void ds_vf_tokens_free(ds_vf_tokens *t) {
    free(t->len);
    free(t->tok);
    memset(t, 0, sizeof *t);
}

static float *fbuf(int64_t n) { return xaligned((size_t)(n > 0 ? n : 1) * sizeof(float)); }

/* Forward-pass weight w's name in layer L (routed expert e) from the model schema. */
static const char *wname(char *buf, size_t cap, ds_weight w, int L, int e) {
    return ds_schema_weight_name(w, L, e, buf, cap);
}

/* ---- the step list: every weight the pass multiplies by, in that order ----
 *
 * The order of operations is written once, here: the planner walks these
 * functions ahead of the pass and announces each step's weight to the read-ahead
 * stream (ds_vf_plan); the code that runs a layer takes the steps back one by one
 * from the front of the same queue (take), naming only what it computes. A
 * step taken out of its order, or with another shape, is a bug, reported as
 * such, never a silent direct read. */

enum { MLP_DENSE = -1, MLP_SHARED = -2 }; /* an MLP step's expert: >= 0 a routed expert */

/* A step is one forward-pass weight of the model schema (formats/schema.h):
 * the schema gives its name pattern and shape, the list below its place. */
struct fstep {
    ds_weight w;
    int layer;                  /* num_hidden_layers for the head */
    int expert;                 /* routed expert, else -1 (dense and shared MLPs are weights of their own) */
    int64_t r0, n, rows, cols;  /* rows [r0, r0+n) of the [rows, cols] weight */
    char name[160];
};

/* gate, up and down of an MLP: the dense layer's, a routed expert's or the shared experts'. */
enum { MLP_GATE, MLP_UP, MLP_DOWN };
static ds_weight mlp_weight(int expert, int which) {
    static const ds_weight w[3][3] = {
        {DS_W_GATE, DS_W_UP, DS_W_DOWN},
        {DS_W_SHARED_GATE, DS_W_SHARED_UP, DS_W_SHARED_DOWN},
        {DS_W_EXPERT_GATE, DS_W_EXPERT_UP, DS_W_EXPERT_DOWN},
    };
    return w[expert == MLP_DENSE ? 0 : expert == MLP_SHARED ? 1 : 2][which];
}

static const char *head_name(fctx *f) {
    const char *head = ds_schema_weight(DS_W_HEAD)->hf;
    if ((!f->ws || !ds_ws_has(f->ws, head)) && f->c->tie_word_embeddings) return ds_schema_weight(DS_W_EMBED)->hf;
    return head;
}

/* Rows of the head read and multiplied at a time (it can be GBs). */
static int64_t head_chunk(const ds_config *c) {
    int64_t chunk = ((int64_t)256 << 20) / ((int64_t)c->hidden_size * 4);
    if (chunk < 1) chunk = 1;
    if (chunk > c->vocab_size) chunk = c->vocab_size;
    return chunk;
}

/* Appends a step to the queue and announces its weight to the stream. */
static void push(fctx *f, ds_weight w, int L, int expert, int64_t r0, int64_t n) {
    if (f->qhead == f->qlen) f->qhead = f->qlen = 0; /* all taken: start over */
    if (f->qlen == f->qcap) {
        f->qcap = f->qcap ? 2 * f->qcap : 64;
        fstep *q = xmalloc(sizeof *q * (size_t)f->qcap);
        if (f->qlen) memcpy(q, f->q, sizeof *q * (size_t)f->qlen);
        free(f->q);
        f->q = q;
    }
    fstep *s = &f->q[f->qlen++];
    int64_t N, K;
    ds_schema_weight_shape(f->c, w, &N, &K);
    *s = (fstep){.w = w, .layer = L, .expert = expert, .r0 = r0, .n = n > 0 ? n : N, .rows = N, .cols = K};
    if (w == DS_W_HEAD) snprintf(s->name, sizeof s->name, "%s", head_name(f));
    else wname(s->name, sizeof s->name, w, L, expert);
    if (f->visit) { /* listing only */
        f->visit(s->name, s->r0, s->n, s->rows, s->cols, f->visit_ctx);
        f->qlen--;
        return;
    }
    f->st->weights_planned++;
    (void)ds_vf_plan(f->be, s->name, s->r0, s->n, s->rows, s->cols); /* a failure comes back when it is taken */
}

static void push_mlp(fctx *f, int L, int expert) {
    int e = expert >= 0 ? expert : -1;
    push(f, mlp_weight(expert, MLP_GATE), L, e, 0, 0);
    push(f, mlp_weight(expert, MLP_UP), L, e, 0, 0);
    push(f, mlp_weight(expert, MLP_DOWN), L, e, 0, 0);
}

/* Layer L, in the order the pass runs it: attention, then the dense MLP, or a
 * MoE layer's router; its routed experts (known once the router has run) and
 * shared experts follow in moe_steps. */
static void layer_steps(fctx *f, int L) {
    const ds_config *c = f->c;
    if (c->q_lora_rank > 0) {
        push(f, DS_W_Q_A, L, -1, 0, 0);
        push(f, DS_W_Q_B, L, -1, 0, 0);
    } else {
        push(f, DS_W_Q, L, -1, 0, 0);
    }
    push(f, DS_W_KV_A, L, -1, 0, 0);
    push(f, DS_W_KV_B, L, -1, 0, 0);
    if (f->dsa) {
        push(f, DS_W_IX_Q, L, -1, 0, 0);
        push(f, DS_W_IX_K, L, -1, 0, 0);
        push(f, DS_W_IX_W, L, -1, 0, 0);
    }
    push(f, DS_W_O, L, -1, 0, 0);
    if (ds_config_is_moe_layer(c, L)) push(f, DS_W_ROUTER, L, -1, 0, 0);
    else push_mlp(f, L, MLP_DENSE);
}

/* Layer L's router has chosen: its experts with count[e] > 0 in ascending
 * order (the order moe() runs them), then its shared experts. */
static void moe_steps(fctx *f, int L, const int64_t *count) {
    for (int64_t e = 0; e < f->c->n_routed_experts; e++)
        if (count[e]) push_mlp(f, L, (int)e);
    if (f->c->n_shared_experts > 0) push_mlp(f, L, MLP_SHARED);
}

static void head_steps(fctx *f) {
    int64_t V = f->c->vocab_size, chunk = head_chunk(f->c);
    for (int64_t v0 = 0; v0 < V; v0 += chunk)
        push(f, DS_W_HEAD, f->c->num_hidden_layers, -1, v0, V - v0 < chunk ? V - v0 : chunk);
}

/* Plans on from plan_layer until a MoE layer's routed experts (unknown until
 * its router has run) or the end of the pass. */
static void plan_ahead(fctx *f) {
    while (!f->plan_blocked && f->plan_layer <= f->c->num_hidden_layers) {
        int L = f->plan_layer;
        if (L == f->c->num_hidden_layers) {
            head_steps(f);
            f->plan_layer++;
            break;
        }
        layer_steps(f, L);
        if (ds_config_is_moe_layer(f->c, L)) f->plan_blocked = 1;
        else f->plan_layer++;
    }
}

/* Layer L's router has chosen: plan its experts, then on. */
static void plan_routed(fctx *f, int L, const int64_t *count) {
    if (!f->plan_blocked || f->plan_layer != L) return;
    moe_steps(f, L, count);
    f->plan_blocked = 0;
    f->plan_layer = L + 1;
    plan_ahead(f);
}

void ds_vf_forward_steps(const ds_config *c, ds_vf_step_visit fn, void *ctx) {
    ds_vf_stats st = {0};
    fctx f = {.c = c, .st = &st, .dsa = ds_vf_dsa_enabled(c), .visit = fn, .visit_ctx = ctx};
    int64_t *all = xmalloc(sizeof *all * (size_t)(c->n_routed_experts > 0 ? c->n_routed_experts : 1));
    for (int64_t e = 0; e < c->n_routed_experts; e++) all[e] = 1;
    while (f.plan_layer <= c->num_hidden_layers) {
        plan_ahead(&f);
        if (f.plan_blocked) plan_routed(&f, f.plan_layer, all);
    }
    free(all);
    free(f.q);
}

/* A step taken that is not the plan's next: the step list and the code that
 * runs it disagree, a bug of the pass itself (never of the input). */
__attribute__((noreturn)) static void step_bug(const fctx *f, const char *what, ds_weight w, int L, int expert) {
    const fstep *s = f->qhead < f->qlen ? &f->q[f->qhead] : NULL;
    DS_BUG("forward pass %s: step %s of layer %d (expert %d) taken, the plan's next is %s", what,
           w == DS_W_HEAD ? "lm_head chunk" : ds_schema_weight(w)->hf, L, expert, s ? s->name : "(none)");
}

/* y[M,N] = x[M,K] . W^T with W the next planned step's weight, which must be
 * (w, L, expert) of shape [N, K]. */
static int take(fctx *f, ds_weight w, int L, int expert, const float *x, float *y, int64_t M, int64_t N, int64_t K) {
    if (f->qhead == f->qlen) step_bug(f, "with nothing planned", w, L, expert);
    fstep *s = &f->q[f->qhead];
    if (s->w != w || s->layer != L || s->expert != expert) step_bug(f, "out of the planned order", w, L, expert);
    if (s->n != N || s->cols != K) step_bug(f, "with a shape unlike the plan's", w, L, expert);
    f->qhead++;
    f->st->weights_taken++;
    return ds_vf_linear_w(f->be, s->name, s->r0, s->rows, x, y, M, N, K);
}

static int norm(fctx *f, const char *name, const float *x, float *y, int64_t rows, int64_t n) {
    double t = ds_now();
    float *w;
    DS_TRY(ds_ws_load(f->ws, name, n, 1, &w));
    ds_vf_rmsnorm(x, w, y, rows, n, f->c->rms_norm_eps);
    free(w);
    tick(f, PF_NORM, &t);
    return 0;
}

/* DeepSeek Sparse Attention's indexer for layer L (dsa.h): the keys each query
 * keeps, sel [T][kk] per sequence at sel + sel_off[s]. h: the attention input,
 * qa: q_a_layernorm's output. */
static int indexer(fctx *f, int L, const float *h, const float *qa, int *sel) {
    const ds_config *c = f->c;
    int64_t T = f->T, H = c->hidden_size, r = c->q_lora_rank, nih = c->index_n_heads, id = c->index_head_dim;
    int half = c->qk_rope_head_dim / 2;
    char nm[256];
    float *iq = fbuf(T * nih * id), *ik = fbuf(T * id), *iw = fbuf(T * nih), *kw = NULL, *kb = NULL;
    int rc;
    if ((rc = take(f, DS_W_IX_Q, L, -1, qa, iq, T, nih * id, r)) || (rc = take(f, DS_W_IX_K, L, -1, h, ik, T, id, H)))
        goto out;
    double t = ds_now();
    if ((rc = ds_ws_load(f->ws, wname(nm, sizeof nm, DS_W_IX_K_NORM, L, -1), id, 1, &kw)) ||
        (rc = ds_ws_load(f->ws, wname(nm, sizeof nm, DS_W_IX_K_NORM_BIAS, L, -1), id, 1, &kb)))
        goto out;
    ds_vf_layernorm(ik, kw, kb, ik, T, id, DS_VF_DSA_KNORM_EPS);
    tick(f, PF_INDEX, &t);
    if ((rc = take(f, DS_W_IX_W, L, -1, h, iw, T, nih, H))) goto out;
    t = ds_now();
    float wscale = (float)(1.0 / sqrt((double)nih));
    for (int64_t i = 0; i < T * nih; i++) iw[i] *= wscale; /* weights_proj(x).float() * n_heads^-0.5 */
    for (int64_t tt = 0; tt < T; tt++) { /* RoPE, half-split, on the first qk_rope_head_dim values */
        const float *cr = f->cos_t + (int64_t)f->pos[tt] * half, *sr = f->sin_t + (int64_t)f->pos[tt] * half;
        for (int64_t hh = 0; hh < nih; hh++) ds_vf_rope_apply_half(iq + (tt * nih + hh) * id, half, cr, sr);
        ds_vf_rope_apply_half(ik + tt * id, half, cr, sr);
    }
    for (int64_t s = 0, t0 = 0, off = 0; s < f->tk->n_seq; t0 += f->tk->len[s], s++) {
        int S = f->tk->len[s], kk = c->index_topk < S ? c->index_topk : S;
        ds_vf_dsa_select(iq + t0 * nih * id, ik + t0 * id, iw + t0 * nih, S, (int)nih, (int)id, c->index_topk, sel + off,
                         &f->st->dsa_min_gap);
        off += (int64_t)S * kk;
    }
    tick(f, PF_INDEX, &t);
out:
    free(iq); free(ik); free(iw); free(kw); free(kb);
    return rc;
}

/* x += MLA(rmsnorm(x)), over the keys the indexer selects with DSA */
static int attention(fctx *f, int L, float *x) {
    const ds_config *c = f->c;
    int64_t T = f->T, H = c->hidden_size, nh = c->num_attention_heads;
    int dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim, dv = c->v_head_dim, half = dr / 2;
    int64_t qd = dn + dr, kvl = c->kv_lora_rank;
    char nm[256];
    int rc = 0, *sel = NULL;
    float *h = fbuf(T * H), *q = fbuf(T * nh * qd), *kva = fbuf(T * (kvl + dr));
    float *ckv = fbuf(T * kvl), *kpe = fbuf(T * dr), *kv = fbuf(T * nh * (dn + dv));
    float *att = fbuf(T * nh * dv), *o = fbuf(T * H), *qa = NULL;

    if ((rc = norm(f, wname(nm, sizeof nm, DS_W_ATTN_NORM, L, -1), x, h, T, H))) goto out;
    if (c->q_lora_rank > 0) {
        int64_t r = c->q_lora_rank;
        qa = fbuf(T * r);
        if ((rc = take(f, DS_W_Q_A, L, -1, h, qa, T, r, H)) ||
            (rc = norm(f, wname(nm, sizeof nm, DS_W_Q_NORM, L, -1), qa, qa, T, r)) ||
            (rc = take(f, DS_W_Q_B, L, -1, qa, q, T, nh * qd, r)))
            goto out;
    } else if ((rc = take(f, DS_W_Q, L, -1, h, q, T, nh * qd, H))) {
        goto out;
    }
    if ((rc = take(f, DS_W_KV_A, L, -1, h, kva, T, kvl + dr, H))) goto out;
    for (int64_t t = 0; t < T; t++) { /* split into the latent and the shared rope key */
        memcpy(ckv + t * kvl, kva + t * (kvl + dr), (size_t)kvl * sizeof(float));
        memcpy(kpe + t * dr, kva + t * (kvl + dr) + kvl, (size_t)dr * sizeof(float));
    }
    if ((rc = norm(f, wname(nm, sizeof nm, DS_W_KV_NORM, L, -1), ckv, ckv, T, kvl)) ||
        (rc = take(f, DS_W_KV_B, L, -1, ckv, kv, T, nh * (dn + dv), kvl)))
        goto out;
    if (f->dsa) {
        int64_t n = 0;
        for (int s = 0; s < f->tk->n_seq; s++)
            n += (int64_t)f->tk->len[s] * (c->index_topk < f->tk->len[s] ? c->index_topk : f->tk->len[s]);
        sel = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
        if ((rc = indexer(f, L, h, qa, sel))) goto out;
    }
    double tp = ds_now();
    for (int64_t t = 0; t < T; t++) {
        const float *cr = f->cos_t + (int64_t)f->pos[t] * half, *sr = f->sin_t + (int64_t)f->pos[t] * half;
        for (int64_t hh = 0; hh < nh; hh++) ds_vf_rope_apply(q + (t * nh + hh) * qd + dn, half, cr, sr);
        ds_vf_rope_apply(kpe + t * dr, half, cr, sr);
    }
    double scale = ds_vf_softmax_scale(c);
    for (int64_t s = 0, t0 = 0, off = 0; s < f->tk->n_seq; t0 += f->tk->len[s], s++) {
        int S = f->tk->len[s], kk = c->index_topk < S ? c->index_topk : S;
        ds_vf_attention_sel(q + t0 * nh * qd, kv + t0 * nh * (dn + dv), kpe + t0 * dr, att + t0 * nh * dv, S, (int)nh,
                            dn, dr, dv, scale, sel ? sel + off : NULL, kk);
        off += (int64_t)S * kk;
    }
    tick(f, PF_ATTN, &tp);
    if ((rc = take(f, DS_W_O, L, -1, att, o, T, H, nh * dv))) goto out;
    for (int64_t i = 0; i < T * H; i++) x[i] += o[i];
out:
    free(h); free(q); free(kva); free(ckv); free(kpe); free(kv); free(att); free(o); free(qa); free(sel);
    return rc;
}

/* y[M,H] = down(silu(gate(x)) * up(x)): the dense MLP of layer L, its routed
 * expert e, or its shared experts (expert MLP_DENSE, e, MLP_SHARED). */
static int mlp(fctx *f, int L, int expert, const float *x, float *y, int64_t M) {
    int64_t H = f->c->hidden_size, I, K;
    ds_schema_weight_shape(f->c, mlp_weight(expert, MLP_GATE), &I, &K);
    int e = expert >= 0 ? expert : -1;
    float *g = fbuf(M * I), *u = fbuf(M * I);
    int rc;
    if ((rc = take(f, mlp_weight(expert, MLP_GATE), L, e, x, g, M, I, H)) ||
        (rc = take(f, mlp_weight(expert, MLP_UP), L, e, x, u, M, I, H)))
        goto out;
    double t = ds_now();
    ds_vf_swiglu(g, u, M * I);
    tick(f, PF_SWIGLU, &t);
    rc = take(f, mlp_weight(expert, MLP_DOWN), L, e, g, y, M, H, I);
out:
    free(g);
    free(u);
    return rc;
}

/* Routed experts plus shared experts of one MoE layer: y = routed(h) + shared(h). */
static int moe(fctx *f, int L, const float *h, float *y) {
    const ds_config *c = f->c;
    int64_t T = f->T, H = c->hidden_size, E = c->n_routed_experts, K = c->num_experts_per_tok;
    char nm[256];
    int rc = 0;
    float *logits = fbuf(T * E), *bias = NULL, *rw = fbuf(T * K), *ye = NULL, *xe = NULL;
    int *ri = xmalloc((size_t)(T * K) * sizeof(int)), *rows = xmalloc((size_t)T * sizeof(int));
    float *rsel = xmalloc((size_t)T * sizeof(float));
    ds_vf_route_params rp;
    ds_vf_route_params_from_config(c, &rp);

    if ((rc = take(f, DS_W_ROUTER, L, -1, h, logits, T, E, H))) goto out;
    double tp = ds_now();
    wname(nm, sizeof nm, DS_W_ROUTER_BIAS, L, -1);
    if (ds_ws_has(f->ws, nm) && (rc = ds_ws_load(f->ws, nm, E, 1, &bias))) goto out;
    {
        void *scratch = xmalloc(ds_vf_route_scratch_bytes(&rp));
        for (int64_t t = 0; t < T; t++) ds_vf_route(&rp, logits + t * E, bias, ri + t * K, rw + t * K, scratch);
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
    for (int64_t e = 0; e < E; e++) { /* ascending, as both references accumulate (and moe_steps plans) */
        int64_t n = 0;
        for (int64_t t = 0; t < T; t++)
            for (int64_t k = 0; k < K; k++)
                if (ri[t * K + k] == e) { rows[n] = (int)t; rsel[n] = rw[t * K + k]; n++; }
        if (!n) continue;
        for (int64_t i = 0; i < n; i++) memcpy(xe + i * H, h + (int64_t)rows[i] * H, (size_t)H * sizeof(float));
        tick(f, PF_MOE, &tp);
        if ((rc = mlp(f, L, (int)e, xe, ye, n))) goto out;
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
        if ((rc = mlp(f, L, MLP_SHARED, h, ye, T))) goto out;
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
    int rc = norm(f, wname(nm, sizeof nm, DS_W_FFN_NORM, L, -1), x, h, T, H);
    if (!rc) {
        if (ds_config_is_moe_layer(f->c, L)) rc = moe(f, L, h, y);
        else rc = mlp(f, L, MLP_DENSE, h, y, T);
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
    DS_TRY(ds_ws_info_shape(f->ws, hn, V, H, &ti));
    DS_TRY(norm(f, ds_schema_weight(DS_W_FINAL_NORM)->hf, x, x, T, H));
    int64_t chunk = head_chunk(c);
    float *part = fbuf(T * chunk);
    int rc = 0;
    for (int64_t v0 = 0; v0 < V && !rc; v0 += chunk) {
        int64_t n = V - v0 < chunk ? V - v0 : chunk;
        if (f->qhead < f->qlen && f->q[f->qhead].r0 != v0)
            step_bug(f, "out of the planned order", DS_W_HEAD, c->num_hidden_layers, -1);
        if ((rc = take(f, DS_W_HEAD, c->num_hidden_layers, -1, x, part, T, n, H))) break;
        for (int64_t t = 0; t < T; t++) memcpy(logits + t * V + v0, part + t * n, (size_t)n * sizeof(float));
    }
    free(part);
    return rc;
}

static int embed(fctx *f, float *x) {
    const ds_config *c = f->c;
    const char *en = ds_schema_weight(DS_W_EMBED)->hf;
    ds_ws_tinfo ti;
    DS_TRY(ds_ws_info_shape(f->ws, en, c->vocab_size, c->hidden_size, &ti));
    for (int64_t t = 0; t < f->T; t++)
        DS_TRY(ds_ws_read_rows(f->ws, en, f->tk->tok[t], 1, x + t * c->hidden_size));
    return 0;
}

/* Values of the largest weight (or head chunk) the pass multiplies by: the
 * largest step of any kind. */
static int64_t max_weight(const ds_config *c) {
    int64_t best = head_chunk(c) * c->hidden_size, N, K;
    for (int w = DS_W_NONE + 1; w < DS_W_COUNT; w++) {
        if (w == DS_W_HEAD || !ds_schema_weight((ds_weight)w)->linear) continue;
        ds_schema_weight_shape(c, (ds_weight)w, &N, &K);
        if (N * K > best) best = N * K;
    }
    return best;
}

/* config.json sizes the pass's buffers and loops: each must lie in a range
 * that a real model of the family stays well inside, so a hostile config is
 * answered with exit 3, never an overflow or a crash. */
int ds_vf_forward_check_config(const char *path, const ds_config *c) {
    const struct { const char *key; int v, lo, hi; } lim[] = {
        {"vocab_size", c->vocab_size, 1, 1 << 26},
        {"hidden_size", c->hidden_size, 1, 1 << 20},
        {"intermediate_size", c->intermediate_size, c->first_k_dense_replace > 0 || c->n_routed_experts == 0, 1 << 22},
        {"moe_intermediate_size", c->moe_intermediate_size, 0, 1 << 22},
        {"num_hidden_layers", c->num_hidden_layers, 1, 1 << 14},
        {"num_attention_heads", c->num_attention_heads, 1, 1 << 14},
        {"q_lora_rank", c->q_lora_rank, 0, 1 << 20},
        {"kv_lora_rank", c->kv_lora_rank, 1, 1 << 20},
        {"qk_nope_head_dim", c->qk_nope_head_dim, 0, 1 << 14},
        {"qk_rope_head_dim", c->qk_rope_head_dim, 2, 1 << 14},
        {"v_head_dim", c->v_head_dim, 1, 1 << 14},
        {"n_routed_experts", c->n_routed_experts, 0, 1 << 16},
        {"n_shared_experts", c->n_shared_experts, 0, 1 << 10},
        {"num_experts_per_tok", c->num_experts_per_tok, 0, c->n_routed_experts > 0 ? c->n_routed_experts : 1 << 16},
        {"n_group", c->n_group, 0, c->n_routed_experts > 0 ? c->n_routed_experts : 1 << 16},
        {"topk_group", c->topk_group, 0, c->n_group > 0 ? c->n_group : 1 << 16},
        {"index_n_heads", c->index_n_heads, 0, 1 << 14},
        {"index_head_dim", c->index_head_dim, 0, 1 << 14},
        {"index_topk", c->index_topk, 0, 2147483647},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        if (lim[i].v < lim[i].lo || lim[i].v > lim[i].hi)
            return ds_fail(DS_EXIT_INPUT, "%s: config.json: %s is %d, outside what verify computes [%d, %d]", path,
                           lim[i].key, lim[i].v, lim[i].lo, lim[i].hi);
    if (c->qk_rope_head_dim % 2)
        return ds_fail(DS_EXIT_INPUT, "%s: qk_rope_head_dim %d is odd", path, c->qk_rope_head_dim);
    if ((int64_t)c->moe_intermediate_size * c->n_shared_experts > (1 << 22))
        return ds_fail(DS_EXIT_INPUT, "%s: config.json: moe_intermediate_size * n_shared_experts is too large", path);
    return ds_vf_dsa_check_config(path, c);
}

int ds_vf_forward(ds_ws_source *ws, ds_vf_backend *be, const ds_vf_tokens *tk, float *logits, ds_vf_stats *st) {
    const ds_config *c = ds_ws_config(ws);
    double t0 = ds_now();
    uint64_t bytes0 = ds_ws_bytes_read(ws);
    fctx f = {.ws = ws, .be = be, .c = c, .tk = tk, .T = tk->total, .st = st, .dsa = ds_vf_dsa_enabled(c)};
    st->experts_loaded = st->expert_slots = st->weights_planned = st->weights_taken = 0;
    st->dsa_min_gap = INFINITY;
    DS_TRY(ds_vf_forward_check_config(ds_ws_path(ws), c));
    int max_len = 0;
    for (int s = 0; s < tk->n_seq; s++) if (tk->len[s] > max_len) max_len = tk->len[s];
    for (int64_t t = 0; t < tk->total; t++)
        if (tk->tok[t] < 0 || tk->tok[t] >= c->vocab_size)
            return ds_fail(DS_EXIT_INPUT, "token %d at index %lld is outside the vocabulary of %d", tk->tok[t],
                           (long long)t, c->vocab_size);
    if (f.dsa && max_len <= c->index_topk)
        ds_warn("%s: no sequence is longer than index_topk (%d tokens), so sparse attention keeps every key: the "
                "indexer's selection is not exercised (--tokens with longer sequences does)", ds_ws_path(ws),
                c->index_topk);
    f.pos = xmalloc((size_t)(tk->total > 0 ? tk->total : 1) * sizeof(int));
    for (int s = 0, t = 0; s < tk->n_seq; s++)
        for (int p = 0; p < tk->len[s]; p++) f.pos[t++] = p;
    int half = c->qk_rope_head_dim / 2;
    f.cos_t = fbuf((int64_t)max_len * half);
    f.sin_t = fbuf((int64_t)max_len * half);
    ds_vf_rope_tables(c, max_len, f.cos_t, f.sin_t);

    float *x = fbuf(f.T * c->hidden_size);
    int rc = ds_vf_backend_begin(be, ws, max_weight(c));
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
    if (!rc && f.qhead != f.qlen) /* planned and never taken: the list and the pass disagree */
        DS_BUG("forward pass: %d planned weights not taken, the first %s", f.qlen - f.qhead, f.q[f.qhead].name);
    free(x);
    free(f.pos);
    free(f.cos_t);
    free(f.sin_t);
    free(f.q);
    st->seconds = ds_now() - t0;
    st->bytes_read = ds_ws_bytes_read(ws) - bytes0;
    if (be->profile && !rc) {
        ds_vf_backend_profile(be, st->seconds, st->bytes_read, stderr);
        fprintf(stderr, "verify: profile: CPU blocks: norms %.3f s, RoPE + attention %.3f s, SwiGLU %.3f s, "
                "MoE routing and mixing %.3f s, embedding %.3f s, planning %.3f s", f.cpu_s[PF_NORM],
                f.cpu_s[PF_ATTN], f.cpu_s[PF_SWIGLU], f.cpu_s[PF_MOE], f.cpu_s[PF_EMBED], f.cpu_s[PF_PLAN]);
        if (f.dsa) fprintf(stderr, ", sparse-attention indexer %.3f s (smallest selection gap %.2g)", f.cpu_s[PF_INDEX],
                           st->dsa_min_gap);
        fputc('\n', stderr);
    }
    ds_vf_backend_end(be);
    return rc;
}
