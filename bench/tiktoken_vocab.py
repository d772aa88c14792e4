"""Writes a synthetic Kimi-K2-sized tiktoken tokenizer (for bench/bench_tiktoken.sh).

163584 ranks, as Kimi-K2's tiktoken.model has (vocab_size 163840 = ranks + 256 reserved):
the 256 single bytes, runs of spaces, '=' and '-' up to 128 bytes (the longest tokens real
vocabularies have), then tokens each the join of two earlier tokens (as BPE training makes
them: the rank-limited BPE of most rebuilds that pair; of some it does not).
  typical (default): joins of short tokens, mean length about 7 bytes as in real vocabularies;
  stress: joins biased toward the latest (longest) tokens, capped at 64 bytes, mean about 50. Also a tokenizer_config.json with Kimi's
[BOS]/[EOS]/<|im_end|> ids and the tokenization_kimi.py stand-in of tests/data/tok-tiktoken.

usage: python bench/tiktoken_vocab.py OUT_DIR [typical|stress] [N_RANKS]
"""
import base64, json, os, random, shutil, sys

out = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "typical"
n = int(sys.argv[3]) if len(sys.argv) > 3 else 163584
rng = random.Random(2026)
toks = [bytes([b]) for b in range(256)]
rng.shuffle(toks)
seen = set(toks)
for ch in (b" ", b"=", b"-"):  # runs: 2, 4, ..., 128 (each the join of two halves)
    t = ch
    while len(t) < 128:
        t = t + t
        if t not in seen:
            seen.add(t); toks.append(t)
short = list(toks)  # typical: tokens of at most 6 bytes to join
while len(toks) < n:
    m = len(toks)
    if mode == "stress":
        a = toks[m - 1 - min(int(rng.expovariate(1 / 3000)), m - 1)]
        b = toks[rng.randrange(256)] if rng.random() < 0.5 else toks[rng.randrange(m)]
        cap = 64
    else:
        a = short[rng.randrange(len(short))]
        b = toks[rng.randrange(256)] if rng.random() < 0.5 else short[rng.randrange(len(short))]
        cap = 16
    t = a + b
    if len(t) <= cap and t not in seen:
        seen.add(t); toks.append(t)
        if len(t) <= 6:
            short.append(t)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "tiktoken.model"), "w") as f:
    for r, t in enumerate(toks):
        f.write(base64.b64encode(t).decode() + " " + str(r) + "\n")
here = os.path.dirname(os.path.abspath(__file__))
fix = os.path.join(here, "..", "tests", "data", "tok-tiktoken")
cfg = json.load(open(os.path.join(fix, "tokenizer_config.json"), encoding="utf-8"))
cfg["added_tokens_decoder"] = {str(n + int(k) - 1000): v for k, v in cfg["added_tokens_decoder"].items() if int(k) >= 1000}
json.dump(cfg, open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=2)
shutil.copy(os.path.join(fix, "tokenization_kimi.py"), out)
print(len(toks), "ranks, mean %.1f bytes, longest %d" % (sum(map(len, toks)) / len(toks), max(map(len, toks))))
