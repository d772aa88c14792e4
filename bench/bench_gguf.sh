#!/usr/bin/env bash
# bench_gguf.sh - dsconv to-gguf beside llama.cpp's convert_hf_to_gguf.py and the I/O floor.
#
# usage: LLAMA=/path/to/llama.cpp bench/bench_gguf.sh [--size-gb X] [--dir DIR] [--json FILE] [--threads N]
#
# Input: bin/dsconv-sample --profile v3-bench (DeepSeek-V3's real shapes, FP8) plus the
# small tokenizer tests/data/tok-tiny. Measures, on this machine, in one run:
#   floor: `cat` of the input (read once), `dd` of as many bytes as the output (write once),
#          each the fastest of 3 tries (bench/floor.sh);
#          "overlapped floor" = max(read, write) (reading and writing at the same time),
#          "serial floor" = read + write;
#   to-gguf --type bf16 and --type q8_0 (FP8 in, no BF16 copy on disk), on the CPU (--device cpu:
#          pwrite, the default; with --reserve; with --writers 1 and 2; bf16 with --io mmap) and with --device cuda when the build and machine have
#          CUDA; each run's --json "stages_seconds" (setup, pipeline wall, the workers' summed
#          read/transform/write busy seconds) is printed under its line;
#   convert_hf_to_gguf.py --outtype bf16 and q8_0 on the same FP8 input (when LLAMA is set:
#          the llama.cpp source, e.g. the llama-cpp-python 0.3.36 sdist's vendor/llama.cpp,
#          run with PY, default python3, which needs torch, numpy, transformers, safetensors);
# and prints seconds, GB/s, ratio to each floor and peak RSS (GNU time when available).
# Outputs are written without fsync (dsconv --no-sync; dd and the converter do not sync).
set -u
SIZE_GB=6 DIR=${TMPDIR:-/tmp}/dsconv-bench-gguf JSON="" THREADS=$(nproc)
while [ $# -gt 0 ]; do
    case $1 in
    --size-gb) SIZE_GB=$2; shift ;;
    --dir) DIR=$2; shift ;;
    --json) JSON=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "bench_gguf: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DS=$ROOT/bin/dsconv
PY=${PY:-python3}
IN=$DIR/in OUT=$DIR/out.gguf
JSON=${JSON:-$DIR/bench_gguf.json}
mkdir -p "$DIR"
secs() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{printf "%.3f", a - b}'; }
calc() { awk "BEGIN{printf \"%.3f\", $1}"; }
TIME=""; command -v /usr/bin/time >/dev/null && TIME="/usr/bin/time -f %M -o $DIR/rss"

echo "bench_gguf: $(date -u +%F\ %T) UTC on $(hostname), $(nproc) cores ($THREADS used), $(free -g | awk '/Mem:/{print $2}') GB RAM"
if [ ! -e "$IN/model.safetensors.index.json" ]; then
    rm -rf "$IN"
    "$ROOT/bin/dsconv-sample" --profile v3-bench --size-gb "$SIZE_GB" --out "$IN" --quiet || exit 1
