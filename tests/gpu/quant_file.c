/* quant_file.c - runs the requant CPU kernels on a raw file, for
 * tests/gpu/quant_torch_ref.py (which compares the bytes with compressed-
 * tensors' arithmetic done by torch on the CPU and on the GPU).
 *
 *   quant_file BITS GROUP SYM MSE ROWS COLS IN.bf16 OUT_PREFIX
 *
 * IN is ROWS x COLS little-endian bf16. Writes OUT_PREFIX.packed (I32),
 * .scale (BF16), .zp (I32, asymmetric only) and .deq (BF16: the unpacked,
 * dequantized weight). Exit 0, or the dsconv exit code of a failure. */
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "kernels/kernels.h"
#include "kernels/gpu.h"

static int write_raw(const char *prefix, const char *ext, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s.%s", prefix, ext);
    return ds_write_file_atomic(path, p, n);
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: quant_file BITS GROUP SYM MSE ROWS COLS IN.bf16 OUT_PREFIX\n");
        return DS_EXIT_USAGE;
    }
    ds_quant_spec s = {atoi(argv[1]), atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), 0}; /* format 0: integer */
    long long rows = atoll(argv[5]), cols = atoll(argv[6]);
    char *in;
    size_t len;
    DS_TRY(ds_read_file(argv[7], &in, &len));
    if (rows <= 0 || cols <= 0 || len != (size_t)(rows * cols) * 2)
        return ds_fail(DS_EXIT_INPUT, "%s: %zu bytes, not %lld x %lld bf16", argv[7], len, rows, cols);
    int pf = 32 / (s.bits ? s.bits : 1);
    long long ng = s.group_size ? cols / s.group_size : 1;
    size_t nw = (size_t)(rows * cols / pf), ns = (size_t)(rows * ng), nz = (size_t)((rows + pf - 1) / pf * ng);
    uint32_t *packed = xcalloc(nw + 1, 4), *zp = xcalloc(nz + 1, 4);
    uint16_t *scale = xcalloc(ns + 1, 2), *deq = xcalloc((size_t)(rows * cols), 2);
    DS_TRY(ds_cpu_quant_rows(&s, in, DS_BF16, rows, cols, packed, scale, s.symmetric ? NULL : zp, NULL));
    DS_TRY(ds_cpu_quant_unpack_rows(&s, packed, scale, s.symmetric ? NULL : zp, rows, cols, deq, DS_BF16));
    DS_TRY(write_raw(argv[8], "packed", packed, nw * 4));
    DS_TRY(write_raw(argv[8], "scale", scale, ns * 2));
    if (!s.symmetric) DS_TRY(write_raw(argv[8], "zp", zp, nz * 4));
    DS_TRY(write_raw(argv[8], "deq", deq, (size_t)(rows * cols) * 2));
    free(in), free(packed), free(zp), free(scale), free(deq);
    return 0;
}
