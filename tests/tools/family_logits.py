#!/usr/bin/env python3
"""family_logits.py - transformers' float64 logits for the dsconv-sample families,
the truth tests/e2e/families.sh holds verify's logits to (relative L2 <= 1e-4).

For each family this writes `dsconv-sample --family F`, strips its MTP layers and
(FP8 families) converts it to BF16 with dsconv (strip-mtp and fp8-to-bf16 are
byte-identical to the upstream scripts: families.sh checks that), loads the BF16
checkpoint with transformers (DeepseekV3ForCausalLM; kimi_k2 loaded as
deepseek_v3, as transformers has no kimi_k2; DeepseekV32ForCausalLM for v32) in
float64 with eager attention and experts, checks nothing was missing or
unexpected, and writes tests/data/families/F-logits-fp64.f32: float32
little-endian [positions, vocab] for the one sequence TOKENS.

kimi-thinking (routed experts in compressed-tensors pack-quantized INT4) is
decompressed here, not by dsconv: every weight_packed module goes through
compressed-tensors' own PackedQuantizationCompressor.decompress with the
scheme of the config's quantization_config (BF16 weights, as the library
writes them), the result is written as a BF16 checkpoint and loaded as above.

    /opt/refenv/bin/python tests/tools/family_logits.py [FAMILY...]
(torch, transformers 5.17, safetensors; run from the repository root after
`make CUDA=0 BUILD=build-cpu`; 2-core dev VM: under a minute)."""
import json
import os
import subprocess
import sys
import tempfile

import torch
import transformers
from transformers import DeepseekV3ForCausalLM

TOKENS = [5, 17, 3, 250, 99, 1000, 42, 7, 600, 12, 1, 900]  # as tests/e2e/families.sh writes them
FAMILIES = ["v3", "v32", "kimi", "kimi-thinking", "terminus", "moonlight"]
FP8 = {"v3", "v32", "kimi", "terminus"}


def run(*a):
    subprocess.run(list(a), check=True)


def ct_decompress(src, dst):
    """src's compressed-tensors modules decompressed by compressed-tensors itself into dst (BF16)."""
    import glob
    from safetensors.torch import load_file, save_file
    from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
    from compressed_tensors.quantization import QuantizationScheme

    cfg = json.load(open(os.path.join(src, "config.json")))
    qc = cfg.pop("quantization_config")
    if qc.get("format") != "pack-quantized" or len(qc["config_groups"]) != 1:
        raise SystemExit(f"{src}: expected one pack-quantized config group")
    group = next(iter(qc["config_groups"].values()))
    scheme = QuantizationScheme(**group)
    sd = {}
    for f in sorted(glob.glob(os.path.join(src, "*.safetensors"))):
        sd.update(load_file(f))
    modules = sorted({k[: -len(".weight_packed")] for k in sd if k.endswith(".weight_packed")})
    for m in modules:
        part = {k[len(m) + 1:]: sd.pop(k) for k in list(sd) if k.startswith(m + ".weight_")}
        dec = PackedQuantizationCompressor.decompress(part, scheme)
        if dec["weight"].dtype != torch.bfloat16:
            raise SystemExit(f"{m}: decompressed to {dec['weight'].dtype}, expected bfloat16")
        sd[m + ".weight"] = dec["weight"].contiguous()
    os.makedirs(dst, exist_ok=True)
    save_file(sd, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f)
    print(f"{src}: {len(modules)} pack-quantized modules decompressed by compressed-tensors", file=sys.stderr)


def logits(fam, work, out):
    d = os.path.join(work, fam)
    run("bin/dsconv-sample", "--family", fam, "--out", d + "/in", "--quiet")
    run("bin/dsconv", "strip-mtp", d + "/in", d + "/nomtp", "--quiet")
    src = d + "/nomtp"
    if fam in FP8:
        run("bin/dsconv", "fp8-to-bf16", src, d + "/bf16", "--quiet")
        src = d + "/bf16"
    elif fam == "kimi-thinking":
        ct_decompress(src, d + "/ct-bf16")
        src = d + "/ct-bf16"
    cfg = json.load(open(os.path.join(src, "config.json")))
    cls = DeepseekV3ForCausalLM
    if cfg["model_type"] == "deepseek_v32":
        cls = transformers.DeepseekV32ForCausalLM
    elif cfg["model_type"] != "deepseek_v3":  # kimi_k2: the DeepseekV3 architecture
        cfg["model_type"] = "deepseek_v3"
        cfg.pop("quantization_config", None)
        with open(os.path.join(src, "config.json"), "w") as f:
            json.dump(cfg, f)
    model, info = cls.from_pretrained(src, dtype=torch.float64, attn_implementation="eager",
                                      experts_implementation="eager", output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        raise SystemExit(f"{fam}: loading {src}: {bad}")
    model.eval()
    with torch.no_grad():
        y = model(torch.tensor([TOKENS])).logits[0]
    y.float().numpy().tofile(os.path.join(out, f"{fam}-logits-fp64.f32"))
    print(f"{fam}: {tuple(y.shape)} logits, config {model.config.model_type}", file=sys.stderr)


def main():
    fams = sys.argv[1:] or FAMILIES
    out = "tests/data/families"
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as work:
        for f in fams:
            logits(f, work, out)


if __name__ == "__main__":
    main()
