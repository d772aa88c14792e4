/* quant_cuda.c - GPU test of INT4/INT8 quantization: ds_cuda_quant_rows and
 * ds_cuda_quant_unpack_rows against the CPU references, byte for byte, on
 * random weights (Gaussian with outliers, plus edge rows) for every strategy:
 * int4/int8, group/channel, symmetric/asymmetric, rtn/mse, BF16/F32 input.
 * Then BENCH lines (throughput, for the record; not pass/fail).
 *
 * Where no GPU is usable it prints "SKIP: no GPU (why)" and exits 77.
 * Build and run from the repository root: bash tests/gpu/quant_cuda.sh
 * A fresh seed per run is printed; DS_SEED=n repeats one. DS_QUICK=1 skips the
 * large cases and the bench. Ends with "N passed, N failed". */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "formats/dtype.h"
#include "kernels/kernels.h"
#include "kernels/gpu.h"

static int n_pass, n_fail;
static void report(int ok, const char *name, const char *detail) {
    printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name, detail && *detail ? ": " : "", detail ? detail : "");
    fflush(stdout);
    ok ? n_pass++ : n_fail++;
}

static uint64_t g_state;
static uint64_t rnext(void) { /* splitmix64 */
    uint64_t z = (g_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double runit(void) { return ((rnext() >> 11) + 0.5) / 9007199254740992.0; }
static double rgauss(void) { return sqrt(-2.0 * log(runit())) * cos(6.283185307179586 * runit()); }

/* Gaussian rows with per-row scale and rare outliers; the first rows are edge
 * cases (zero, constant, tiny, huge, a single outlier). */
static void fill(uint16_t *w, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; i++) {
        double rs = 0.02 * (0.25 + 1.5 * runit());
        for (int64_t j = 0; j < cols; j++) {
            double v = rs * rgauss();
            if (runit() < 0.002) v *= 8;
            switch (i) {
            case 0: v = 0; break;
            case 1: v = 0.3; break;
            case 2: v = j % 2 ? 1e38 : -1e38; break;
            case 3: v = j % 3 ? 1e-40 : -1e-40; break;
            case 4: v = j == 7 ? 50.0 : v; break;
            default: break;
            }
            w[i * cols + j] = ds_f32_to_bf16((float)v);
        }
    }
}

typedef struct {
    size_t nw, ns, nz, nst;
} sizes;

static sizes sizes_of(const ds_quant_spec *s, int64_t rows, int64_t cols) {
    int pf = 32 / s->bits;
    int64_t ng = s->group_size ? cols / s->group_size : 1;
    sizes z = {(size_t)(rows * cols / pf) * 4, (size_t)(rows * ng) * 2,
               s->symmetric ? 0 : (size_t)((rows + pf - 1) / pf * ng) * 4, (size_t)rows * sizeof(ds_quant_row_stats)};
    return z;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* One case: quantize on both sides, compare; unpack both sides, compare. */
static void run_case(const ds_quant_spec *s, int64_t rows, int64_t cols, int f32_in) {
    char name[160];
    snprintf(name, sizeof name, "int%d_g%d_%s_%s_%s_%lldx%lld", s->bits, s->group_size, s->symmetric ? "sym" : "asym",
             s->mse ? "mse" : "rtn", f32_in ? "f32" : "bf16", (long long)rows, (long long)cols);
    sizes z = sizes_of(s, rows, cols);
    size_t n = (size_t)(rows * cols), in_bytes = n * (f32_in ? 4 : 2);
    uint16_t *w = xmalloc(n * 2);
    fill(w, rows, cols);
    void *in = w;
    float *wf = NULL;
    if (f32_in) {
        wf = xmalloc(n * 4);
        for (size_t i = 0; i < n; i++) wf[i] = ds_bf16_to_f32(w[i]);
        in = wf;
    }
    uint8_t *hp = xcalloc(1, z.nw + 1), *hs = xcalloc(1, z.ns + 1), *hz = xcalloc(1, z.nz + 4);
    uint8_t *gp = xcalloc(1, z.nw + 1), *gs = xcalloc(1, z.ns + 1), *gz = xcalloc(1, z.nz + 4);
    ds_quant_row_stats *hst = xcalloc((size_t)rows, sizeof *hst), *gst = xcalloc((size_t)rows, sizeof *gst);
    char detail[256] = "";
    int ok = 1;
    void *d_in = NULL, *d_p = NULL, *d_s = NULL, *d_z = NULL, *d_st = NULL, *d_out = NULL;
    if (ds_cpu_quant_rows(s, in, f32_in ? DS_F32 : DS_BF16, rows, cols, (uint32_t *)hp, (uint16_t *)hs,
                          s->symmetric ? NULL : (uint32_t *)hz, hst)) {
        ok = 0, snprintf(detail, sizeof detail, "CPU quantize failed");
        goto done;
    }
    if (ds_cuda_malloc(&d_in, in_bytes) || ds_cuda_malloc(&d_p, z.nw) || ds_cuda_malloc(&d_s, z.ns) ||
        ds_cuda_malloc(&d_z, z.nz + 4) || ds_cuda_malloc(&d_st, z.nst) || ds_cuda_malloc(&d_out, n * 4) ||
        ds_cuda_memcpy_h2d(d_in, in, in_bytes) || ds_cuda_memset(d_z, 0xAB, z.nz + 4)) {
        ok = 0, snprintf(detail, sizeof detail, "CUDA setup failed");
        goto done;
    }
    double t0 = now();
    int rc = ds_cuda_quant_rows(s, d_in, f32_in ? DS_F32 : DS_BF16, rows, cols, d_p, d_s,
                                s->symmetric ? NULL : (uint32_t *)d_z, (ds_quant_row_stats *)d_st);
    double t1 = now();
    if (rc || ds_cuda_memcpy_d2h(gp, d_p, z.nw) || ds_cuda_memcpy_d2h(gs, d_s, z.ns) ||
        ds_cuda_memcpy_d2h(gz, d_z, z.nz + 4) || ds_cuda_memcpy_d2h(gst, d_st, z.nst)) {
        ok = 0, snprintf(detail, sizeof detail, "CUDA quantize failed (rc %d)", rc);
        goto done;
    }
    size_t bad_p = 0, bad_s = 0, bad_z = 0, first = (size_t)-1;
    for (size_t i = 0; i < z.nw; i++)
        if (hp[i] != gp[i]) { bad_p++; if (first == (size_t)-1) first = i / 4; }
    for (size_t i = 0; i < z.ns; i++) bad_s += hs[i] != gs[i];
    for (size_t i = 0; i < z.nz; i++) bad_z += hz[i] != gz[i];
    /* The kernel must not write past the zero points. */
    int tail_ok = s->symmetric || (gz[z.nz] == 0xAB && gz[z.nz + 3] == 0xAB);
    double st_bad = 0;
    for (int64_t i = 0; i < rows; i++) {
        double a = hst[i].err_sq, b = gst[i].err_sq;
        double rel = fabs(a - b) / (fabs(a) + 1e-300);
        if (a == b) rel = 0;
        st_bad = rel > st_bad ? rel : st_bad;
        if (hst[i].max_abs_err != gst[i].max_abs_err || hst[i].nonfinite != gst[i].nonfinite) st_bad = 1;
    }
    if (bad_p || bad_s || bad_z || !tail_ok || st_bad > 1e-9) {
        ok = 0;
        snprintf(detail, sizeof detail,
                 "bytes differ: packed %zu (first word %zu), scale %zu, zero point %zu, zp tail %s, stats rel %.3g",
                 bad_p, first, bad_s, bad_z, tail_ok ? "ok" : "overwritten", st_bad);
    }
    report(ok, name, ok ? "" : detail);
    ok = 1;
    /* Unpack on both sides from the CPU's bytes, to BF16 and to F32. */
    for (int o = 0; o < 2; o++) {
        ds_dtype dt = o ? DS_F32 : DS_BF16;
        size_t ob = n * (o ? 4 : 2);
        uint8_t *ho = xmalloc(ob), *go = xmalloc(ob);
        int r1 = ds_cpu_quant_unpack_rows(s, (uint32_t *)hp, (uint16_t *)hs, s->symmetric ? NULL : (uint32_t *)hz, rows,
                                          cols, ho, dt);
        int r2 = ds_cuda_memcpy_h2d(d_p, hp, z.nw) || ds_cuda_memcpy_h2d(d_s, hs, z.ns) ||
                 (z.nz && ds_cuda_memcpy_h2d(d_z, hz, z.nz)) ||
                 ds_cuda_quant_unpack_rows(s, d_p, d_s, s->symmetric ? NULL : (uint32_t *)d_z, rows, cols, d_out, dt) ||
                 ds_cuda_memcpy_d2h(go, d_out, ob);
        char un[200];
        snprintf(un, sizeof un, "unpack_%s_%s", o ? "f32" : "bf16", name);
        size_t bad = 0;
        for (size_t i = 0; !r1 && !r2 && i < ob; i++) bad += ho[i] != go[i];
        snprintf(detail, sizeof detail, "rc %d/%d, %zu bytes differ", r1, r2, bad);
        report(!r1 && !r2 && !bad, un, (!r1 && !r2 && !bad) ? "" : detail);
        free(ho), free(go);
    }
    if (getenv("DS_VERBOSE")) printf("# %s: kernel %.3f ms\n", name, (t1 - t0) * 1e3);
    ok = -1;
done:
    if (ok == 0) report(0, name, detail);
    ds_cuda_free(d_in), ds_cuda_free(d_p), ds_cuda_free(d_s), ds_cuda_free(d_z), ds_cuda_free(d_st),
        ds_cuda_free(d_out);
    free(w), free(wf), free(hp), free(hs), free(hz), free(gp), free(gs), free(gz), free(hst), free(gst);
}

static void bench(const ds_quant_spec *s, int64_t rows, int64_t cols) {
    size_t n = (size_t)(rows * cols);
    sizes z = sizes_of(s, rows, cols);
    uint16_t *w = xmalloc(n * 2);
    fill(w, rows, cols);
    void *d_in = NULL, *d_p = NULL, *d_s = NULL, *d_z = NULL;
    if (ds_cuda_malloc(&d_in, n * 2) || ds_cuda_malloc(&d_p, z.nw) || ds_cuda_malloc(&d_s, z.ns) ||
        ds_cuda_malloc(&d_z, z.nz + 4) || ds_cuda_memcpy_h2d(d_in, w, n * 2)) {
        printf("BENCH failed to set up\n");
        goto out;
    }
    ds_cuda_quant_rows(s, d_in, DS_BF16, rows, cols, d_p, d_s, s->symmetric ? NULL : (uint32_t *)d_z, NULL);
    double t0 = now();
    int reps = s->mse ? 3 : 10;
    for (int k = 0; k < reps; k++)
        ds_cuda_quant_rows(s, d_in, DS_BF16, rows, cols, d_p, d_s, s->symmetric ? NULL : (uint32_t *)d_z, NULL);
    double t = (now() - t0) / reps;
    double t2 = now();
    uint32_t *hp = xmalloc(z.nw);
    uint16_t *hs = xmalloc(z.ns);
    uint32_t *hz = xmalloc(z.nz + 4);
    ds_cpu_quant_rows(s, w, DS_BF16, rows, cols, hp, hs, s->symmetric ? NULL : hz, NULL);
    double tc = now() - t2;
    printf("BENCH quantize int%d g%d %s %s %lldx%lld: CUDA %.2f ms (%.1f GB/s of BF16 in), CPU %.1f ms\n", s->bits,
           s->group_size, s->symmetric ? "sym" : "asym", s->mse ? "mse" : "rtn", (long long)rows, (long long)cols,
           t * 1e3, n * 2 / t / 1e9, tc * 1e3);
    free(hp), free(hs), free(hz);
out:
    ds_cuda_free(d_in), ds_cuda_free(d_p), ds_cuda_free(d_s), ds_cuda_free(d_z);
    free(w);
}

int main(void) {
    char why[256];
    if (!ds_cuda_available(why, sizeof why)) {
        printf("SKIP: no GPU (%s)\n", why);
        return 77;
    }
    const char *seed = getenv("DS_SEED");
    g_state = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
    printf("# seed %llu (DS_SEED to repeat)\n", (unsigned long long)g_state);
    int quick = getenv("DS_QUICK") != NULL;
    const ds_quant_spec specs[] = {
        {4, 128, 1, 0, 0}, {4, 128, 0, 0, 0}, {4, 32, 1, 0, 0}, {4, 0, 1, 0, 0}, {4, 0, 0, 0, 0},
        {8, 0, 1, 0, 0},   {8, 0, 0, 0, 0},   {8, 128, 1, 0, 0}, {8, 64, 0, 0, 0},
    };
    const int64_t shapes[][2] = {{37, 512}, {160, 256}, {64, 7168}};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
        for (int mse = 0; mse <= 1; mse++)
            for (size_t sh = 0; sh < 3; sh++) {
                ds_quant_spec s = specs[k];
                s.mse = mse;
                if (quick && sh == 2) continue;
                run_case(&s, shapes[sh][0], shapes[sh][1], (int)(sh == 1));
            }
    if (!quick) {
        /* A DeepSeek-V3 expert and a dense projection. */
        ds_quant_spec s = {4, 128, 1, 0, 0};
        run_case(&s, 2048, 7168, 0);
        s.mse = 1;
        run_case(&s, 2048, 7168, 0);
        ds_quant_spec b[] = {{4, 128, 1, 0, 0}, {4, 128, 1, 1, 0}, {8, 0, 1, 0, 0}, {8, 0, 1, 1, 0}, {4, 128, 0, 1, 0}};
        for (int i = 0; i < 5; i++) bench(&b[i], 7168, 2048);
    }
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
