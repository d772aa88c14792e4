"""Reference GGUF hashes for dsconv to-gguf, made by llama.cpp's own converter.

Runs llama.cpp's convert_hf_to_gguf.py (from the llama-cpp-python 0.3.36 sdist, which vendors
llama.cpp; nothing of it is in this repository) on a BF16 checkpoint plus a tokenizer directory,
and prints JSON: the whole file's sha256 and size, every metadata key with its type, and every
tensor's name, ggml type, shape and the sha256 of its bytes, in file order.

  pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/lcpp
  tar xzf /tmp/lcpp/llama_cpp_python-0.3.36.tar.gz -C /tmp/lcpp
  LLAMA=/tmp/lcpp/llama_cpp_python-0.3.36/vendor/llama.cpp
  python gguf_ref.py $LLAMA CKPT_BF16 TOKDIR OUTTYPE OUT.gguf [--pre deepseek-v3] > ref.json

--pre NAME: the converter names the pre-tokenizer by hashing how the tokenizer splits a fixed
text; a cut-down tokenizer (tests/data/tok-tiny) hashes differently from the full one, so the test
fixture tells the converter the name the full tokenizer gets (checked once on the real
tokenizer.json, see MANUAL.md). Without --pre the converter decides.
--tiktoken: the tokenizer is tiktoken.model + tokenizer_config.json (Kimi-K2, Moonlight): a
stand-in for the repository's tokenizer class (see below) gives the converter what it reads.
--no-vocab: the converter writes no tokenizer keys (its set_vocab skipped), as dsconv --no-vocab.
DeepSeek-V3.2: a shim stands in for DeepseekV32Model.set_vocab's add_bos_token check, which
transformers 5 makes fail for every checkpoint (see below); the vocabulary is the converter's own.
--no-hash: convert only, print nothing (bench/bench_gguf.sh).
--dir NAME: the name of the directory the converter reads (default "model"); the converter
takes basename, finetune, version and size label from it (Metadata.apply_metadata_heuristic).
"""
import hashlib, json, os, runpy, sys, tempfile

llama, ckpt, tokdir, outtype, out = sys.argv[1:6]
pre = sys.argv[sys.argv.index("--pre") + 1] if "--pre" in sys.argv else None
no_hash = "--no-hash" in sys.argv  # read now: sys.argv is the converter's below
sys.path.insert(0, llama)
sys.path.insert(1, os.path.join(llama, "gguf-py"))

# The converter reads one directory: the checkpoint's files plus the tokenizer's, linked.
work = tempfile.mkdtemp(prefix="gguf-ref-")
model = os.path.join(work, sys.argv[sys.argv.index("--dir") + 1] if "--dir" in sys.argv else "model")
os.mkdir(model)
for d in (ckpt, tokdir):
    if d == "-":
        continue
    for f in os.listdir(d):
        dst = os.path.join(model, f)
        if os.path.lexists(dst):
            os.unlink(dst)
        os.symlink(os.path.abspath(os.path.join(d, f)), dst)

import conversion.base as base  # noqa: E402
if "--tiktoken" in sys.argv:
    # Kimi-K2 / Moonlight: the tokenizer class is the model repository's remote code
    # (tokenization_kimi.py, needing the tiktoken package); the converter's kimi-k2 branch reads
    # only tokenizer.model._mergeable_ranks and tokenizer.special_tokens from it. This stand-in
    # builds both as that code does: load_tiktoken_bpe's dict (file order, b64decode per line),
    # and ids len(ranks) .. +257 named by added_tokens_decoder or "<|reserved_token_{i}|>".
    # Without trust_remote_code the tokenizer does not load, so the converter's GPT-2 path
    # fails first, as for the real checkpoint.
    import base64, types, transformers  # noqa: E402

    class _KimiStandIn:
        def __init__(self, d):
            ranks = {}
            for line in open(os.path.join(d, "tiktoken.model"), "rb").read().splitlines():
                if line:
                    t, r = line.split()
                    ranks[base64.b64decode(t)] = int(r)
            self.model = types.SimpleNamespace(_mergeable_ranks=ranks)
            cfg = json.load(open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8"))
            names = {int(i): t["content"] for i, t in cfg.get("added_tokens_decoder", {}).items()}
            nb = len(ranks)
            self.special_tokens = {names.get(i, f"<|reserved_token_{i}|>"): i for i in range(nb, nb + 256 + 2)}

    def _from_pretrained(path, *a, trust_remote_code=False, **k):
        if not trust_remote_code:
            raise ValueError("the tokenizer is remote code (auto_map); trust_remote_code=True needed")
        return _KimiStandIn(str(path))

    transformers.AutoTokenizer.from_pretrained = _from_pretrained
if pre is not None:
    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
import conversion.deepseek as deepseek  # noqa: E402
if "--no-vocab" in sys.argv:  # compare with dsconv --no-vocab: the converter writes no tokenizer keys
    deepseek.DeepseekV2Model.set_vocab = lambda self: None
    deepseek.DeepseekV32Model.set_vocab = lambda self: None
else:
    # DeepSeek-V3.2 (DeepseekV32Model.set_vocab) asserts AutoTokenizer's add_bos_token, then writes
    # the vocabulary by _set_vocab_gpt2 (what DeepseekV2Model.set_vocab does first). Under
    # transformers 5 the assertion fails for every checkpoint with a tokenizer.json:
    # PreTrainedTokenizerBase.from_pretrained drops add_bos_token/add_eos_token from
    # tokenizer_config.json when a tokenizer file is there (tokenization_utils_base.py, "if
    # resolved_vocab_files.get('tokenizer_file')"), so the attribute reads False. The shim asserts
    # what the check meant, on the file itself (tokenizer_config.json's add_bos_token true), and
    # leaves the writing to the converter's own code.
    def _v32_set_vocab(self):
        tc = os.path.join(self.dir_model, "tokenizer_config.json")
        cfg = json.load(open(tc, encoding="utf-8")) if os.path.exists(tc) else {}
        assert cfg.get("add_bos_token", False), "Change value of add_bos_token to true in tokenizer_config.json file."
        self._set_vocab_gpt2()
    deepseek.DeepseekV32Model.set_vocab = _v32_set_vocab

sys.argv = ["convert_hf_to_gguf.py", model, "--outtype", outtype, "--outfile", out]
try:
    runpy.run_path(os.path.join(llama, "convert_hf_to_gguf.py"), run_name="__main__")
except SystemExit as e:
    if e.code:
        raise

if no_hash:  # bench: the conversion only
    sys.exit(0)
import gguf  # noqa: E402
r = gguf.GGUFReader(out)
res = {"file_sha256": hashlib.sha256(open(out, "rb").read()).hexdigest(),
       "file_size": os.path.getsize(out), "kv": [], "tensors": []}
for k, f in r.fields.items():
    if k.startswith("GGUF."):
        continue
    t = f.types[0].name if f.types else None
    v = f.contents()
    if isinstance(v, list) and len(v) > 8:
        v = {"n": len(v), "sha256": hashlib.sha256(json.dumps(v, ensure_ascii=False).encode()).hexdigest()}
    elif isinstance(v, str) and len(v) > 200:
        v = {"len": len(v), "sha256": hashlib.sha256(v.encode()).hexdigest()}
    res["kv"].append([k, t, v])
for t in r.tensors:
    res["tensors"].append([t.name, t.tensor_type.name, [int(x) for x in t.shape],
                           hashlib.sha256(bytes(t.data.tobytes())).hexdigest()])
json.dump(res, sys.stdout, indent=1, ensure_ascii=False)
print()
