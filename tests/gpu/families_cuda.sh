#!/usr/bin/env bash
# tests/gpu/families_cuda.sh [BUILD] - verify's CUDA path on every family's
# dsconv-sample checkpoint (v3, v32, kimi, kimi-thinking, terminus, moonlight),
# on a machine with an NVIDIA GPU. From the repository root:
#     bash tests/gpu/families_cuda.sh        (DSCONV=binary and SAMPLE=binary to skip the build)
# Checks per family: CUDA logits within 1e-4 relative L2 of transformers'
# float64 ones (tests/data/families/F-logits-fp64.f32, tests/tools/family_logits.py);
# CUDA and CPU logits within 1e-5; the FP8 source and its fp8-to-bf16
# conversion (kimi-thinking: the INT4 source and its to-bf16 conversion)
# bit-identical on CUDA; shard-for-mp 2 rank files bit-identical to
# the HF source on CUDA (kimi-thinking: INT4 experts whole in their ranks). Prints PASS/FAIL lines, ends with "N passed, N failed".
# Exit: 0 all passed, 1 a failure, 77 skipped because there is no GPU here.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build-gpu}}
REF=tests/data/families
source tests/gpu/lib.sh
GPU_TAG=families_gpu_tests_ran
gpu_build_dsconv "$BUILD/families_cuda_build.log" bin/dsconv-sample
SAMPLE=${SAMPLE:-bin/dsconv-sample}
gpu_workdir families-gpu
TOK=$W/tokens.json # the sequence family_logits.py used
echo '[[5, 17, 3, 250, 99, 1000, 42, 7, 600, 12, 1, 900]]' >"$TOK"

"$SAMPLE" --family v3 --out "$W/probe" --quiet
cuda_or_skip "$DSCONV" verify "$W/probe" --tokens "$TOK" --device cuda
for f in v3 v32 kimi kimi-thinking terminus moonlight; do
    D=$W/$f
    "$SAMPLE" --family $f --out "$D/in" --quiet
    run "$f: CPU dump" 0 "$DSCONV" verify "$D/in" --tokens "$TOK" --device cpu --dump-logits "$D/cpu.f32"
    run "$f: CUDA vs CPU within 1e-5" 0 "$DSCONV" verify "$D/in" --tokens "$TOK" --device cuda \
        --against-logits "$D/cpu.f32" --max-rel-l2 1e-5
    if [ -e "$REF/$f-logits-fp64.f32" ]; then
        run "$f: CUDA vs transformers float64 within 1e-4" 0 "$DSCONV" verify "$D/in" --tokens "$TOK" --device cuda \
            --against-logits "$REF/$f-logits-fp64.f32"
        grep -E "rel L2" "$W/out" | sed "s/^/  [$f] /"
    fi
    if grep -q '"quant_method":[[:space:]]*"fp8"' "$D/in/config.json"; then
        "$DSCONV" fp8-to-bf16 "$D/in" "$D/bf16" --quiet
        run "$f: CUDA: FP8 vs its BF16 conversion bit-identical" 0 "$DSCONV" verify "$D/bf16" --against "$D/in" \
            --tokens "$TOK" --device cuda --expect identical
    fi
    if [ $f = kimi-thinking ]; then # INT4 experts: its to-bf16 output gives the same logits on CUDA
        "$DSCONV" to-bf16 "$D/in" "$D/bf16" --quiet
        run "$f: CUDA: INT4 vs its to-bf16 output bit-identical" 0 "$DSCONV" verify "$D/bf16" --against "$D/in" \
            --tokens "$TOK" --device cuda --expect identical
    fi
    "$DSCONV" strip-mtp "$D/in" "$D/nomtp" --quiet && "$DSCONV" shard-for-mp "$D/nomtp" "$D/mp2" --model-parallel 2 --quiet
    run "$f: CUDA: mp2 rank files vs HF source bit-identical" 0 "$DSCONV" verify "$D/mp2" --against "$D/in" \
        --tokens "$TOK" --device cuda --expect identical
done
gpu_summary
