#!/usr/bin/env bash
# bench-quick.sh - the bench on a small V3-shaped checkpoint, CPU paths only,
# in under a minute on a 2-core machine; run before and after touching a hot path.
# Timings are noisy: this is not part of `make test`.
exec bash "$(dirname "$0")/bench.sh" --size-gb "${SIZE_GB:-0.3}" --cpu-only --dir "${TMPDIR:-/tmp}/dsconv-bench-quick" \
    --skip requant-int4-mse-cpu,verify-cpu "$@"
