/* gemm.c - C[M,N] = A[M,K] . W[N,K]^T in float32 (the linear layers of the
 * verify forward pass), CPU/OpenMP reference.
 *
 * Reproducibility matters more than speed here: verify compares checkpoints
 * by bit-identical logits, so every C element must come out the same whatever
 * the thread count, the tiling position or M and N. Each element is therefore
 * one dot product with a fixed summation order: 8 lane sums (lane l adds the
 * products with k = l mod 8, in increasing k), combined pairwise at the end.
 * Every code path below performs exactly that sequence of operations: the 8
 * lanes are one 8-float vector, so vector multiplies and adds (separately
 * rounded: this file must not be built with FMA contraction) are the scalar
 * operations of the 8 lanes side by side.
 * Threads split the weight rows (N) into blocks of NB; within a block, K is
 * walked in chunks of KC (the A chunk stays in L2, the W chunk in L1) and a
 * 2x4 register tile (2 A rows x 4 W rows, 8 vector accumulators) runs over
 * each chunk; the lane sums of the block live in a private buffer between
 * chunks. */
#include "kernels/kernels.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define LANES 8
#define NB 16   /* weight rows per task */
#define KC 512  /* K chunk (a multiple of LANES) kept in cache across the M loop */

typedef float v8 __attribute__((vector_size(LANES * sizeof(float))));

/* An unaligned load of 8 floats (a macro: a function returning a vector would
 * change its ABI between the clones). */
#define LD(p) ({ v8 v_; memcpy(&v_, (p), sizeof v_); v_; })

/* The products of k in [8*(kc/8), kc) go to lanes 0.. in order, as scalars. */
static inline void tail(const float *a, const float *w, int64_t k, int64_t kc, v8 *acc) {
    float c[LANES];
    memcpy(c, acc, sizeof c);
    for (int l = 0; k < kc; k++, l++) c[l] += a[k] * w[k];
    memcpy(acc, c, sizeof c);
}

/* Two A rows against four W rows over kc values; acc: [2][NB] lane vectors at
 * row stride NB (rows a0, a1; columns n..n+3 of the block). */
__attribute__((target_clones("avx2", "default")))
static void tile_2x4(const float *a0, const float *a1, const float *const *w, int64_t kc, v8 *acc0, v8 *acc1) {
    v8 c00 = acc0[0], c01 = acc0[1], c02 = acc0[2], c03 = acc0[3];
    v8 c10 = acc1[0], c11 = acc1[1], c12 = acc1[2], c13 = acc1[3];
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    int64_t k = 0;
    for (; k + LANES <= kc; k += LANES) {
        v8 x0 = LD(a0 + k), x1 = LD(a1 + k), y;
        y = LD(w0 + k); c00 += x0 * y; c10 += x1 * y;
        y = LD(w1 + k); c01 += x0 * y; c11 += x1 * y;
        y = LD(w2 + k); c02 += x0 * y; c12 += x1 * y;
        y = LD(w3 + k); c03 += x0 * y; c13 += x1 * y;
    }
    if (k < kc) {
        tail(a0, w0, k, kc, &c00); tail(a0, w1, k, kc, &c01); tail(a0, w2, k, kc, &c02); tail(a0, w3, k, kc, &c03);
        tail(a1, w0, k, kc, &c10); tail(a1, w1, k, kc, &c11); tail(a1, w2, k, kc, &c12); tail(a1, w3, k, kc, &c13);
    }
    acc0[0] = c00; acc0[1] = c01; acc0[2] = c02; acc0[3] = c03;
    acc1[0] = c10; acc1[1] = c11; acc1[2] = c12; acc1[3] = c13;
}

/* One A row against one W row (the edges of the tiling). */
__attribute__((target_clones("avx2", "default")))
static void tile_1x1(const float *a, const float *w, int64_t kc, v8 *acc) {
    v8 c = *acc;
    int64_t k = 0;
    for (; k + LANES <= kc; k += LANES) c += LD(a + k) * LD(w + k);
    if (k < kc) tail(a, w, k, kc, &c);
    *acc = c;
}

static float lane_sum(const v8 *v) {
    float c[LANES];
    memcpy(c, v, sizeof c);
    return ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
}

int ds_cpu_gemm_f32(const float *A, const float *W, float *C, int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0) return 0;
    int64_t nblocks = (N + NB - 1) / NB;
    size_t acc_bytes = (size_t)M * NB * sizeof(v8);
    #pragma omp parallel
    {
        v8 *acc = xaligned(acc_bytes); /* [M][NB] lane vectors */
        #pragma omp for schedule(dynamic, 1)
        for (int64_t nb = 0; nb < nblocks; nb++) {
            int64_t n0 = nb * NB, nn = N - n0 < NB ? N - n0 : NB, n4 = nn / 4 * 4;
            memset(acc, 0, acc_bytes);
            for (int64_t k0 = 0; k0 < K; k0 += KC) {
                int64_t kc = K - k0 < KC ? K - k0 : KC;
                int64_t m = 0;
                for (; m + 2 <= M; m += 2) {
                    const float *a0 = A + m * K + k0, *a1 = a0 + K;
                    for (int64_t n = 0; n < n4; n += 4) {
                        const float *w[4];
                        for (int j = 0; j < 4; j++) w[j] = W + (n0 + n + j) * K + k0;
                        tile_2x4(a0, a1, w, kc, acc + m * NB + n, acc + (m + 1) * NB + n);
                    }
                    for (int64_t n = n4; n < nn; n++) {
                        tile_1x1(a0, W + (n0 + n) * K + k0, kc, acc + m * NB + n);
                        tile_1x1(a1, W + (n0 + n) * K + k0, kc, acc + (m + 1) * NB + n);
                    }
                }
                for (; m < M; m++)
                    for (int64_t n = 0; n < nn; n++)
                        tile_1x1(A + m * K + k0, W + (n0 + n) * K + k0, kc, acc + m * NB + n);
            }
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < nn; n++) C[m * N + n0 + n] = lane_sum(acc + m * NB + n);
        }
        free(acc);
    }
    return 0;
}
