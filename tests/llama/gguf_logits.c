/* gguf_logits.c - llama.cpp's logits for a GGUF file, compared with a reference.
 *
 * Built by tests/llama/gguf_llama.sh against a llama.cpp build (libllama), never
 * part of dsconv. Loads MODEL.gguf with llama.cpp, runs each token sequence of
 * TOKENS.json ({"tokens": [[...], ...]} or [[...], ...]) from position 0 with
 * logits at every position, writes them as float32 [seq, pos, vocab] to OUT,
 * and when REF (same layout, e.g. `dsconv verify --dump-logits`) is given
 * prints the relative L2 distance of all logits and the share of positions
 * whose argmax agrees. --routing FILE writes the routed experts llama.cpp
 * picked (its graph's ffn_moe_topk tensors, read through the eval callback):
 * one line "seq pos layer e1 e2 ..." per MoE layer and position, ids ascending.
 *   gguf_logits MODEL.gguf TOKENS.json OUT.f32 [REF.f32] [--routing FILE] */
#include "ggml-backend.h"
#include "llama.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *p, long *n) {
    FILE *f = fopen(p, "rb");
    if (!f) { perror(p); exit(2); }
    fseek(f, 0, SEEK_END); *n = ftell(f); fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)*n + 1);
    if (fread(b, 1, (size_t)*n, f) != (size_t)*n) { perror(p); exit(2); }
    b[*n] = 0; fclose(f);
    return b;
}

/* The experts each position is routed to, as the eval callback sees them. */
typedef struct {
    FILE *f;
    int seq;
} routing;

static int cmp_i32(const void *a, const void *b) { return (*(const int32_t *)a > *(const int32_t *)b) - (*(const int32_t *)a < *(const int32_t *)b); }

static bool on_tensor(struct ggml_tensor *t, bool ask, void *user) {
    routing *r = user;
    if (strncmp(t->name, "ffn_moe_topk-", 13) != 0) return !ask; /* ask: only these; else keep going */
    if (ask) return true;
    int layer = atoi(t->name + 13), k = (int)t->ne[0];
    char *buf = malloc(ggml_nbytes(t));
    ggml_backend_tensor_get(t, buf, 0, ggml_nbytes(t));
    for (int64_t i = 0; i < t->ne[1]; i++) {
        int32_t e[64];
        for (int j = 0; j < k && j < 64; j++) e[j] = *(int32_t *)(buf + i * t->nb[1] + j * t->nb[0]);
        qsort(e, (size_t)k, sizeof e[0], cmp_i32);
        fprintf(r->f, "%d %lld %d", r->seq, (long long)i, layer);
        for (int j = 0; j < k && j < 64; j++) fprintf(r->f, " %d", e[j]);
        fputc('\n', r->f);
    }
    free(buf);
    return true;
}

int main(int argc, char **argv) {
    routing rt = {0};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--routing") && i + 1 < argc) {
            if (!(rt.f = fopen(argv[i + 1], "w"))) { perror(argv[i + 1]); return 2; }
            memmove(argv + i, argv + i + 2, (size_t)(argc - i - 2) * sizeof *argv);
            argc -= 2;
            break;
        }
    if (argc < 4) { fprintf(stderr, "usage: gguf_logits MODEL.gguf TOKENS.json OUT.f32 [REF.f32] [--routing FILE]\n"); return 2; }
    long n;
    char *txt = slurp(argv[2], &n);
    cJSON *j = cJSON_Parse(txt), *seqs = cJSON_IsArray(j) ? j : cJSON_GetObjectItem(j, "tokens");
    if (!cJSON_IsArray(seqs)) { fprintf(stderr, "%s: no token arrays\n", argv[2]); return 2; }
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "llama.cpp could not load %s\n", argv[1]); return 1; }
    const int nv = llama_vocab_n_tokens(llama_model_get_vocab(model));
    int ns = cJSON_GetArraySize(seqs), maxlen = 0;
    for (int s = 0; s < ns; s++) if (cJSON_GetArraySize(cJSON_GetArrayItem(seqs, s)) > maxlen) maxlen = cJSON_GetArraySize(cJSON_GetArrayItem(seqs, s));
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(maxlen < 64 ? 64 : maxlen);
    cp.n_batch = cp.n_ubatch = cp.n_ctx;
    cp.n_seq_max = 1;
    if (rt.f) { cp.cb_eval = on_tensor; cp.cb_eval_user_data = &rt; }
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "no llama context\n"); return 1; }
    FILE *out = fopen(argv[3], "wb");
    size_t total = 0;
    float *all = NULL;
    for (int s = 0; s < ns; s++) {
        cJSON *a = cJSON_GetArrayItem(seqs, s);
        int len = cJSON_GetArraySize(a);
        llama_memory_clear(llama_get_memory(ctx), true);
        struct llama_batch b = llama_batch_init(len, 0, 1);
        for (int i = 0; i < len; i++) {
            b.token[i] = cJSON_GetArrayItem(a, i)->valueint;
            b.pos[i] = i;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = 1;
        }
        b.n_tokens = len;
        rt.seq = s;
        if (llama_decode(ctx, b)) { fprintf(stderr, "llama_decode failed\n"); return 1; }
        all = realloc(all, (total + (size_t)len * nv) * sizeof(float));
        for (int i = 0; i < len; i++) memcpy(all + total + (size_t)i * nv, llama_get_logits_ith(ctx, i), (size_t)nv * 4);
        total += (size_t)len * nv;
        llama_batch_free(b);
    }
    fwrite(all, 4, total, out);
    fclose(out);
    if (rt.f) fclose(rt.f);
    if (argc > 4) {
        long rn;
        float *ref = (float *)slurp(argv[4], &rn);
        if ((size_t)rn != total * 4) { fprintf(stderr, "%s: %ld bytes, expected %zu\n", argv[4], rn, total * 4); return 1; }
        double d2 = 0, r2 = 0;
        size_t agree = 0, rows = total / nv;
        for (size_t r = 0; r < rows; r++) {
            size_t am = 0, bm = 0;
            for (int v = 0; v < nv; v++) {
                float x = all[r * nv + v], y = ref[r * nv + v];
                d2 += (double)(x - y) * (x - y); r2 += (double)y * y;
                if (x > all[r * nv + am]) am = (size_t)v;
                if (y > ref[r * nv + bm]) bm = (size_t)v;
            }
            agree += am == bm;
        }
        printf("rel_l2 %.6g argmax_agree %.4f positions %zu vocab %d\n", sqrt(d2 / (r2 > 0 ? r2 : 1)),
               (double)agree / (double)rows, rows, nv);
    }
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
