"""Writes tests/data/tok-variants/: two tokenizers that take gguf-py SpecialVocab's less common roads,
for tests/e2e/to_gguf_tiktoken.sh (references: tests/tools/gguf_ref_tiktoken.sh).

  deepseek/: tests/data/tok-tiny (DeepSeek-V3's tokenizer, cut) with a normalizer Sequence
      [Lowercase, BertNormalizer(lowercase false, strip_accents true)] (the converter writes
      tokenizer.ggml.normalizer.lowercase false and .strip_accents true: the last one wins), no
      bos_token but a cls_token (SpecialVocab takes it as BOS), and chat_template null beside a
      chat_template.jinja (the key is there, so no template is written).
  kimi-jinja/: tests/data/tok-tiktoken without chat_template in tokenizer_config.json and with a
      chat_template.jinja (written as the template).

usage: python mk_vocab_variants.py OUT_DIR   (run from the repository root)
"""
import json, os, shutil, sys

out = sys.argv[1]
d = os.path.join(out, "deepseek")
os.makedirs(d, exist_ok=True)
t = json.load(open("tests/data/tok-tiny/tokenizer.json", encoding="utf-8"))
t["normalizer"] = {"type": "Sequence", "normalizers": [
    {"type": "Lowercase"},
    {"type": "BertNormalizer", "clean_text": False, "handle_chinese_chars": False, "strip_accents": True,
     "lowercase": False}]}
json.dump(t, open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
c = json.load(open("tests/data/tok-tiny/tokenizer_config.json", encoding="utf-8"))
c["cls_token"] = c.pop("bos_token")
c["chat_template"] = None
json.dump(c, open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
open(os.path.join(d, "chat_template.jinja"), "w").write("{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}\n")

k = os.path.join(out, "kimi-jinja")
os.makedirs(k, exist_ok=True)
for f in ("tiktoken.model", "tokenization_kimi.py"):
    shutil.copy(os.path.join("tests/data/tok-tiktoken", f), k)
c = json.load(open("tests/data/tok-tiktoken/tokenizer_config.json", encoding="utf-8"))
del c["chat_template"]
json.dump(c, open(os.path.join(k, "tokenizer_config.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=2)
open(os.path.join(k, "chat_template.jinja"), "w").write(
    "{%- for message in messages -%}<|im_{{ message['role'] }}|>{{ message['content'] }}<|im_end|>{%- endfor -%}\n")
print("written", d, k)
