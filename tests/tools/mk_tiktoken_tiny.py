"""Writes tests/data/tok-tiktoken/: a small synthetic tiktoken tokenizer laid out as Kimi-K2's.

Kimi-K2 / K2-Thinking / Moonlight ship tiktoken.model (one "BASE64 RANK" a line) and
tokenizer_config.json (tokenizer_class TikTokenTokenizer, auto_map to the repository's
tokenization_kimi.py, added_tokens_decoder naming some of the 258 special ids after the ranks)
and no tokenizer.json. This fixture has the same layout at a small size, generated here (nothing
of Kimi's vocabulary is in it):
  - 1000 ranks: the 256 single bytes in a shuffled order, then 744 tokens learned by plain BPE
    (most frequent adjacent pair first) from a mixed English / Chinese / emoji / code text, so
    multi-byte UTF-8 pieces and partial characters occur; plus a few tokens placed so that the
    converter's rank-limited BPE ends in three parts (no merge written) or takes another pair
    than the one the token was learned from; one blank line (skipped by the loader).
  - tokenizer_config.json: Kimi-K2's shape (special and non-special added tokens, gaps that
    become <|reserved_token_N|>, one entry below the ranks that the tokenizer ignores),
    add_bos_token/add_eos_token, a chat template.
  - tokenization_kimi.py: a stand-in (not a tokenizer) holding only what dsconv reads to
    recognize Kimi's tokenizer: the split pattern and the special-token layout.
With vocab_size 1280 (dsconv-sample) ids 1000..1257 are special and 1258..1279 [PAD<i>].

usage: python mk_tiktoken_tiny.py OUT_DIR
"""
import base64, json, os, random, re, sys

out = sys.argv[1]
rng = random.Random(16)
TEXT = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away!\n"
    "In 2025, 12345 tokens were counted: 3.14159 and 2.71828 are numbers, 0x1F600 is hex.\n"
    "def main(argv):\n    for i in range(10):\n        print(f\"value {i}\")\n    return 0\n"
    "我想在苹果公司工作，今天天气很好。我们一起学习中文和英文。模型的词表很大。\n"
    "日本語のテキストも少し。한국어 문장도 있습니다. Ünïcödé àccénts, naïve café.\n"
    "Emoji: 🚀🚀 🦙 😶‍🌫️ ✅ and ------======= ''''''```````\"\"\"\"......!!!!!!??????\n"
    "\t\ttabs\tand   spaces    and\r\nnewlines\n\n\n"
) * 3
# pre-split roughly as a tiktoken pattern would (letters with a leading space, digits, others)
words = re.findall(r" ?[A-Za-z\u00c0-\u024f]+| ?[0-9]{1,3}|[\u4e00-\u9fff\u3040-\u30ff\uac00-\ud7af]+| ?[^\sA-Za-z0-9]+|\s+", TEXT)
seqs = [[bytes([b]) for b in w.encode("utf-8")] for w in words]

singles = [bytes([b]) for b in range(256)]
rng.shuffle(singles)
ranks = {t: i for i, t in enumerate(singles)}
N = 1000
extra = [b"xqz", b"\xf0\x9f\xa6", b"zzzz"]  # rank-limited BPE of these ends in 3+ parts, or needs later ranks
while len(ranks) < N - len(extra):
    counts = {}
    for s in seqs:
        for a, b in zip(s, s[1:]):
            counts[(a, b)] = counts.get((a, b), 0) + 1
    counts = {p: c for p, c in counts.items() if p[0] + p[1] not in ranks}
    if not counts:
        break
    best = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
    new = best[0] + best[1]
    ranks[new] = len(ranks)
    for i, s in enumerate(seqs):
        j, o = 0, []
        while j < len(s):
            if j + 1 < len(s) and s[j] == best[0] and s[j + 1] == best[1]:
                o.append(new); j += 2
            else:
                o.append(s[j]); j += 1
        seqs[i] = o
