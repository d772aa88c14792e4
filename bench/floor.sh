# floor.sh - the I/O floor, sourced by the bench scripts: how fast this machine
# reads a checkpoint once (cat) and writes N bytes once (dd), page cache, as
# the fastest of 3 tries each. Page-cache writes vary a lot from run to run
# (writeback of earlier outputs), so one try would flatter or punish a ratio
# at random; the fastest try is the floor a command is held to.
#   read_floor FILE...   -> seconds on stdout (the files are read once first, to warm them)
#   write_floor BYTES DIR -> seconds on stdout (DIR/.floor-dd, removed)
_fl_min() { awk 'NR == 1 || $1 < m { m = $1 } END { printf "%.3f", m }'; }
read_floor() {
    cat "$@" >/dev/null
    for _ in 1 2 3; do
        local a b; a=$(date +%s.%N); cat "$@" >/dev/null; b=$(date +%s.%N)
        awk -v a="$a" -v b="$b" 'BEGIN { printf "%.6f\n", b - a }'
    done | _fl_min
}
write_floor() {
    local n=$1 f=$2/.floor-dd bs=$((16 << 20))
    for _ in 1 2 3; do
        rm -f "$f"; sync
        local a b; a=$(date +%s.%N); dd if=/dev/zero of="$f" bs=$bs count=$(((n + bs - 1) / bs)) status=none; b=$(date +%s.%N)
        awk -v a="$a" -v b="$b" 'BEGIN { printf "%.6f\n", b - a }'
    done | _fl_min
    rm -f "$f"; sync
}
# warm_up BYTES DIR - before the first timed run: flush what is still dirty (a sample just
# generated) and write BYTES of zeros once into DIR (removed). On a fresh VM the first write
# into memory the guest has never touched costs far more than later ones (H200 VM, 2026-11-30:
# the first row after a new 6 GB sample, to-gguf bf16, 3.89 s; the same command with other
# writer settings later in the run 2.10-2.16 s), while the floors' dd tries run on warm pages.
# Give BYTES >= the largest output a bench writes.
warm_up() {
    local f=$2/.warm-dd bs=$((16 << 20))
    sync
    dd if=/dev/zero of="$f" bs=$bs count=$((($1 + bs - 1) / bs)) status=none
    rm -f "$f"; sync
}
