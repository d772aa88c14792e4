/* forward.c - the verify forward pass (see forward.h). Layout of activations:
 * row-major [T][...] over all T tokens of all sequences; attention runs per
 * sequence, each starting at position 0. */
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
} fctx;

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

/* y[T,N] = x[T,K] . W^T with W = tensor name [N,K], read now and freed after. */
static int linear(fctx *f, const char *name, const float *x, float *y, int64_t M, int64_t N, int64_t K) {
    float *w;
    DS_TRY(ds_ws_load(f->ws, name, N, K, &w));
    int rc = vf_linear(f->be, x, w, y, M, N, K);
    free(w);
    return rc;
}

static int norm(fctx *f, const char *name, const float *x, float *y, int64_t rows, int64_t n) {
    float *w;
    DS_TRY(ds_ws_load(f->ws, name, n, 1, &w));
    vf_rmsnorm(x, w, y, rows, n, f->c->rms_norm_eps);
    free(w);
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
    for (int64_t t = 0; t < T; t++) {
        const float *cr = f->cos_t + (int64_t)f->pos[t] * half, *sr = f->sin_t + (int64_t)f->pos[t] * half;
        for (int64_t hh = 0; hh < nh; hh++) vf_rope_apply(q + (t * nh + hh) * qd + dn, half, cr, sr);
        vf_rope_apply(kpe + t * dr, half, cr, sr);
    }
    double scale = vf_softmax_scale(c);
    for (int64_t s = 0, t0 = 0; s < f->tk->n_seq; t0 += f->tk->len[s], s++)
        vf_attention(q + t0 * nh * qd, kv + t0 * nh * (dn + dv), kpe + t0 * dr, att + t0 * nh * dv,
                     f->tk->len[s], (int)nh, dn, dr, dv, scale);
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
    vf_swiglu(g, u, M * I);
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
    lname(nm, sizeof nm, L, "mlp.gate.e_score_correction_bias");
    if (ds_ws_has(f->ws, nm) && (rc = ds_ws_load(f->ws, nm, E, 1, &bias))) goto out;
    {
        float *scratch = fbuf(2 * E + rp.n_group);
        for (int64_t t = 0; t < T; t++) vf_route(&rp, logits + t * E, bias, ri + t * K, rw + t * K, scratch);
        free(scratch);
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
        if ((rc = mlp(f, pre, xe, ye, n, c->moe_intermediate_size))) goto out;
        f->st->experts_loaded++;
        for (int64_t i = 0; i < n; i++) {
            float *yr = y + (int64_t)rows[i] * H, *er = ye + i * H;
            for (int64_t j = 0; j < H; j++) yr[j] += er[j] * rsel[i];
        }
    }
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
    const char *hn = "lm_head.weight";
    if (!ds_ws_has(f->ws, hn) && c->tie_word_embeddings) hn = "model.embed_tokens.weight";
    ds_ws_tinfo ti;
    DS_TRY(ds_ws_info(f->ws, hn, &ti));
    if (ti.rows != V || ti.cols != H)
        return ds_fail(DS_EXIT_INPUT, "%s: tensor %s: shape %lldx%lld, expected %lldx%lld from config.json",
                       ds_ws_path(f->ws), hn, (long long)ti.rows, (long long)ti.cols, (long long)V, (long long)H);
    DS_TRY(norm(f, "model.norm.weight", x, x, T, H));
    int64_t chunk = ((int64_t)256 << 20) / (H * 4);
    if (chunk < 1) chunk = 1;
    if (chunk > V) chunk = V;
    float *w = fbuf(chunk * H), *part = fbuf(T * chunk);
    int rc = 0;
    for (int64_t v0 = 0; v0 < V && !rc; v0 += chunk) {
        int64_t n = V - v0 < chunk ? V - v0 : chunk;
        if ((rc = ds_ws_read_rows(f->ws, hn, v0, n, w)) || (rc = vf_linear(f->be, x, w, part, T, n, H))) break;
        for (int64_t t = 0; t < T; t++) memcpy(logits + t * V + v0, part + t * n, (size_t)n * sizeof(float));
    }
    free(w);
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
    int rc = embed(&f, x);
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
    return rc;
}
