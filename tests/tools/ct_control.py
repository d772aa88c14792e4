#!/usr/bin/env python3
"""ct_control.py BF16_DIR OUT_DIR nvfp4|mxfp4 [--like DSCONV_OUT] - the control
for tests/gpu/ct_load.sh: the same BF16 model compressed by compressed-tensors
itself (its scheme preset, calculate_qparams/generate_gparam and the format's
compressor, as tests/tools/ct_ref.py calls them) and its quantization_config
serialized by the library's QuantizationConfig, written as a checkpoint that
transformers can be asked to load. When this output fails to load the way
dsconv's does, the failure is the loader's, not dsconv's.
The modules quantized are those dsconv quantized (--like: a dsconv requant
output of the same model), else every *_proj.weight of model.layers."""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct_ref  # noqa: E402
from compressed_tensors.compressors.mxfp4.base import MXFP4PackedCompressor  # noqa: E402
from compressed_tensors.compressors.nvfp4.base import NVFP4PackedCompressor  # noqa: E402
from compressed_tensors.quantization import QuantizationConfig, QuantizationScheme  # noqa: E402
from compressed_tensors.quantization.quant_scheme import MXFP4A16, NVFP4A16  # noqa: E402

src, dst, fmt = sys.argv[1:4]
like = sys.argv[sys.argv.index("--like") + 1] if "--like" in sys.argv else None
preset, comp, form = {"nvfp4": (NVFP4A16, NVFP4PackedCompressor, "nvfp4-pack-quantized"),
                      "mxfp4": (MXFP4A16, MXFP4PackedCompressor, "mxfp4-pack-quantized")}[fmt]
weights, _ = ct_ref.load_dir(src)
if like:
    names, _ = ct_ref.load_dir(like)
    modules = sorted(k[: -len(".weight_packed")] for k in names if k.endswith(".weight_packed"))
else:
    modules = sorted(k[: -len(".weight")] for k in weights
                     if k.startswith("model.layers.") and k.endswith("_proj.weight") and weights[k].ndim == 2)
out = {k: v for k, v in weights.items() if k[: -len(".weight")] not in modules}
out.update({k: v.cpu() for k, v in ct_ref.compress(weights, modules, preset, comp).items()})
os.makedirs(dst, exist_ok=True)
save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(dst, "model.safetensors"))
for f in os.listdir(src):
    if f.endswith(".json") and f != "model.safetensors.index.json":
        shutil.copy(os.path.join(src, f), dst)
cfg = json.load(open(os.path.join(dst, "config.json")))
qc = QuantizationConfig(config_groups={"group_0": QuantizationScheme(targets=["Linear"], **preset)},
                        format=form, quantization_status="compressed", ignore=["lm_head"])
cfg["quantization_config"] = qc.model_dump(exclude_none=True) | {"quant_method": "compressed-tensors"}
json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=1, default=str)
print(f"{fmt}: {len(modules)} modules compressed by compressed-tensors into {dst}", file=sys.stderr)
