"""Differential check of to-gguf's model-card reader against llama.cpp's converter (gguf-py).

Mutates the cards given (inserting YAML indicators, words such as `no`, `1.5`, `- `, `: `, ids
and URLs; deleting bytes), puts each as README.md into MODEL (a checkpoint directory to-gguf
converts, e.g. dev-tiny plus tests/data/tok-tiny), runs dsconv to-gguf, and compares its general.*
keys with what gguf-py's Metadata.load + set_gguf_meta_model write for the same directory.
Counts: same (identical keys and values), diff (must be 0), warned (dsconv said the card or a key
is not read), dsconv_only (the converter's YAML stops on the card where dsconv, which does not
check values of keys the converter ignores, writes the file), rc3 (dsconv exit 3; the converter
must fail there too). Not run in CI (needs the llama.cpp source):

  LLAMA=/path/llama.cpp /opt/refenv/bin/python tests/tools/card_fuzz.py MODEL N SEED tests/data/model-card/*.md
"""
import os, random, subprocess, sys
from pathlib import Path
sys.path.insert(0, os.path.join(os.environ["LLAMA"], "gguf-py"))
import gguf  # noqa: E402
import numpy as np  # noqa: E402

model, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seeds = [open(f, "rb").read() for f in sys.argv[4:]]
dsconv = os.environ.get("DSCONV", "bin/dsconv")
out = os.path.join(model, "..", "card-fuzz.gguf")
random.seed(seed)
special = b"-:[]{}'\"#&*!|>%@`?, \t\n\r~0.9\\"
words = [b"no", b"yes", b"null", b"~", b"1.5", b"2024-01-01", b"7B", b"- ", b": ", b"\n- x\n", b"\n  ", b"'a''b'",
         b'"q\\"x"', b"[a, 'b']", b"org/Name-7B-v1.2", b"https://huggingface.co/a/b", b"tags: ", b"license: ",
         b"base_model: "]
SKIP = ("general.architecture", "general.type", "general.file_type", "general.quantization_version")


def dsconv_keys(path):
    r = gguf.GGUFReader(path)
    total = sum(int(np.prod(t.shape)) for t in r.tensors)
    kv = {f.name: f.contents() for f in r.fields.values()
          if f.name.startswith("general.") and not f.name.startswith("general.sampling") and f.name not in SKIP}
    return kv, total


def converter_keys(total, size_label):
    md = gguf.Metadata.load(None, Path(model), None, total)
    if md.size_label is None:
        md.size_label = size_label
    w = gguf.GGUFWriter(None, "deepseek2")
    md.set_gguf_meta_model(w)
    return {k: v.value for k, v in w.kv_data[0].items() if k not in SKIP}


stats = dict(same=0, diff=0, warned=0, dsconv_only=0, rc3=0)
for i in range(n):
    d = bytearray(random.choice(seeds))
    for _ in range(random.randint(1, 4)):
        pos = random.randrange(len(d) + 1)
        r = random.random()
        if r < 0.5:
            d[pos:pos] = bytes([random.choice(special)])
        elif r < 0.75:
            d[pos:pos] = random.choice(words)
        else:
            del d[pos:pos + random.randint(1, 4)]
    open(os.path.join(model, "README.md"), "wb").write(d)
    p = subprocess.run([dsconv, "to-gguf", model, out, "--type", "q8_0", "--quiet", "--no-sync", "--force"],
                       capture_output=True)
    err = p.stderr.decode(errors="replace")
    try:
        gguf.Metadata.load(None, Path(model), None, 1)
        py_ok = True
    except Exception:
        py_ok = False
    if p.returncode == 3:
        stats["rc3"] += 1
        if py_ok:
            print(f"case {i}: dsconv exit 3 where the converter reads the card: {err[:200]}")
            stats["diff"] += 1
        continue
    if p.returncode != 0:
        print(f"case {i}: dsconv exit {p.returncode}: {err[:300]}")
        stats["diff"] += 1
        continue
    if "model card" in err:
        stats["warned"] += 1
        continue
    if not py_ok:
        stats["dsconv_only"] += 1
        continue
    ds, total = dsconv_keys(out)
    py = converter_keys(total, ds.get("general.size_label"))
    if py != ds:
        stats["diff"] += 1
        bad = {k: (py.get(k), ds.get(k)) for k in set(py) | set(ds) if py.get(k) != ds.get(k)}
        print(f"case {i}: converter vs dsconv {bad}")
        open(f"{out}.case{i}.md", "wb").write(d)
    else:
        stats["same"] += 1
os.unlink(out) if os.path.exists(out) else None
print(stats)
sys.exit(1 if stats["diff"] else 0)
