#!/usr/bin/env python3
"""gguf_attrib.py - which tensor's quantization moves the logits, one tensor group at a time.

Test analysis tool (issue 16, tests/llama/NOTES.md). For each dequantized checkpoint DIR
(gguf_dequant.py) and each weight group that differs from REF_DIR's (the bf16 file's round
trip), writes a checkpoint with only that group taken from DIR, runs `dsconv verify` on it and
prints the relative L2 of all logits against REF_DIR's, the per-position median, and the
positions moved by more than 0.2 (routing flips: on dev-tiny a flipped position moves ~0.5).

  usage: gguf_attrib.py DSCONV TOKENS.json REF_DIR DIR ...
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file, save_file


def group(k):
    return re.sub(r"experts\.\d+\.", "experts.", re.sub(r"\.weight$", "", k))


def logits(ds, tokens, d, tmp):
    out = os.path.join(tmp, "l.f32")
    subprocess.run([ds, "verify", d, "--tokens", tokens, "--dump-logits", out], capture_output=True, check=True)
    return np.fromfile(out, "<f4")


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__.split("usage: ")[1])
    ds, tokens, refd = sys.argv[1:4]
    ref = load_file(os.path.join(refd, "model.safetensors"))
    with tempfile.TemporaryDirectory() as tmp:
        b = logits(ds, tokens, refd, tmp)
        V = ref["lm_head.weight"].shape[0]
        b = b.reshape(-1, V)
        for d in sys.argv[4:]:
            q = load_file(os.path.join(d, "model.safetensors"))
            groups = sorted({group(k) for k in ref if not np.array_equal(ref[k], q[k])})
            print(f"== {d}: one group at a time, the rest from {refd}")
            mixd = os.path.join(tmp, "mix")
            os.makedirs(mixd, exist_ok=True)
            with open(os.path.join(refd, "config.json")) as f, open(os.path.join(mixd, "config.json"), "w") as g:
                g.write(f.read())
            for gr in groups:
                save_file({k: (q[k] if group(k) == gr else ref[k]) for k in ref}, os.path.join(mixd, "model.safetensors"))
                a = logits(ds, tokens, mixd, tmp).reshape(-1, V)
                per = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
                moved = [int(i) for i in np.nonzero(per > 0.2)[0]]
                print(f"   {gr:48s} rel L2 {np.linalg.norm(a - b) / np.linalg.norm(b):.4f} median {np.median(per):.4f}"
                      f" positions moved > 0.2: {moved}")


if __name__ == "__main__":
    main()
