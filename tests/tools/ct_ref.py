#!/usr/bin/env python3
"""ct_ref.py DSCONV OUT.json - reference hashes of compressed-tensors' own bytes
for `dsconv requant --format nvfp4|mxfp4` and `dsconv to-bf16`, on the dev-tiny
fixture. Run with /opt/refenv/bin/python (torch CPU, compressed-tensors 0.20):

    /opt/refenv/bin/python tests/tools/ct_ref.py bin/dsconv tests/data/quantfmt/expected.json

What the library computes, nothing of dsconv's arithmetic:
  * compress: for every Linear that `dsconv requant --format F` quantizes (the
    names are taken from dsconv's output, the weights from the BF16 conversion
    of dev-tiny), the library's scheme preset (NVFP4A16 / MXFP4A16), its
    calculate_qparams on per-group bf16 min/max, generate_gparam on the
    weight's (for gate_proj/up_proj: the pair's) bf16 min/max, and the
    format's compressor (NVFP4PackedCompressor / MXFP4PackedCompressor).
  * decompress: convert_checkpoint with CompressedTensorsDequantizer (BF16) on
    compressed checkpoints: dsconv's requant outputs (int8 channel, int4 group
    128 sym and asym, nvfp4, mxfp4) and a Kimi-K2-Thinking-shaped one (routed
    experts INT4 symmetric group 32, everything else BF16).
Tensor bytes are hashed by writing them to safetensors and running
`DSCONV manifest` (XXH3-128 per tensor), so the committed JSON holds
{case: {tensor: xxh3_128}} and tests/e2e/to_bf16.sh / requant_fp4.sh compare
dsconv's outputs with it (tests/tools/mfsubset.c)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from compressed_tensors.compressors.mxfp4.base import MXFP4PackedCompressor
from compressed_tensors.compressors.nvfp4.base import NVFP4PackedCompressor
from compressed_tensors.entrypoints.convert import convert_checkpoint
from compressed_tensors.entrypoints.convert.converters.ct_dequantizer import CompressedTensorsDequantizer
from compressed_tensors.quantization import QuantizationScheme
from compressed_tensors.quantization.quant_scheme import MXFP4A16, NVFP4A16
from compressed_tensors.quantization.utils.helpers import calculate_qparams, generate_gparam

# On a machine with a GPU the library runs its Triton kernels there: the same
# hashes must come out (tests/gpu/fp4_cuda.sh runs this script again there).
DEV = "cuda" if torch.cuda.is_available() else "cpu"
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "data", "dev-tiny", "input")


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def load_dir(d):
    """{name: tensor} of every shard in d, and {name: shard file}."""
    out, where = {}, {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(d, f), "pt") as sf:
                for k in sf.keys():
                    out[k] = sf.get_tensor(k)
                    where[k] = f
    return out, where


def manifest_tensors(dsconv, d):
    m = json.loads(subprocess.run([dsconv, "manifest", d], check=True, capture_output=True, text=True).stdout)
    h = {}
    for f in m["files"].values():
        h.update(f.get("tensors", {}))
    return h


def hash_tensors(dsconv, tensors):
    d = tempfile.mkdtemp()
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, os.path.join(d, "model.safetensors"))
        shutil.copy(os.path.join(FIXTURE, "config.json"), d)
        return manifest_tensors(dsconv, d)
    finally:
        shutil.rmtree(d)


def partner(name):
    for a, b in (("gate_proj.weight", "up_proj.weight"), ("up_proj.weight", "gate_proj.weight")):
        if name.endswith(a):
            return name[: -len(a)] + b
    return None


def compress(weights, modules, preset, compressor):
    scheme = QuantizationScheme(targets=["Linear"], **preset)
    args = scheme.weights
    out = {}
    for m in modules:
        w = weights[m + ".weight"].to(DEV)
        assert w.dtype == torch.bfloat16
        rows, cols = w.shape
        g = args.group_size
        x = w.reshape(rows, cols // g, g)
        mn, mx = torch.amin(x, dim=-1), torch.amax(x, dim=-1)
        sd = {"weight": w}
        gs = None
        if compressor is NVFP4PackedCompressor:
            names = [m + ".weight"] + ([partner(m + ".weight")] if partner(m + ".weight") in weights else [])
            tmin = torch.stack([weights[n].to(DEV).min() for n in names]).min()
            tmax = torch.stack([weights[n].to(DEV).max() for n in names]).max()
            gs = generate_gparam(tmin.reshape(1), tmax.reshape(1))
            sd["weight_global_scale"] = gs
        scale, zp = calculate_qparams(mn, mx, args, global_scale=gs)
        sd["weight_scale"] = scale
        sd["weight_zero_point"] = zp
        c = compressor.compress(sd, scheme)
        for k, v in c.items():
            if k in ("weight_packed", "weight_scale", "weight_global_scale"):
                out[m + "." + k] = v
    return out


def dequantize(src, dst):
    convert_checkpoint(src, dst, converter=CompressedTensorsDequantizer(src), max_workers=1, device=DEV)


def main():
    dsconv, out_json = os.path.abspath(sys.argv[1]), sys.argv[2]
    tmp = tempfile.mkdtemp()
    res = {}
    try:
        bf16 = os.path.join(tmp, "bf16")
        run(dsconv, "fp8-to-bf16", FIXTURE, bf16, "--quiet")
        weights, _ = load_dir(bf16)
        for fmt, preset, comp in (("nvfp4", NVFP4A16, NVFP4PackedCompressor), ("mxfp4", MXFP4A16, MXFP4PackedCompressor)):
            q = os.path.join(tmp, fmt)
            run(dsconv, "requant", bf16, q, "--format", fmt, "--quiet")
            names, _ = load_dir(q)
            modules = sorted(k[: -len(".weight_packed")] for k in names if k.endswith(".weight_packed"))
            res["requant_" + fmt] = hash_tensors(dsconv, compress(weights, modules, preset, comp))
            print(f"{fmt}: {len(modules)} modules", file=sys.stderr)
        # Decompression: every format dsconv writes, and Kimi-K2-Thinking's.
        cases = {
            "int8": ["--format", "int8"],
            "int4": ["--format", "int4"],
            "int4_asym": ["--format", "int4", "--asym", "--group-size", "64"],
            "nvfp4": ["--format", "nvfp4"],
            "mxfp4": ["--format", "mxfp4"],
            "kimi_thinking": ["--format", "int4", "--group-size", "32",
                              "--ignore", "re:.*self_attn\\.", "--ignore", "re:.*shared_experts\\.",
                              "--ignore", "re:model\\.layers\\.0\\.mlp\\."],
        }
        for name, flags in cases.items():
            q = os.path.join(tmp, "c_" + name)
            run(dsconv, "requant", bf16, q, "--quiet", *flags)
            d = os.path.join(tmp, "d_" + name)
            dequantize(q, d)
            t, _ = load_dir(d)
            res["to_bf16_" + name] = hash_tensors(dsconv, t)
            print(f"to_bf16 {name}: {len(t)} tensors", file=sys.stderr)
        # --experts-only from the FP8 input: float-quantized block FP8 beside the
        # experts' scheme. The library leaves the ignored MTP layer (FP8 with
        # weight_scale_inv) as it is, where to-bf16 dequantizes it: the MTP
        # tensors are left out of these references (compared with --partial).
        nl = json.load(open(os.path.join(FIXTURE, "config.json")))["num_hidden_layers"]
        def main_layer(k):
            parts = k.split(".")
            return not (len(parts) > 2 and parts[1] == "layers" and int(parts[2]) >= nl)
        for fmt in ("nvfp4", "int4"):
            q = os.path.join(tmp, "eo_" + fmt)
            run(dsconv, "requant", FIXTURE, q, "--quiet", "--experts-only", "--format", fmt)
            d = os.path.join(tmp, "deo_" + fmt)
            dequantize(q, d)
            t, _ = load_dir(d)
            res["to_bf16_experts_only_" + fmt] = hash_tensors(dsconv, {k: v for k, v in t.items() if main_layer(k)})
            print(f"to_bf16 experts_only {fmt}: {len(t)} tensors", file=sys.stderr)
    finally:
        shutil.rmtree(tmp)
    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    with open(out_json, "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
