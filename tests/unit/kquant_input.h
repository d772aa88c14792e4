/* kquant_input.h - the fixed float32 input of the K-quant byte tests: shared by
 * tests/unit/test_gguf.c and the reference harness tests/tools/kquant_ref.sh
 * builds around llama.cpp's ggml-quants.c, so both quantize the same floats. */
#ifndef DS_KQUANT_INPUT_H
#define DS_KQUANT_INPUT_H
#include <stdint.h>
#include <string.h>
#define KQ_BLOCKS 48
#define KQ_N (KQ_BLOCKS * 256)
static inline float kq_next(uint64_t *st) {
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)(*st >> 40) / 16777216.0f - 0.5f;
}
/* Blocks of 256 of six kinds: small Gaussian-like, heavy-tailed, zero, constant,
 * positive only, BF16-exact values (what a checkpoint holds). */
static inline void kq_fill(float *x) {
    uint64_t st = 0x9E3779B97F4A7C15ULL;
    for (int b = 0; b < KQ_BLOCKS; b++)
        for (int i = 0; i < 256; i++) {
            float a = kq_next(&st), c = kq_next(&st), v;
            switch (b % 6) {
            case 0: v = 0.04f * (a + c); break;
            case 1: v = 8.0f * a * c * c * (float)(1 + b); break;
            case 2: v = 0.0f; break;
            case 3: v = 0.75f; break;
            case 4: v = a < 0 ? -a : a; break;
            default: {
                float f = 0.05f * a;
                uint32_t u;
                memcpy(&u, &f, 4);
                u &= 0xFFFF0000u;
                memcpy(&v, &u, 4);
            }
            }
            x[b * 256 + i] = v;
        }
}
static inline uint64_t kq_fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ULL; }
    return h;
}
#endif
