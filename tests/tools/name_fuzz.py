"""Differential check of to-gguf's name heuristics against llama.cpp's converter (gguf-py).

Converts SRC (a checkpoint directory without README.md, e.g. dev-tiny plus tests/data/tok-tiny,
copied) under N random directory names made of model-name parts (versions, sizes, quant types,
finetunes, words) and compares to-gguf's general.* keys with what gguf-py's Metadata.load +
set_gguf_meta_model write for the same directory (general.name, basename, finetune, version,
size label from get_model_id_components). Prints the differences and "same N diff N". Not run
in CI (needs the llama.cpp source):

  LLAMA=/path/llama.cpp /opt/refenv/bin/python tests/tools/name_fuzz.py SEED SRC N
"""
import os, random, subprocess, sys, shutil, tempfile
from pathlib import Path
sys.path.insert(0, os.path.join(os.environ["LLAMA"], "gguf-py"))
import gguf  # noqa: E402
import numpy as np  # noqa: E402
random.seed(int(sys.argv[1])); src = sys.argv[2]; n = int(sys.argv[3])
dsconv = os.environ.get("DSCONV", "bin/dsconv")
work = tempfile.mkdtemp(prefix="name-fuzz-")
toks = ["DeepSeek", "V3", "v3", "R1", "7B", "A3B", "Instruct", "chat", "v1.2", "q4_0", "bf16", "small", "large", "8x7B",
        "iter3", "lora", "7b1", "1_5B", "xl", "Kimi", "K2", "Moonlight", "16B", "2.2M", "8x2M", "base", "Exp", "0324", "3", "12", "mini", "F16", "1.5t", ""]
SKIP = ("general.architecture", "general.type", "general.file_type", "general.quantization_version")
same = diff = 0
for i in range(n):
    name = "-".join(random.choice(toks) for _ in range(random.randint(1, 5)))
    if not name.strip("-"): continue
    d = f"{work}/{i}/{name}"
    os.makedirs(d)
    for f in os.listdir(src):
        (os.symlink if f.endswith(".safetensors") else shutil.copy)(os.path.realpath(os.path.join(src, f)), os.path.join(d, f))
    r = subprocess.run([dsconv, "to-gguf", d, f"{work}/{i}.gguf", "--type", "q8_0", "--quiet", "--no-sync"], capture_output=True)
    if r.returncode: print("rc", r.returncode, r.stderr[:200]); continue
    rd = gguf.GGUFReader(f"{work}/{i}.gguf")
    total = sum(int(np.prod(t.shape)) for t in rd.tensors)
    ds = {f.name: f.contents() for f in rd.fields.values() if f.name.startswith("general.") and f.name not in SKIP}
    md = gguf.Metadata.load(None, Path(d), None, total)
    if md.size_label is None: md.size_label = ds.get("general.size_label")  # computed label: checked by hash tests
    w = gguf.GGUFWriter(None, "deepseek2"); md.set_gguf_meta_model(w)
    py = {k: v.value for k, v in w.kv_data[0].items() if k not in SKIP}
    if py != ds:
        diff += 1; print(repr(name), {k: (py.get(k), ds.get(k)) for k in set(py) | set(ds) if py.get(k) != ds.get(k)})
    else: same += 1
    os.unlink(f"{work}/{i}.gguf")
shutil.rmtree(work)
print("same", same, "diff", diff)
sys.exit(1 if diff else 0)
