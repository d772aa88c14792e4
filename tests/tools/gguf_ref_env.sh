# gguf_ref_env.sh - sourced by the tests/tools/gguf_ref*.sh reference generators: strict
# mode, the repository root as working directory, LLAMA (the llama.cpp source: the
# llama-cpp-python 0.3.36 sdist's vendor/llama.cpp) required, PY (a Python with torch,
# numpy, transformers: /opt/refenv by default), OUT (tests/data/gguf-ref) and a work
# directory W removed on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[1]}")/../.."
: "${LLAMA:?set LLAMA to the llama.cpp source directory}"
PY=${PY:-/opt/refenv/bin/python}
OUT=tests/data/gguf-ref
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
