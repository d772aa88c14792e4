/* scan_cuda.c - the structure scan's CUDA kernel (kernels/cuda/scan_finite.cu)
 * against the CPU reference (kernels/cpu/scan_finite.c): same first index for
 * every FP8 / 16-bit code alone, for a bad value at many positions of a large
 * buffer (with a later one too), for clean buffers; then its speed (BENCH).
 * PASS/FAIL lines; exit 77 when there is no GPU. Built and run by
 * tests/gpu/verify_scan.sh. */
#include "kernels/kernels.h"
#include "kernels/gpu.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fails;
static void check(int ok, const char *name) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    fails += !ok;
}

/* CUDA and CPU answers for n values of esz at host h (copied to device d). */
static int same(const void *h, void *d, int64_t n, int esz, uint32_t mask) {
    int64_t g = -2;
    if (ds_cuda_memcpy_h2d(d, h, (size_t)(n * esz))) return 0;
    if (ds_cuda_scan_nonfinite(d, n, esz, mask, &g)) return 0;
    int64_t c = ds_cpu_scan_nonfinite(h, n, esz, mask);
    if (g != c) fprintf(stderr, "n %lld esz %d mask 0x%x: cuda %lld cpu %lld\n", (long long)n, esz, mask, (long long)g, (long long)c);
    return g == c;
}

int main(void) {
    char why[200];
    if (!ds_cuda_available(why, sizeof why)) { printf("SKIP: no GPU (%s)\n", why); return 77; }
    const int64_t N = (int64_t)1 << 26; /* 64 M elements, up to 256 MB */
    uint8_t *h = malloc((size_t)N * 4);
    void *d;
    if (!h || ds_cuda_malloc(&d, (size_t)N * 4)) { printf("FAIL alloc\n0 passed, 1 failed\n"); return 1; }

    /* every code alone: one launch per code, each with its own result slot */
    unsigned long long *dres, *res = malloc(65536 * sizeof *res);
    if (ds_cuda_malloc((void **)&dres, 65536 * sizeof *res)) { printf("FAIL alloc\n0 passed, 1 failed\n"); return 1; }
    struct { int esz; uint32_t mask; const char *name; } kinds[4] = {
        {1, 0x7F, "every e4m3fn code"}, {1, 0x7C, "every e5m2 code"}, {2, 0x7F80, "every bf16 code"}, {2, 0x7C00, "every f16 code"}};
    for (int k = 0; k < 4; k++) {
        int ncode = kinds[k].esz == 1 ? 256 : 65536, ok = 1;
        for (int c = 0; c < ncode; c++) {
            if (kinds[k].esz == 1) h[c] = (uint8_t)c;
            else { uint16_t v = (uint16_t)c; memcpy(h + 2 * c, &v, 2); }
        }
        memset(res, 0xFF, 65536 * sizeof *res);
        ok = !ds_cuda_memcpy_h2d(d, h, (size_t)ncode * kinds[k].esz) && !ds_cuda_memcpy_h2d(dres, res, 65536 * sizeof *res);
        for (int c = 0; c < ncode && ok; c++)
            ok = !ds_cuda_scan_nonfinite_async((uint8_t *)d + (size_t)c * kinds[k].esz, 1, kinds[k].esz, kinds[k].mask,
                                               dres + c, NULL);
        ok = ok && !ds_cuda_memcpy_d2h(res, dres, 65536 * sizeof *res);
        for (int c = 0; c < ncode && ok; c++) {
            int gpu_bad = res[c] == 0, cpu_bad = ds_cpu_scan_nonfinite(h + (size_t)c * kinds[k].esz, 1, kinds[k].esz, kinds[k].mask) == 0;
            if (gpu_bad != cpu_bad) { fprintf(stderr, "%s: code 0x%x: cuda %d cpu %d\n", kinds[k].name, c, gpu_bad, cpu_bad); ok = 0; }
        }
        check(ok, kinds[k].name);
    }
    ds_cuda_free(dres);
    free(res);
    int ok;

    /* a large clean buffer, then one bad value (and a later one) at spread positions */
    const int esz[3] = {1, 2, 4};
    const uint32_t mask[3] = {0x7F, 0x7F80, 0x7F800000u};
    for (int k = 0; k < 3; k++) {
        int64_t n = N;
        for (int64_t i = 0; i < n; i++) {
            uint32_t v = k == 0 ? (uint32_t)(i % 0x7F) : k == 1 ? 0x3F80u : 0x3F800000u;
            memcpy(h + i * esz[k], &v, (size_t)esz[k]);
        }
        ok = same(h, d, n, esz[k], mask[k]);
        uint32_t bad = mask[k] | (k ? 1u : 0u);
        for (int64_t at = 0; at < n && ok; at = at * 3 + 1) {
            int64_t later = at + 1000 < n ? at + 1000 : at;
            uint8_t save[8];
            memcpy(save, h + at * esz[k], (size_t)esz[k]);
            memcpy(save + 4, h + later * esz[k], (size_t)esz[k]);
            memcpy(h + later * esz[k], &bad, (size_t)esz[k]);
            memcpy(h + at * esz[k], &bad, (size_t)esz[k]);
            ok = same(h, d, n, esz[k], mask[k]);
            memcpy(h + later * esz[k], save + 4, (size_t)esz[k]);
            memcpy(h + at * esz[k], save, (size_t)esz[k]);
        }
        char name[80];
        snprintf(name, sizeof name, "first bad index in 64M values of %d bytes", esz[k]);
        check(ok, name);
    }

    /* speed: the device scan of N bytes of FP8 (it runs where the bytes already are) */
    for (int64_t i = 0; i < N; i++) h[i] = (uint8_t)(i % 0x7F);
    ds_cuda_memcpy_h2d(d, h, (size_t)N);
    int64_t r;
    ds_cuda_scan_nonfinite(d, N, 1, 0x7F, &r); /* warm */
    double t0 = ds_now();
    for (int i = 0; i < 20; i++) ds_cuda_scan_nonfinite(d, N, 1, 0x7F, &r);
    double gpu = (ds_now() - t0) / 20;
    t0 = ds_now();
    for (int i = 0; i < 5; i++) r = ds_cpu_scan_nonfinite(h, N, 1, 0x7F);
    double cpu = (ds_now() - t0) / 5;
    printf("BENCH scan fp8 %lld MB: cuda %.1f GB/s (incl. a result copy), one CPU core %.1f GB/s\n",
           (long long)(N >> 20), N / gpu / 1e9, N / cpu / 1e9);
    ds_cuda_free(d);
    free(h);
    printf("%d passed, %d failed\n", 7 - fails, fails);
    return fails ? 1 : 0;
}
