#!/usr/bin/env bash
# tests/gpu/verify_v32_cuda.sh [BUILD] - verify's CUDA path on the v32-tiny
# fixture (DeepSeek-V3.2, DeepSeek Sparse Attention: the indexer's wq_b, wk and
# weights_proj are cuBLAS GEMMs there, the key selection and attention run on
# the CPU as on the CPU path), on a machine with an NVIDIA GPU. From the
# repository root:
#     bash tests/gpu/verify_v32_cuda.sh        (DEPS=dir as for make, DSCONV=binary to skip the build)
# Builds dsconv with CUDA=1 (BUILD defaults to build-gpu), then checks: CPU and
# CUDA logits agree to 1e-5 worst relative L2 per position (fixture tokens and
# the built-in probe set: 4 x 32 tokens, index_topk 5); CUDA logits are within
# 1e-4 of transformers' float64 DeepseekV32 ones and far from dense attention's;
# FP8 vs its BF16 conversion bit-identical on CUDA; runs repeat bit for bit;
# every weight is taken from the read-ahead plan (0 direct reads).
# Prints PASS/FAIL lines and ends with "N passed, N failed".
# Exit: 0 all passed, 1 a failure, 77 skipped because there is no GPU here
# (a machine where nvidia-smi shows a GPU never skips).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build-gpu}}
IN=tests/data/v32-tiny/fp8
EXP=tests/data/v32-tiny/tokens.json
FP64=tests/data/v32-tiny/logits-hf-fp64-all.f32
DENSE=tests/data/v32-tiny/logits-dense-fp64-all.f32

source tests/gpu/lib.sh
GPU_TAG=verify_gpu_tests_ran

gpu_build_dsconv "$BUILD/verify_v32_cuda_build.log"

gpu_workdir verify-v32-gpu

cuda_or_skip "$DSCONV" verify "$IN" --device cuda
run "CUDA verify of v32-tiny passes" 0 "$DSCONV" verify "$IN" --device cuda
grep -q "device cuda" "$W/out" && ok "runs on the GPU" || ko "runs on the GPU" "$(cat "$W/out")"

cuda_vs_cpu "$IN" "$EXP"
run "CUDA vs transformers float64 DeepseekV32 within 1e-4" 0 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda \
    --against-logits "$FP64"
grep -E "rel L2" "$W/out" | sed "s/^/  /"
run "CUDA vs dense attention (indexer ignored): mismatch" 1 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda \
    --against-logits "$DENSE"
run "CUDA run repeats" 0 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda --dump-logits "$W/cuda-again.f32"
cmp -s "$W/cuda-fixture.f32" "$W/cuda-again.f32" && ok "CUDA logits repeat bit for bit" || ko "CUDA logits repeat bit for bit"
run "CUDA: FP8 vs its BF16 conversion bit-identical" 0 "$DSCONV" verify tests/data/v32-tiny/bf16 --against "$IN" \
    --tokens "$EXP" --device cuda
run "CUDA profile" 0 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda --profile
grep -q "weights taken 36 (0 direct)" "$W/out" && ok "CUDA: every weight from the plan (36 taken, 0 direct)" \
    || ko "CUDA: every weight from the plan (36 taken, 0 direct)" "$(grep -o 'weights taken [^:]*' "$W/out")"

gpu_summary
