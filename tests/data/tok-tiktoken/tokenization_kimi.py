"""Stand-in for a Kimi-K2 tokenization_kimi.py (a dsconv test fixture, not a tokenizer).

It holds only what dsconv to-gguf reads to recognize Kimi's tokenizer: the split pattern and
the special-token layout (ids after the ranks, unnamed ones "<|reserved_token_{i}|>")."""

num_reserved_special_tokens = 256
pat_str = "|".join([
    r"""[\p{Han}]+""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
# mergeable_ranks = load_tiktoken_bpe(vocab_file); special ids: len(mergeable_ranks) ..
#   + num_reserved_special_tokens + 2, named by added_tokens_decoder or <|reserved_token_{i}|>
