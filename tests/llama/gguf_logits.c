/* gguf_logits.c - llama.cpp's logits for a GGUF file, compared with a reference.
 *
 * Built by tests/llama/gguf_llama.sh against a llama.cpp build (libllama), never
 * part of dsconv. Loads MODEL.gguf with llama.cpp, runs each token sequence of
 * TOKENS.json ({"tokens": [[...], ...]} or [[...], ...]) from position 0 with
 * logits at every position, writes them as float32 [seq, pos, vocab] to OUT,
 * and when REF (same layout, e.g. `dsconv verify --dump-logits`) is given
 * prints the relative L2 distance of all logits and the share of positions
 * whose argmax agrees.
 *   gguf_logits MODEL.gguf TOKENS.json OUT.f32 [REF.f32] */
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

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: gguf_logits MODEL.gguf TOKENS.json OUT.f32 [REF.f32]\n"); return 2; }
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
        if (llama_decode(ctx, b)) { fprintf(stderr, "llama_decode failed\n"); return 1; }
        all = realloc(all, (total + (size_t)len * nv) * sizeof(float));
        for (int i = 0; i < len; i++) memcpy(all + total + (size_t)i * nv, llama_get_logits_ith(ctx, i), (size_t)nv * 4);
        total += (size_t)len * nv;
        llama_batch_free(b);
    }
    fwrite(all, 4, total, out);
    fclose(out);
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
