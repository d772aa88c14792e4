/* gguf_kquant.c - Q4_K, Q6_K and Q5_0 rows on the CPU (blocks: kernels/gguf_blocks.h). */
#include "kernels/gguf_quant.h"
#include "kernels/gguf_blocks.h"

void ds_cpu_gguf_kquant_row(const float *x, int64_t cols, ds_ggml_type t, uint8_t *out) {
    switch (t) {
    case DS_GGML_Q4_K: for (int64_t b = 0; b < cols / QK_K; b++) ds_gg_q4_k_block(x + b * QK_K, out + b * 144); break;
    case DS_GGML_Q6_K: for (int64_t b = 0; b < cols / QK_K; b++) ds_gg_q6_k_block(x + b * QK_K, out + b * 210); break;
    case DS_GGML_Q5_0: for (int64_t b = 0; b < cols / 32; b++) ds_gg_q5_0_block(x + b * 32, out + b * 22); break;
    default: break;
    }
}
