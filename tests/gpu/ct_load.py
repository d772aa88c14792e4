"""ct_load.py CKPT TOKENS_JSON DSCONV_LOGITS [--device cpu|cuda] - load a dsconv requant output with
transformers (compressed-tensors quantizer) and compare its logits with the
logits `dsconv verify --dump-logits` computed for the same checkpoint.

Checks: the checkpoint loads with no missing or unexpected keys, its Linear
modules are compressed-tensors modules (the quantization_config was understood),
and the logits agree (worst per-position relative L2 and top-1). Prints
PASS/FAIL lines; exit 0 when all pass."""
import json
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM

# --device (anywhere): where the forward runs (default: cuda when there is one);
# --device cpu reproduces the GPU machine's load and forward on a CPU-only machine.
argv = sys.argv[1:]
want_dev = None
if "--device" in argv:
    i = argv.index("--device")
    want_dev = argv[i + 1]
    del argv[i:i + 2]
ckpt, tokens_path, ours_path = argv[:3]
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
fails = passes = 0


def check(name, ok, detail=""):
    global fails, passes
    print(("PASS " if ok else "FAIL ") + name + (": " + detail if detail else ""))
    fails += not ok
    passes += bool(ok)


model, info = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32, output_loading_info=True)
check("transformers loads the checkpoint", True)
check("no missing keys", not info["missing_keys"], str(sorted(info["missing_keys"])[:5]))
check("no unexpected keys", not info["unexpected_keys"], str(sorted(info["unexpected_keys"])[:5]))
kinds = sorted({type(m).__name__ for m in model.modules() if "Linear" in type(m).__name__})
print("Linear module types:", kinds)
q = model.config.quantization_config
check("quantization_config read as compressed-tensors",
      getattr(q, "quant_method", None) in ("compressed-tensors", "compressed_tensors") or "compressed" in str(type(q)).lower(),
      str(type(q)))
dev = want_dev or ("cuda" if torch.cuda.is_available() else "cpu")
model = model.to(dev).eval()
toks = json.load(open(tokens_path))
toks = toks["tokens"] if isinstance(toks, dict) else toks
with torch.no_grad():
    theirs = np.concatenate([model(torch.tensor([t], device=dev)).logits[0].float().cpu().numpy() for t in toks])
ours = np.fromfile(ours_path, dtype=np.float32).reshape(theirs.shape)
rel = np.linalg.norm(theirs - ours, axis=1) / np.linalg.norm(ours, axis=1)
top1 = float(np.mean(theirs.argmax(1) == ours.argmax(1)))
print(f"transformers vs dsconv verify on the INT checkpoint: worst rel L2 {rel.max():.3e}, mean {rel.mean():.3e}, top-1 {top1:.3f}")
check("logits agree with dsconv verify (worst rel L2 < 1e-2)", rel.max() < 1e-2, f"{rel.max():.3e}")
print(f"{passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
