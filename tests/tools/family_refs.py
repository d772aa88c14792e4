#!/usr/bin/env python3
"""family_refs.py - reference hashes for tests/e2e/families.sh, made with the
upstream scripts on the dsconv-sample checkpoints of every family.

For each family (v3, v32, kimi, kimi-thinking, terminus, moonlight) this
  1. writes `dsconv-sample --family F` (deterministic; its tensor hashes are
     recorded as "input" so a test knows the sample did not change),
  2. strips the MTP layers (every tensor model.layers.N.* with N >=
     num_hidden_layers dropped, bytes unchanged) -> "strip_mtp",
  3. FP8 families: runs DeepSeek-V3's inference/fp8_cast_bf16.py on the stripped
     checkpoint -> "fp8_to_bf16",
  4. runs convert.py (DeepSeek-V3.2-Exp's for v32, DeepSeek-V3's otherwise)
     with --n-experts n_routed_experts --model-parallel N on the stripped
     checkpoint ("fp8-mpN", or "src-mpN" for a BF16/INT4 source) and on the
     BF16 conversion ("bf16-mpN") -> "model_parallel",
and writes tests/data/families/F.json: {key: {file: {tensor: {dtype, shape,
xxh3}}}} as tests/tools/golden compares it (hashes by build/tools/sthash).

fp8_cast_bf16.py dequantizes with a Triton kernel on a CUDA device. Without a
GPU its `kernel.weight_dequant` is replaced by the same computation in torch
on the CPU (fp8 -> float32, times the block's float32 scale, rounded to BF16),
and load_file's device by "cpu"; the dev-tiny fixture checks that this gives
the bytes the Triton kernel gave on an H100 (--check-dev-tiny). With --cuda the
upstream script runs unmodified.

The upstream scripts are read from the inference/ directories given, never
copied into this repository, e.g.:
    git -C MIRROR/DeepSeek-V3 archive HEAD inference | tar -x -C /tmp/v3
    git -C MIRROR/DeepSeek-V3.2-Exp archive HEAD inference | tar -x -C /tmp/v32
    /opt/refenv/bin/python tests/tools/family_refs.py --v3 /tmp/v3/inference \
        --v32 /tmp/v32/inference --build build-cpu [--check-dev-tiny]
(torch, safetensors, tqdm; 2-core dev VM: about a minute)."""
import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import torch
import safetensors.torch as st

FAMILIES = ["v3", "v32", "kimi", "kimi-thinking", "terminus", "moonlight"]
FP8 = {"v3", "v32", "kimi", "terminus"}
MP = [1, 2, 4]


def load_module(path, name, cpu):
    if cpu:
        shim = type(sys)("kernel")

        def weight_dequant(x, s, block_size=128):
            M, N = x.shape
            ss = s.repeat_interleave(block_size, 0)[:M].repeat_interleave(block_size, 1)[:, :N]
            return (x.to(torch.float32) * ss.to(torch.float32)).to(torch.get_default_dtype())

        shim.weight_dequant = weight_dequant
        sys.modules["kernel"] = shim
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if cpu and hasattr(mod, "load_file"):
        mod.load_file = lambda p, device="cpu": st.load_file(p, device="cpu")
        torch.cuda.empty_cache = lambda: None
    return mod


def sthash(build, d):
    out = subprocess.run([os.path.join(build, "tools", "sthash"), d], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def strip_mtp(src, dst):
    cfg = json.load(open(os.path.join(src, "config.json")))
    n = cfg["num_hidden_layers"]
    os.makedirs(dst, exist_ok=True)
    weight_map = {}
    for f in sorted(os.listdir(src)):
        p = os.path.join(src, f)
        if f.endswith(".safetensors"):
            t = st.load_file(p)
            keep = {k: v for k, v in t.items()
                    if not (re.match(r"model\.layers\.(\d+)\.", k) and int(k.split(".")[2]) >= n)}
            if keep:
                st.save_file(keep, os.path.join(dst, f))
                weight_map.update({k: f for k in keep})
        elif f != "model.safetensors.index.json":
            shutil.copy(p, dst)
    json.dump({"metadata": {}, "weight_map": weight_map}, open(os.path.join(dst, "model.safetensors.index.json"), "w"))
    return cfg


def family(args, fam, work):
    root = os.path.join(work, fam)
    inp = os.path.join(root, "input")
    subprocess.run([os.path.join("bin", "dsconv-sample"), "--family", fam, "--out", inp, "--quiet"], check=True)
    ref = {"family": fam, "input": sthash(args.build, inp)}
    nomtp = os.path.join(root, "nomtp")
    cfg = strip_mtp(inp, nomtp)
    ref["strip_mtp"] = sthash(args.build, nomtp)
    bf16 = nomtp
    if fam in FP8:
        bf16 = os.path.join(root, "bf16")
        cast = load_module(os.path.join(args.v3, "fp8_cast_bf16.py"), "fp8_cast_bf16", not args.cuda)
        cast.main(nomtp, bf16)
        ref["fp8_to_bf16"] = sthash(args.build, bf16)
    conv = load_module(os.path.join(args.v32 if fam == "v32" else args.v3, "convert.py"), "convert", False)
    mp = {}
    for n in MP:
        for tag, src in (("fp8" if fam in FP8 else "src", nomtp), ("bf16", bf16)):
            if tag == "bf16" and fam not in FP8:
                continue
            out = os.path.join(root, f"{tag}-mp{n}")
            try:
                conv.main(src, out, cfg["n_routed_experts"], n)
            except AssertionError as e:  # upstream refuses this split
                print(f"{fam} {tag}-mp{n}: convert.py refuses: {e}", file=sys.stderr)
                continue
            mp[f"{tag}-mp{n}"] = sthash(args.build, out)
    ref["model_parallel"] = mp
    return ref


def check_dev_tiny(args, work):
    exp = json.load(open("tests/data/dev-tiny/expected.json"))
    out = os.path.join(work, "dev-tiny-bf16")
    cast = load_module(os.path.join(args.v3, "fp8_cast_bf16.py"), "fp8_cast_bf16", not args.cuda)
    cast.main("tests/data/dev-tiny/input", out)
    got = sthash(args.build, out)
    ok = got == exp["fp8_to_bf16"]["tensors"]
    print("dev-tiny: fp8_cast_bf16 here gives the H100 reference bytes:", "yes" if ok else "NO", file=sys.stderr)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--v3", required=True, help="DeepSeek-V3's inference/ directory")
    ap.add_argument("--v32", required=True, help="DeepSeek-V3.2-Exp's inference/ directory")
    ap.add_argument("--build", default="build-cpu", help="build directory holding tools/sthash")
    ap.add_argument("--out", default="tests/data/families")
    ap.add_argument("--cuda", action="store_true", help="run fp8_cast_bf16.py unmodified (Triton on a GPU)")
    ap.add_argument("--check-dev-tiny", action="store_true")
    ap.add_argument("families", nargs="*", default=FAMILIES)
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        if args.check_dev_tiny and not check_dev_tiny(args, work):
            sys.exit(1)
        for fam in args.families:
            ref = family(args, fam, work)
            with open(os.path.join(args.out, fam + ".json"), "w") as f:
                json.dump(ref, f, separators=(",", ":"), sort_keys=True)
                f.write("\n")
            print(f"{fam}: {sum(len(v) for v in ref['model_parallel'].values())} rank files", file=sys.stderr)


if __name__ == "__main__":
    main()
