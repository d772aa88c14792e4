/* gemm.c - C[M,N] = A[M,K] . W[N,K]^T in float32 (the linear layers of the
 * verify forward pass), CPU/OpenMP reference.
 *
 * Reproducibility matters more than speed here: verify compares checkpoints
 * by bit-identical logits, so every C element must come out the same whatever
 * the thread count, the tiling position or M and N. Each element is therefore
 * one dot product with a fixed summation order: 8 lane sums (lane l adds the
 * products with k = l mod 8, in increasing k), combined pairwise at the end.
 * Every code path below performs exactly that sequence of operations.
 * Threads split the weight rows (N); a thread's partial lane sums for its
 * block live in a private buffer across the K chunks. */
#include "kernels/kernels.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define LANES 8
#define NB 16   /* weight rows per task */
#define KC 512  /* K chunk (a multiple of LANES) kept in cache across the M loop */

/* One A row against four W rows over kc values; acc: 4 consecutive lane sets. */
static void tile_1x4(const float *a, const float *w0, const float *w1, const float *w2,
                     const float *w3, int64_t kc, float *acc) {
    float c0[LANES], c1[LANES], c2[LANES], c3[LANES];
    memcpy(c0, acc, sizeof c0);
    memcpy(c1, acc + LANES, sizeof c1);
    memcpy(c2, acc + 2 * LANES, sizeof c2);
    memcpy(c3, acc + 3 * LANES, sizeof c3);
    int64_t k = 0;
    for (; k + LANES <= kc; k += LANES)
        for (int l = 0; l < LANES; l++) {
            float x = a[k + l];
            c0[l] += x * w0[k + l];
            c1[l] += x * w1[k + l];
            c2[l] += x * w2[k + l];
            c3[l] += x * w3[k + l];
        }
    for (int l = 0; k < kc; k++, l++) {
        float x = a[k];
        c0[l] += x * w0[k];
        c1[l] += x * w1[k];
        c2[l] += x * w2[k];
        c3[l] += x * w3[k];
    }
    memcpy(acc, c0, sizeof c0);
    memcpy(acc + LANES, c1, sizeof c1);
    memcpy(acc + 2 * LANES, c2, sizeof c2);
    memcpy(acc + 3 * LANES, c3, sizeof c3);
}

static void tile_1x1(const float *a, const float *w0, int64_t kc, float *acc) {
    float c0[LANES];
    memcpy(c0, acc, sizeof c0);
    int64_t k = 0;
    for (; k + LANES <= kc; k += LANES)
        for (int l = 0; l < LANES; l++) c0[l] += a[k + l] * w0[k + l];
    for (int l = 0; k < kc; k++, l++) c0[l] += a[k] * w0[k];
    memcpy(acc, c0, sizeof c0);
}

static float lane_sum(const float *c) {
    return ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
}

int ds_cpu_gemm_f32(const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0) return 0;
    int64_t nblocks = (N + NB - 1) / NB;
    size_t acc_bytes = (size_t)M * NB * LANES * sizeof(float);
    #pragma omp parallel
    {
        float *acc = xaligned(acc_bytes); /* [M][NB][LANES] */
        #pragma omp for schedule(dynamic, 1)
        for (int64_t nb = 0; nb < nblocks; nb++) {
            int64_t n0 = nb * NB, nn = N - n0 < NB ? N - n0 : NB;
            memset(acc, 0, acc_bytes);
            for (int64_t k0 = 0; k0 < K; k0 += KC) {
                int64_t kc = K - k0 < KC ? K - k0 : KC;
                for (int64_t m = 0; m < M; m++) {
                    const float *a = A + m * K + k0;
                    float *am = acc + m * NB * LANES;
                    int64_t n = 0;
                    for (; n + 4 <= nn; n += 4) {
                        const float *w = W + (n0 + n) * K + k0;
                        tile_1x4(a, w, w + K, w + 2 * K, w + 3 * K, kc, am + n * LANES);
                    }
                    for (; n < nn; n++) tile_1x1(a, W + (n0 + n) * K + k0, kc, am + n * LANES);
                }
            }
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < nn; n++)
                    C[m * N + n0 + n] = lane_sum(acc + (m * NB + n) * LANES);
        }
        free(acc);
    }
    return 0;
}