fi
cp "$ROOT"/tests/data/tok-tiny/tokenizer.json "$ROOT"/tests/data/tok-tiny/tokenizer_config.json "$IN/"
IN_BYTES=$(du -sb "$IN" | cut -f1)
# the floors: fastest of 3 tries each (bench/floor.sh)
. "$ROOT/bench/floor.sh"
T_READ=$(read_floor "$IN"/*.safetensors)
echo "bench_gguf: input $IN_BYTES bytes, read floor $T_READ s; $(df -T "$DIR" | awk 'NR == 2 {print "bench dir on " $2}')"

ROWS=""
# the --json of the last dsconv run, one line: stages, workers, io, GPU share, anonymous memory
stages() {
    [ -s "$DIR/run.json" ] || return 0
    "${PY:-python3}" - "$DIR/run.json" <<'PYEOF' 2>/dev/null || true
import json, sys
j = json.load(open(sys.argv[1]))
s = j.get("stages_seconds", {})
w = j.get("workers", 1)
wr = j.get("writers", 0)
wt = s.get("writer_threads_busy", 0)
print("    stages: setup %.3f  pipeline %.3f  busy/worker: read %.3f transform %.3f write %.3f%s  commit %.3f"
      "  | %d workers, io %s%s, device %s, GPU %.0f%% of bytes, peak anon %d MiB, buffers %d MiB"
      % (s.get("setup", 0), s.get("pipeline", 0), s.get("read_busy", 0) / w, s.get("transform_busy", 0) / w,
         (s.get("write_busy", 0) - wt) / w, " (waiting for buffers); pwrite/writer %.3f" % (wt / wr) if wr else "",
         s.get("commit", 0), w, j.get("io", "?"), " reserve" if j.get("reserve") else "", j.get("device", "?"),
         100.0 * j.get("gpu_bytes", 0) / max(1, j.get("tensor_bytes", 1)), j.get("peak_anon_bytes", 0) / 1048576,
         j.get("buffer_bytes", 0) / 1048576))
PYEOF
}
run() { # name -- command...
    local name=$1; shift
    rm -f "$OUT" "$DIR/run.json"; sync
    local t0 t rc rss=0
    t0=$(date +%s.%N)
    $TIME "$@" >"$DIR/log" 2>&1; rc=$?
    t=$(secs "$t0")
    [ -n "$TIME" ] && rss=$(( $(tail -1 "$DIR/rss") * 1024 ))
    if [ $rc != 0 ] || [ ! -e "$OUT" ]; then echo "bench_gguf: $name failed (exit $rc)"; tail -3 "$DIR/log"; ROWS="$ROWS{\"name\":\"$name\",\"error\":$rc},"; return; fi
    local ob tw fo fs
    ob=$(stat -c %s "$OUT"); rm -f "$OUT"; sync
    tw=$(write_floor "$ob" "$DIR")
    fo=$(awk -v a="$T_READ" -v b="$tw" 'BEGIN{printf "%.3f", (a > b ? a : b)}')
    fs=$(calc "$T_READ + $tw")
    printf "%-22s %8.2f s  %6.2f GB/s  overlapped floor %6.2f s (ratio %5.2fx)  serial floor %6.2f s (%5.2fx)  peak RSS %6d MiB\n" \
        "$name" "$t" "$(calc "($IN_BYTES + $ob) / $t / 1000000000")" "$fo" "$(calc "$t / $fo")" "$fs" "$(calc "$t / $fs")" $((rss / 1048576))
    stages
    local sj=null
    [ -s "$DIR/run.json" ] && sj=$(tr -d '\n' < "$DIR/run.json")
    ROWS="$ROWS{\"name\":\"$name\",\"dsconv_json\":$sj,\"seconds\":$t,\"bytes_in\":$IN_BYTES,\"bytes_out\":$ob,\"read_floor_seconds\":$T_READ,\"write_floor_seconds\":$tw,\"overlapped_floor_seconds\":$fo,\"ratio_overlapped\":$(calc "$t / $fo"),\"peak_rss_bytes\":$rss},"
}

for t in bf16 q8_0; do
    run to-gguf-$t "$DS" to-gguf "$IN" "$OUT" --type $t --device cpu --threads "$THREADS" --no-sync --quiet --force --json "$DIR/run.json"
done
for t in bf16 q8_0; do
    run to-gguf-$t-reserve "$DS" to-gguf "$IN" "$OUT" --type $t --device cpu --threads "$THREADS" --no-sync --quiet --force --reserve --json "$DIR/run.json"
done
for w in 1 2; do
    for t in bf16 q8_0; do
        run to-gguf-$t-writers$w "$DS" to-gguf "$IN" "$OUT" --type $t --device cpu --threads "$THREADS" --writers $w --no-sync --quiet --force --json "$DIR/run.json"
    done
done
run to-gguf-bf16-mmap "$DS" to-gguf "$IN" "$OUT" --type bf16 --device cpu --threads "$THREADS" --no-sync --quiet --force --io mmap --json "$DIR/run.json"
if "$DS" to-gguf --help 2>/dev/null | grep -q cuda && "$DS" to-gguf "$IN" "$DIR/probe.gguf" --type q8_0 --device cuda --dry-run --quiet >/dev/null 2>&1 \
   && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    for t in bf16 q8_0; do
        run to-gguf-$t-cuda "$DS" to-gguf "$IN" "$OUT" --type $t --threads "$THREADS" --device cuda --no-sync --quiet --force --json "$DIR/run.json"
    done
    run to-gguf-q8_0-cuda-1worker "$DS" to-gguf "$IN" "$OUT" --type q8_0 --threads 1 --device cuda --no-sync --quiet --force --json "$DIR/run.json"
else
    echo "bench_gguf: no CUDA (build or device): to-gguf --device cuda not measured"
fi
if [ -n "${LLAMA:-}" ]; then
    for t in bf16 q8_0; do
        run convert_hf_to_gguf-$t "$PY" "$ROOT/tests/tools/gguf_ref.py" "$LLAMA" "$IN" - $t "$OUT" --pre deepseek-v3 --no-hash
    done
else
    echo "bench_gguf: LLAMA not set: convert_hf_to_gguf.py not measured"
fi
printf '{"date":"%s","host":"%s","cores":%s,"threads":%s,"input_bytes":%s,"read_floor_seconds":%s,"results":[%s]}\n' \
    "$(date -u +%FT%TZ)" "$(hostname)" "$(nproc)" "$THREADS" "$IN_BYTES" "$T_READ" "${ROWS%,}" >"$JSON"
echo "bench_gguf: results in $JSON"
