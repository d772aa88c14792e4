/* fuzz_st_header.c - libFuzzer harness for the safetensors header validator.
 *
 * The input is the JSON header of a .safetensors file (what follows the
 * 8-byte length). It is validated against a data section of DATA_SIZE bytes,
 * as ds_st_open does, so offsets past the end, overlaps, overflowing shapes
 * and unknown dtypes are all reachable. Whatever the input, the parser must
 * return 0 or DS_EXIT_INPUT without a sanitizer report; on success every
 * tensor it accepted must satisfy the invariants the rest of dsconv relies on. */
#include "formats/safetensors.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_SIZE (4u << 20) /* covers the dev-tiny shards' data sections (< 2.7 MB) */

/* An accepted header broke a promise of the validator: say which, then crash (a finding). */
#define INVARIANT(cond, what) do { if (!(cond)) { fprintf(stderr, "fuzz_st_header: accepted a header where %s\n", what); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ds_st_file f;
    memset(&f, 0, sizeof f);
    f.fd = -1;
    f.path = xstrdup("fuzz.safetensors"); /* so ds_st_close frees what the parser allocated */
    int rc = ds_st_parse_header(f.path, (const char *)data, size, DATA_SIZE, &f);
    if (rc != 0 && rc != DS_EXIT_INPUT) abort();
    if (rc == 0) {
        uint64_t prev_end = 0;
        for (int i = 0; i < f.n_tensors; i++) {
            const ds_tensor_info *t = &f.tensors[i];
            uint64_t bytes = (uint64_t)ds_tensor_numel(t) * ds_dtype_size(t->dtype);
            INVARIANT(t->end <= DATA_SIZE && t->begin <= t->end, "a tensor lies outside the data");
            INVARIANT(t->end - t->begin == bytes, "a tensor's span differs from its dtype and shape");
            /* tensors come sorted by offset and must not overlap (empty ones aside) */
            INVARIANT(!bytes || t->begin >= prev_end, "two tensors overlap");
            if (bytes) prev_end = t->end;
            INVARIANT(ds_st_find(&f, t->name) == t, "a tensor is not found by its name");
            /* dimension bounds: the product of the non-zero dimensions (what
             * row buffers and ds_tensor_cols multiply) fits, even for an
             * empty tensor, so nothing downstream overflows or over-allocates */
            uint64_t nz = ds_dtype_size(t->dtype);
            for (int k = 0; k < t->ndim; k++) {
                uint64_t v = (uint64_t)t->shape[k];
                if (!v) continue;
                INVARIANT(!__builtin_mul_overflow(nz, v, &nz), "non-zero dimensions overflow 64 bits");
            }
            INVARIANT(nz <= (bytes ? (uint64_t)DATA_SIZE : DS_ST_MAX_EMPTY_BYTES),
                      "the non-zero dimensions span more bytes than the bound");
        }
    }
    ds_st_close(&f);
    return 0;
}
