#!/usr/bin/env bash
# bench_gguf.sh - dsconv to-gguf beside llama.cpp's convert_hf_to_gguf.py and the I/O floor.
#
# usage: [LLAMA=/path/to/llama.cpp] bench/bench_gguf.sh [--size-gb X] [--in DIR] [--dir DIR] [--json FILE]
#                                                      [--threads N] [--tries N] [--all]
#
# Input: bin/dsconv-sample --profile v3-bench (DeepSeek-V3's real shapes, FP8) plus the small tokenizer
# tests/data/tok-tiny, kept in --in (default: bench/stage_probe.sh's, ${TMPDIR:-/tmp}/dsconv-stage-probe/in,
# so both measure the same input; made again when missing or not within 15% of --size-gb). Measures, on
# this machine, in one run:
#   floor: `cat` of the input (read once), `dd` of as many bytes as the output (write once), each the
#          fastest of 3 tries (bench/floor.sh; once per output size); "overlapped floor" = max(read,
#          write) (reading and writing at the same time), "serial floor" = read + write;
#   the main rows: to-gguf --type bf16 and --type q8_0 (FP8 in, no BF16 copy on disk) with --device cpu
#          and, when the build and machine have CUDA, --device cuda and --device auto (the default); each
#          the fastest of --tries (default 3, the floors' statistic; every try printed), the tries taken
#          in turns (every row once, then again) so that the page cache's drift falls on every row alike;
#   variants, one try each, to compare write paths: bf16 and q8_0 with --writers 1 (one writer thread;
#          default 0: each worker writes), bf16 with --reserve, and with --all also q8_0 --reserve,
#          --writers 2, --io mmap and CUDA with one worker (every unit the GPU takes on the GPU). Under
#          each line: its --json "stages_seconds" (setup, pipeline wall, the workers' busy seconds);
#   convert_hf_to_gguf.py --outtype bf16 and q8_0 on the same FP8 input, one try each (when LLAMA is
#          set: the llama.cpp source, e.g. the llama-cpp-python 0.3.36 sdist's vendor/llama.cpp,
#          run with PY, default python3, which needs torch, numpy, transformers, safetensors);
# and prints seconds, GB/s, ratio to each floor and peak RSS (GNU time when available).
# Outputs are written without fsync (dsconv --no-sync; dd and the converter do not sync).
set -u
SIZE_GB=6 DIR=${TMPDIR:-/tmp}/dsconv-bench-gguf IN=${TMPDIR:-/tmp}/dsconv-stage-probe/in JSON="" THREADS=$(nproc) ALL=0 TRIES=3
while [ $# -gt 0 ]; do
    case $1 in
    --size-gb) SIZE_GB=$2; shift ;;
    --in) IN=$2; shift ;;
    --dir) DIR=$2; shift ;;
    --json) JSON=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --tries) TRIES=$2; shift ;;
    --all) ALL=1 ;;
    -h|--help) sed -n 2,26p "$0"; exit 0 ;;
    *) echo "bench_gguf: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DS=$ROOT/bin/dsconv
PY=${PY:-python3}
OUT=$DIR/out.gguf
JSON=${JSON:-$DIR/bench_gguf.json}
mkdir -p "$DIR"
secs() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{printf "%.3f", a - b}'; }
calc() { awk "BEGIN{printf \"%.3f\", $1}"; }
TIME=""; command -v /usr/bin/time >/dev/null && TIME="/usr/bin/time -f %M -o $DIR/rss"

echo "bench_gguf: $(date -u +%F\ %T) UTC on $(hostname), $(nproc) cores ($THREADS used), $(free -g | awk '/Mem:/{print $2}') GB RAM"
have=0
[ -e "$IN/model.safetensors.index.json" ] && have=$(du -sb --apparent-size "$IN" | cut -f1)
if ! awk -v h="$have" -v g="$SIZE_GB" 'BEGIN { exit !(h > 0.85 * g * 1e9 && h < 1.15 * g * 1e9) }'; then
    rm -rf "$IN"
    "$ROOT/bin/dsconv-sample" --profile v3-bench --size-gb "$SIZE_GB" --out "$IN" --quiet || exit 1
