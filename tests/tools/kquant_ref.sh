#!/usr/bin/env bash
# Regenerates tests/data/gguf-ref/kquant.txt: FNV-1a 64 of llama.cpp's own
# quantize_row_{q4_K,q6_K,q5_0,q8_0}_ref (ggml-quants.c, the functions llama-quantize
# calls without an imatrix) on the fixed input of tests/unit/kquant_input.h.
# ggml-quants.c is compiled in a temporary directory, with -ffp-contract=off and no
# -march (no FMA), and never enters the repository.
#   LLAMA=/tmp/lcpp/llama_cpp_python-0.3.36/vendor/llama.cpp bash tests/tools/kquant_ref.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${LLAMA:?set LLAMA to the llama.cpp source directory}"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cat > "$W/h.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include "kquant_input.h"
void ggml_abort(const char *f, int l, const char *fmt, ...) { (void)fmt; fprintf(stderr, "abort %s:%d\n", f, l); exit(1); }
size_t ggml_row_size(int t, long n) { (void)t; (void)n; abort(); }
const char *ggml_type_name(int t) { (void)t; return "?"; }
size_t ggml_type_size(int t) { (void)t; abort(); }
void quantize_row_q4_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q6_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q8_0_ref(const float *x, void *y, int64_t k);
int main(void) {
    static float x[KQ_N];
    static uint8_t y[KQ_N * 4];
    kq_fill(x);
    quantize_row_q4_K_ref(x, y, KQ_N); printf("q4_k %016llx\n", (unsigned long long)kq_fnv(y, KQ_N / 256 * 144));
    quantize_row_q6_K_ref(x, y, KQ_N); printf("q6_k %016llx\n", (unsigned long long)kq_fnv(y, KQ_N / 256 * 210));
    quantize_row_q5_0_ref(x, y, KQ_N); printf("q5_0 %016llx\n", (unsigned long long)kq_fnv(y, KQ_N / 32 * 22));
    quantize_row_q8_0_ref(x, y, KQ_N); printf("q8_0 %016llx\n", (unsigned long long)kq_fnv(y, KQ_N / 32 * 34));
    return 0;
}
CEOF
G=$LLAMA/ggml
gcc -O2 -ffp-contract=off -I"$G/include" -I"$G/src" -c "$G/src/ggml-quants.c" -o "$W/q.o"
gcc -O2 -ffp-contract=off -Itests/unit "$W/h.c" "$W/q.o" -lm -o "$W/h"
mkdir -p tests/data/gguf-ref
"$W/h" > tests/data/gguf-ref/kquant.txt
cat tests/data/gguf-ref/kquant.txt
