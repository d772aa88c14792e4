#!/usr/bin/env python3
"""gguf_dequant.py - a quantized deepseek2 GGUF's weights back as float32, for logit proofs.

Test reference tool (never part of dsconv): reads GGUF with llama.cpp's own gguf-py (put
$LLAMA/gguf-py on PYTHONPATH), dequantizes every tensor with gguf-py's dequantize (the
Q8_0/Q4_K/Q5_0/Q6_K decoders of ggml-quants.c written in numpy) and writes

  OUT_DIR/      an HF checkpoint in the layout of REF (float32 safetensors, REF's config.json
                without quantization_config): every weight `dsconv verify` runs, exactly the
                values llama.cpp sees in the file (ggml_types.json: each weight's type there).
                So `dsconv verify OUT_DIR` gives the logits of the quantized weights computed
                in float32, free of llama.cpp's arithmetic.
  --f32 F.gguf  (optional) the same GGUF with every tensor stored as F32 (metadata copied):
                llama.cpp on it computes the quantized weights without quantizing activations.

The converter's renames are undone from gguf-py's own name table (MODEL_ARCH.DEEPSEEK2):
ffn_*_exps [E, rows, cols] are unstacked into mlp.experts.E.*, attn_k_b [H, kv_lora, nope]
(transposed per head) and attn_v_b [H, v, kv_lora] are joined back into kv_b_proj
[H*(nope+v), kv_lora] as conversion/deepseek.py split it. Every GGUF tensor must be used
exactly once and every REF weight (MTP layers and FP8 scales aside: the GGUF has neither)
must be produced with REF's shape, else exit 3.

  usage: gguf_dequant.py FILE.gguf REF_CKPT OUT_DIR [--f32 OUT.gguf]
"""
import json
import os
import re
import struct
import sys

import numpy as np

try:
    import yaml  # noqa: F401  gguf-py imports it for model cards only
except ImportError:  # a machine without PyYAML (the GPU machine): nothing here reads a model card
    import types
    sys.modules["yaml"] = types.ModuleType("yaml")
try:
    import gguf
except ImportError:
    sys.exit("gguf_dequant.py: gguf-py not found; PYTHONPATH=$LLAMA/gguf-py")


def die(msg):
    print("gguf_dequant.py: " + msg, file=sys.stderr)
    sys.exit(3)


def st_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h


def write_st(path, tensors):
    """float32 safetensors (the format is a JSON header and raw little-endian bytes)."""
    hdr, off = {}, 0
    for name, a in tensors:
        hdr[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    hdr["__metadata__"] = {"format": "pt"}
    hb = json.dumps(hdr, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, a in tensors:
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
    os.replace(tmp, path)


def main():
    args = sys.argv[1:]
    f32_out = None
    if "--f32" in args:
        i = args.index("--f32")
        f32_out = args[i + 1]
        del args[i:i + 2]
    if len(args) != 3:
        print(__doc__.split("usage: ")[1].strip(), file=sys.stderr)
        sys.exit(2)
    src, ref, out = args
    cfg = json.load(open(os.path.join(ref, "config.json")))
    L = cfg["num_hidden_layers"]
    H, nope, vd = cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["v_head_dim"]

    want = {}  # HF name -> shape, as verify reads REF
    for fn in sorted(os.listdir(ref)):
        if fn.endswith(".safetensors"):
            for k, v in st_header(os.path.join(ref, fn)).items():
                m = re.match(r"model\.layers\.(\d+)\.", k)
                if k.endswith("_scale_inv") or (m and int(m.group(1)) >= L):
                    continue
                want[k] = tuple(v["shape"])

    r = gguf.GGUFReader(src)
    deq, used = {}, set()
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        a = a.reshape([int(x) for x in reversed(t.shape)])  # ne0 last, as numpy holds it
        deq[t.name] = (a, t.tensor_type.name)

    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.DEEPSEEK2, L)

    def take(gname):
        if gname not in deq:
            die(f"{src}: no tensor {gname}")
        used.add(gname)
        return deq[gname][0]

    result, types = [], {}
    for name in sorted(want):
        ex = re.match(r"(model\.layers\.(\d+)\.mlp\.experts)\.(\d+)\.(\w+)\.weight$", name)
        if ex:
            g = tmap.get_name(f"{ex.group(1)}.{ex.group(4)}.weight", try_suffixes=(".weight",))
            a = take(g)[int(ex.group(3))]
            types[name] = deq[g][1]
        elif name.endswith("kv_b_proj.weight"):
            kb = take(tmap.get_name(name.replace("kv_b_proj", "k_b_proj"), try_suffixes=(".weight",)))
            vb = take(tmap.get_name(name.replace("kv_b_proj", "v_b_proj"), try_suffixes=(".weight",)))
            if kb.shape[0] != H or kb.shape[2] != nope or vb.shape[1] != vd:
                die(f"{src}: attn_k_b {kb.shape} / attn_v_b {vb.shape} do not match config")
            a = np.concatenate([kb.transpose(0, 2, 1), vb], axis=1).reshape(H * (nope + vd), kb.shape[1])
            types[name] = deq[tmap.get_name(name.replace("kv_b_proj", "k_b_proj"), try_suffixes=(".weight",))][1]
        else:
            key = name.replace("e_score_correction_bias", "e_score_correction.bias")
            g = tmap.get_name(key, try_suffixes=(".weight", ".bias"))
            if g is None:
                die(f"{ref}: no GGUF name for {name}")
            a = take(g)
            types[name] = deq[g][1]
        if tuple(a.shape) != want[name]:
            die(f"{name}: dequantized shape {a.shape}, {ref} has {want[name]}")
        result.append((name, a))
    left = sorted(set(deq) - used)
    if left:
        die(f"{src}: tensors not mapped back: {', '.join(left)}")

    os.makedirs(out, exist_ok=True)
    write_st(os.path.join(out, "model.safetensors"), result)
    cfg.pop("quantization_config", None)
    cfg["torch_dtype"] = "float32"
    cfg["num_nextn_predict_layers"] = 0  # the GGUF has no MTP layer (as strip-mtp writes it)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out, "ggml_types.json"), "w") as f:
        json.dump(types, f, indent=1, sort_keys=True)

    if f32_out:
        arch = r.fields["general.architecture"].contents()
        w = gguf.GGUFWriter(f32_out + ".tmp", arch)
        for f in r.fields.values():
            if f.name.startswith("GGUF.") or f.name == "general.architecture":
                continue
            if f.name == "general.file_type":
                w.add_key_value(f.name, int(gguf.LlamaFileType.ALL_F32), f.types[0])
                continue
            sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
            w.add_key_value(f.name, f.contents(), f.types[0], sub_type=sub)
        for t in r.tensors:
            w.add_tensor(t.name, deq[t.name][0])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(f32_out + ".tmp", f32_out)
    print(f"{len(result)} tensors from {len(deq)} GGUF tensors -> {out}")


if __name__ == "__main__":
    main()