fi
cp "$ROOT"/tests/data/tok-tiny/tokenizer.json "$ROOT"/tests/data/tok-tiny/tokenizer_config.json "$IN/"
IN_BYTES=$(du -sb --apparent-size "$IN" | cut -f1)
# the floors: fastest of 3 tries each (bench/floor.sh)
. "$ROOT/bench/floor.sh"
T_READ=$(read_floor "$IN"/*.safetensors)
warm_up $((2 * IN_BYTES)) "$DIR"
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
# Each row keeps its fastest try (the floors are the fastest of 3 too): BEST/ALL/OB/RSS/FAILED by
# row name, its --json in $DIR/best-NAME.json.
declare -A BEST ALL OB RSS FAILED
try_row() { # name -- command...: one try
    local name=$1; shift
    [ -n "${FAILED[$name]:-}" ] && return
    local t0 ti rc
    rm -f "$OUT" "$DIR/try.json"; sync
    t0=$(date +%s.%N)
    $TIME "$@" >"$DIR/log" 2>&1; rc=$?
    ti=$(secs "$t0")
    if [ $rc != 0 ] || [ ! -e "$OUT" ]; then
        echo "bench_gguf: $name failed (exit $rc)"; tail -3 "$DIR/log"; FAILED[$name]=$rc; return
    fi
    ALL[$name]="${ALL[$name]:-}${ALL[$name]:+,}$ti"
    OB[$name]=$(stat -c %s "$OUT"); rm -f "$OUT"; sync
    if [ -z "${BEST[$name]:-}" ] || awk -v a="$ti" -v b="${BEST[$name]}" 'BEGIN { exit !(a < b) }'; then
        BEST[$name]=$ti
        RSS[$name]=0; [ -n "$TIME" ] && RSS[$name]=$(( $(tail -1 "$DIR/rss") * 1024 ))
        rm -f "$DIR/best-$name.json"; [ -s "$DIR/try.json" ] && mv "$DIR/try.json" "$DIR/best-$name.json"
    fi
    return 0
}
report_row() { # name: its line, stages and JSON row
    local name=$1
    if [ -n "${FAILED[$name]:-}" ]; then ROWS="$ROWS{\"name\":\"$name\",\"error\":${FAILED[$name]}},"; return; fi
    local t=${BEST[$name]} ob=${OB[$name]} rss=${RSS[$name]} all=${ALL[$name]} tw fo fs
    # one floor per output size (bf16 and q8_0 files): 3 dd tries each, not per row
    tw=$(sed -n "s/^$ob //p" "$DIR/floors" 2>/dev/null | head -1)
    if [ -z "$tw" ]; then tw=$(write_floor "$ob" "$DIR"); echo "$ob $tw" >>"$DIR/floors"; fi
    fo=$(awk -v a="$T_READ" -v b="$tw" 'BEGIN{printf "%.3f", (a > b ? a : b)}')
    fs=$(calc "$T_READ + $tw")
    printf "%-22s %8.2f s  %6.2f GB/s  overlapped floor %6.2f s (ratio %5.2fx)  serial floor %6.2f s (%5.2fx)  peak RSS %6d MiB\n" \
        "$name" "$t" "$(calc "($IN_BYTES + $ob) / $t / 1000000000")" "$fo" "$(calc "$t / $fo")" "$fs" "$(calc "$t / $fs")" $((rss / 1048576))
    case $all in *,*) echo "    fastest of $(echo "$all" | tr ',' '\n' | wc -l) tries, s: ${all//,/ }" ;; esac
    rm -f "$DIR/run.json"; [ -s "$DIR/best-$name.json" ] && mv "$DIR/best-$name.json" "$DIR/run.json"
    stages
    local sj=null
    [ -s "$DIR/run.json" ] && sj=$(tr -d '\n' < "$DIR/run.json")
    ROWS="$ROWS{\"name\":\"$name\",\"dsconv_json\":$sj,\"seconds\":$t,\"tries_seconds\":[$all],\"bytes_in\":$IN_BYTES,\"bytes_out\":$ob,\"read_floor_seconds\":$T_READ,\"write_floor_seconds\":$tw,\"overlapped_floor_seconds\":$fo,\"ratio_overlapped\":$(calc "$t / $fo"),\"peak_rss_bytes\":$rss},"
}
run() { try_row "$@"; report_row "$1"; } # name -- command...: one try

rm -f "$DIR/floors"
common=(--device cpu --threads "$THREADS" --no-sync --quiet --force --json "$DIR/try.json")
cuda=0
if "$DS" to-gguf "$IN" "$DIR/probe.gguf" --type q8_0 --device cuda --dry-run --quiet >/dev/null 2>&1 \
   && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    cuda=1
else
    echo "bench_gguf: no CUDA (build or device): to-gguf --device cuda and auto not measured"
fi
# The main rows: cpu, and where there is CUDA cuda and auto (the default: CUDA only where the GPU
# can take units, q8_0; the CPU alone for bf16), each the fastest of --tries, the tries interleaved
# (row after row, then again) so that the page cache's drift falls on every row alike.
MAIN=()
for d in cpu cuda auto; do
    [ $d != cpu ] && [ $cuda = 0 ] && continue
    for t in bf16 q8_0; do MAIN+=("$t:$d"); done
done
name_of() { local t=${1%%:*} d=${1##*:}; [ $d = cpu ] && echo "to-gguf-$t" || echo "to-gguf-$t-$d"; }
for ((k = 0; k < TRIES; k++)); do
    for m in "${MAIN[@]}"; do
        try_row "$(name_of "$m")" "$DS" to-gguf "$IN" "$OUT" --type "${m%%:*}" "${common[@]}" --device "${m##*:}"
    done
done
for m in "${MAIN[@]}"; do report_row "$(name_of "$m")"; done
for t in bf16 q8_0; do
    run to-gguf-$t-writers1 "$DS" to-gguf "$IN" "$OUT" --type $t "${common[@]}" --writers 1
done
run to-gguf-bf16-reserve "$DS" to-gguf "$IN" "$OUT" --type bf16 "${common[@]}" --reserve
if [ $ALL = 1 ]; then
    run to-gguf-q8_0-reserve "$DS" to-gguf "$IN" "$OUT" --type q8_0 "${common[@]}" --reserve
    for t in bf16 q8_0; do
        run to-gguf-$t-writers2 "$DS" to-gguf "$IN" "$OUT" --type $t "${common[@]}" --writers 2
    done
    run to-gguf-bf16-mmap "$DS" to-gguf "$IN" "$OUT" --type bf16 "${common[@]}" --io mmap
    [ $cuda = 1 ] && run to-gguf-q8_0-cuda-1worker "$DS" to-gguf "$IN" "$OUT" --type q8_0 "${common[@]}" --device cuda --threads 1
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
