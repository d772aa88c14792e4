/* fp4_cuda.c - GPU test of NVFP4 / MXFP4 quantization: ds_cuda_fp4_quant_rows
 * writes the same packed bytes and scales as ds_cpu_fp4_quant_rows (rtn and
 * mse, awkward values: zeros, -0.0, ties, huge and tiny groups), and its row
 * statistics agree with the CPU's to 1e-9 relative. Prints PASS/FAIL lines and
 * "N passed, N failed"; exit 77 without a usable GPU. */
#include "kernels/kernels.h"
#include "kernels/gpu.h"
#include "quant/fp4_core.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass, n_fail;
static void report(int ok, const char *name, const char *detail) {
    printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name, detail && *detail ? ": " : "", detail ? detail : "");
    ok ? n_pass++ : n_fail++;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static void fill(uint16_t *w, int64_t n, int kind) {
    for (int64_t i = 0; i < n; i++) {
        double u = urand(), g = sqrt(-2 * log(u + 1e-12)) * cos(6.283185307 * urand());
        float v = (float)(g * 0.02);
        if (kind == 1 && i % 7 == 0) v = 0.0f;
        if (kind == 1 && i % 11 == 0) v = -0.0f;
        if (kind == 2) v = (float)((int)(urand() * 25) - 12) * 0.25f;  /* ties of e2m1 thresholds */
        if (kind == 3 && (i / 32) % 3 == 0) v *= 1e-30f;               /* tiny groups */
        if (kind == 3 && (i / 32) % 3 == 1) v *= 1e25f;                /* huge groups */
        w[i] = dsq_f2bf(v);
    }
}

int main(void) {
    char why[256];
    if (!ds_cuda_available(why, sizeof why)) { printf("SKIP: %s\n", why); return 77; }
    const int64_t rows = 97, cols = 1024;
    uint16_t *w = malloc(rows * cols * 2);
    uint8_t *p_cpu = malloc(rows * cols / 2), *p_gpu = malloc(rows * cols / 2);
    uint8_t *s_cpu = malloc(rows * cols / 16), *s_gpu = malloc(rows * cols / 16);
    ds_quant_row_stats *st_cpu = malloc(rows * sizeof *st_cpu), *st_gpu = malloc(rows * sizeof *st_gpu);
    void *d_w, *d_p, *d_s, *d_st;
    if (ds_cuda_malloc(&d_w, rows * cols * 2) || ds_cuda_malloc(&d_p, rows * cols / 2) ||
        ds_cuda_malloc(&d_s, rows * cols / 16) || ds_cuda_malloc(&d_st, rows * sizeof *st_cpu)) return 1;
    for (int fmt = DSQ_FMT_NVFP4; fmt <= DSQ_FMT_MXFP4; fmt++)
        for (int mse = 0; mse < 2; mse++)
            for (int kind = 0; kind < 4; kind++) {
                ds_quant_spec s = {4, dsq_fp4_group_size(fmt), 1, mse, fmt};
                fill(w, rows * cols, kind);
                float gs = dsq_nvfp4_global_scale(ds_cpu_bf16_absmax(w, rows * cols));
                int64_t sb = rows * cols / s.group_size;
                ds_cpu_fp4_quant_rows(&s, w, rows, cols, gs, p_cpu, s_cpu, st_cpu);
                ds_cuda_memcpy_h2d(d_w, w, rows * cols * 2);
                int rc = ds_cuda_fp4_quant_rows(&s, d_w, rows, cols, gs, d_p, d_s, d_st);
                ds_cuda_memcpy_d2h(p_gpu, d_p, rows * cols / 2);
                ds_cuda_memcpy_d2h(s_gpu, d_s, sb);
                ds_cuda_memcpy_d2h(st_gpu, d_st, rows * sizeof *st_gpu);
                char name[128], det[128] = "";
                snprintf(name, sizeof name, "%s %s data %d: CUDA bytes == CPU bytes", fmt == DSQ_FMT_NVFP4 ? "nvfp4" : "mxfp4",
                         mse ? "mse" : "rtn", kind);
                int same = !rc && !memcmp(p_cpu, p_gpu, rows * cols / 2) && !memcmp(s_cpu, s_gpu, sb);
                if (!same) snprintf(det, sizeof det, "rc %d", rc);
                report(same, name, det);
                double worst = 0;
                for (int64_t i = 0; i < rows; i++) {
                    double a = st_cpu[i].err_sq, b = st_gpu[i].err_sq, d = fabs(a - b) / (fabs(a) + 1e-300);
                    if (a != b && d > worst) worst = d;
                }
                snprintf(name, sizeof name, "%s %s data %d: row error sums agree", fmt == DSQ_FMT_NVFP4 ? "nvfp4" : "mxfp4",
                         mse ? "mse" : "rtn", kind);
                snprintf(det, sizeof det, "worst relative difference %.3g", worst);
                report(worst < 1e-9, name, det);
            }
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