for t in extra:
    if t not in ranks:
        ranks[t] = len(ranks)
k = 2000
while len(ranks) < N:  # filler if the text ran out of pairs: two-byte tokens of high bytes
    t = bytes([128 + k % 128, 128 + (k // 128) % 128]); k += 1
    if t not in ranks:
        ranks[t] = len(ranks)
assert len(ranks) == N and sorted(ranks.values()) == list(range(N))

os.makedirs(out, exist_ok=True)
lines = [base64.b64encode(t).decode() + " " + str(r) for t, r in ranks.items()]
lines.insert(500, "")
open(os.path.join(out, "tiktoken.model"), "w").write("\n".join(lines) + "\n")


def tok(content, special):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": special}


atd = {}
names = [("[BOS]", True), ("[EOS]", True), ("<|im_end|>", True), ("<|im_user|>", True),
         ("<|im_assistant|>", True), None, ("<|start_header_id|>", True), ("<|end_header_id|>", True),
         None, ("[EOT]", True), ("<|im_system|>", True), ("<|tool_calls_section_begin|>", False),
         ("<|tool_calls_section_end|>", False), ("<|tool_call_begin|>", False),
         ("<|tool_call_argument_begin|>", False), ("<|tool_call_end|>", False), None,
         ("<|im_middle|>", True), ("<think>", False), ("</think>", False)]
for i, nm in enumerate(names):
    if nm:
        atd[str(N + i)] = tok(*nm)
atd[str(N + 254)] = tok("[UNK]", True)
atd[str(N + 255)] = tok("[PAD]", True)
atd["7"] = tok("<|ignored_below_ranks|>", True)  # outside the special ids: the tokenizer ignores it
cfg = {
    "added_tokens_decoder": atd,
    "additional_special_tokens": ["<|im_end|>", "<|im_user|>", "<|im_assistant|>", "<|start_header_id|>",
                                  "<|end_header_id|>", "[EOT]", "<|im_system|>", "<|im_middle|>"],
    "add_bos_token": False,
    "add_eos_token": False,
    "bos_token": "[BOS]",
    "chat_template": "{%- for message in messages -%}<|im_{{ message['role'] }}|>{{ message['role'] }}"
                     "<|im_middle|>{{ message['content'] }}<|im_end|>{%- endfor -%}"
                     "{%- if add_generation_prompt -%}<|im_assistant|>assistant<|im_middle|>{%- endif -%}",
    "clean_up_tokenization_spaces": False,
    "eos_token": "[EOS]",
    "model_max_length": 1000000000000000019884624838656,
    "pad_token": "[PAD]",
    "tokenizer_class": "TikTokenTokenizer",
    "unk_token": "[UNK]",
    "auto_map": {"AutoTokenizer": ["tokenization_kimi.TikTokenTokenizer", None]},
}
json.dump(cfg, open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=2)

PAT = [r"""[\p{Han}]+""",
       r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
       r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
       r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""", r"""\s+"""]
stand_in = ['"""Stand-in for a Kimi-K2 tokenization_kimi.py (a dsconv test fixture, not a tokenizer).',
            "",
            "It holds only what dsconv to-gguf reads to recognize Kimi's tokenizer: the split pattern and",
            'the special-token layout (ids after the ranks, unnamed ones "<|reserved_token_{i}|>")."""',
            "",
            "num_reserved_special_tokens = 256",
            'pat_str = "|".join([',
            *['    r"""' + p + '""",' for p in PAT],
            "])",
            "# mergeable_ranks = load_tiktoken_bpe(vocab_file); special ids: len(mergeable_ranks) ..",
            "#   + num_reserved_special_tokens + 2, named by added_tokens_decoder or <|reserved_token_{i}|>",
            ""]
open(os.path.join(out, "tokenization_kimi.py"), "w").write("\n".join(stand_in))
print(len(ranks), "ranks,", len(atd), "added tokens")
