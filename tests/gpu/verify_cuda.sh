#!/usr/bin/env bash
# tests/gpu/verify_cuda.sh [BUILD] - verify's CUDA path (cuBLAS fp32 GEMMs,
# pedantic math, no TF32) against its CPU path on the dev-tiny fixture, on a
# machine with an NVIDIA GPU. From the repository root:
#     bash tests/gpu/verify_cuda.sh            (DEPS=dir as for make, DSCONV=binary to skip the build)
# Builds dsconv with CUDA=1 (BUILD defaults to build-gpu), then checks:
# CPU and CUDA logits agree to 1e-5 worst relative L2 per position (fixture
# tokens and the built-in probe set); CUDA logits are within 1e-4 of
# transformers' float64 ones; on CUDA too, FP8 vs its BF16 conversion and its
# MP rank files are bit-identical and runs repeat bit for bit.
# Prints PASS/FAIL lines and ends with "N passed, N failed".
# Exit: 0 all passed, 1 a failure, 77 skipped because there is no GPU here
# (a machine where nvidia-smi shows a GPU never skips).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build-gpu}}
IN=tests/data/dev-tiny/input
EXP=tests/data/dev-tiny/expected.json
FP64=tests/data/dev-tiny/logits-hf-fp64-cpu-all.f32

source tests/gpu/lib.sh
GPU_TAG=verify_gpu_tests_ran

gpu_build_dsconv "$BUILD/verify_cuda_build.log"

gpu_workdir verify-gpu

cuda_or_skip "$DSCONV" verify "$IN" --device cuda
run "CUDA verify of dev-tiny passes" 0 "$DSCONV" verify "$IN" --device cuda
grep -q "device cuda" "$W/out" && ok "runs on the GPU" || ko "runs on the GPU" "$(cat "$W/out")"

cuda_vs_cpu "$IN" "$EXP"
run "CUDA vs transformers float64 within 1e-4" 0 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda --against-logits "$FP64"
run "CUDA run repeats" 0 "$DSCONV" verify "$IN" --tokens "$EXP" --device cuda --dump-logits "$W/cuda-again.f32"
cmp -s "$W/cuda-fixture.f32" "$W/cuda-again.f32" && ok "CUDA logits repeat bit for bit" || ko "CUDA logits repeat bit for bit"

run "fp8-to-bf16" 0 "$DSCONV" fp8-to-bf16 "$IN" "$W/bf16" --device cpu --quiet
run "CUDA: BF16 conversion vs FP8 bit-identical" 0 "$DSCONV" verify "$W/bf16" --against "$IN" --device cuda
run "strip-mtp" 0 "$DSCONV" strip-mtp "$IN" "$W/nomtp" --quiet
run "shard-for-mp mp2" 0 "$DSCONV" shard-for-mp "$W/nomtp" "$W/mp2" --model-parallel 2 --device cpu --quiet
run "CUDA: MP2 rank files vs FP8 bit-identical" 0 "$DSCONV" verify "$W/mp2" --against "$IN" --device cuda

gpu_summary
