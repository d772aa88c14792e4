#!/usr/bin/env bash
# all.sh - every GPU test, on a machine with an NVIDIA GPU:
#   make test-gpu                      (DEPS=.deps where cJSON is not installed)
# or directly:   bash tests/gpu/all.sh
# Either way it first builds what it runs (`make test-gpu-build`: the CUDA build
# in BUILD, default build, bin/dsconv and bin/dsconv-sample linked from it, the
# golden/jsoneq tools and the tests/gpu/*.c programs), then runs each
# tests/gpu/*.sh script, shows its output, and ends with the sum:
# "N passed, N failed". Exit 77 when there is no GPU (nothing was run).
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/gpu/lib.sh
skip_without_gpu
export BUILD=${BUILD:-build} DSCONV=$PWD/bin/dsconv
# Where cJSON is not installed (the GPU machine), the tests link the carried copy as make did.
[ -e /usr/include/cjson/cJSON.h ] || export DEPS=${DEPS:-.deps}
if [ "${DSCONV_GPU_BUILT:-}" != 1 ]; then # make test-gpu has just built it all
    blog=$(mktemp)
    if ! make --no-print-directory -j"$(nproc)" BUILD="$BUILD" CUDA=1 test-gpu-build >"$blog" 2>&1; then
        tail -n 30 "$blog"; echo "FAIL build: make BUILD=$BUILD CUDA=1 test-gpu-build"; echo "0 passed, 1 failed"
        rm -f "$blog"; exit 1
    fi
    rm -f "$blog"
fi
log=$(mktemp); trap 'rm -f "$log"' EXIT
tp=0 tf=0
for t in run.sh quant_cuda.sh verify_cuda.sh verify_v32_cuda.sh e2e_convert.sh device_table.sh parts_cuda.sh families_cuda.sh gguf_cuda.sh verify_scan.sh fp4_cuda.sh gguf_v32_cuda.sh device_k.sh; do
    echo "== tests/gpu/$t"
    bash "tests/gpu/$t" "$BUILD" >"$log" 2>&1; rc=$?
    cat "$log"
    line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    p=${p:-0}; f=${f:-0}
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then echo "FAIL $t exited $rc"; f=1; fi
    tp=$((tp + p)); tf=$((tf + f))
done
echo "$tp passed, $tf failed"
[ "$tf" = 0 ]
