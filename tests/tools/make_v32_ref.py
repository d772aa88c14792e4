#!/usr/bin/env python3
"""make_v32_ref.py OUT_DIR - the v32-tiny fixture: a small random DeepSeek-V3.2
(model_type deepseek_v32, DeepSeek Sparse Attention) checkpoint and transformers'
float64 logits for it.

Run with the reference environment (torch, transformers 5.17, safetensors):
    /opt/refenv/bin/python tests/tools/make_v32_ref.py tests/data/v32-tiny

Writes into OUT_DIR:
  fp8/   the checkpoint as DeepSeek ships V3.2: linear weights F8_E4M3 in 128x128 blocks with F32
         weight_scale_inv (indexer wq_b and wk included), embeddings, norms, router, lm_head and the
         indexer's weights_proj BF16, the indexer's k_norm and the router bias F32; config.json in
         DeepSeek's format (rope_scaling, quantization_config).
  bf16/  the same checkpoint dequantized as fp8_cast_bf16.py does (float32 product, rounded to bf16),
         no quantization_config.
  tokens.json               {"tokens": [[...], ...]}: sequences longer and shorter than index_topk.
  logits-hf-fp64-all.f32    float32 [positions, vocab]: DeepseekV32ForCausalLM in float64 loaded from
                            bf16/ (every position, sequences concatenated).
  logits-dense-fp64-all.f32 the same model with the indexer's selection switched off (index_topk
                            larger than any sequence): what a verify that ignores the indexer computes.
  reference.json            the sizes, the per-position relative L2 between the two, the smallest
                            selection margin, the versions used.

The script checks what the fixture must prove and exits 1 otherwise:
  - the model loaded from bf16/ has no missing or unexpected keys and gives the logits of the model
    built in memory (config.json is read as intended);
  - past index_topk the selection matters: dense vs sparse relative L2 > 1e-2 at every such position;
  - no query's index_topk-th and next key are near a tie (relative gap > 1e-3 of the score scale), so a
    float32 implementation selects the same keys as float64.
"""
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file

import transformers
from transformers import DeepseekV32Config, DeepseekV32ForCausalLM

SEED = 20261129
TOKENS = None  # drawn from the seed below

CONFIG = {
    "architectures": ["DeepseekV32ForCausalLM"],
    "model_type": "deepseek_v32",
    "vocab_size": 256,
    "hidden_size": 160,
    "intermediate_size": 192,
    "moe_intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_nextn_predict_layers": 0,
    "first_k_dense_replace": 1,
    "moe_layer_freq": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "q_lora_rank": 96,
    "kv_lora_rank": 64,
    "qk_nope_head_dim": 32,
    "qk_rope_head_dim": 16,
    "v_head_dim": 32,
    "n_routed_experts": 4,
    "n_shared_experts": 1,
    "num_experts_per_tok": 2,
    "n_group": 2,
    "topk_group": 1,
    "routed_scaling_factor": 2.5,
    "scoring_func": "sigmoid",
    "topk_method": "noaux_tc",
    "norm_topk_prob": True,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-06,
    "max_position_embeddings": 163840,
    "rope_theta": 10000,
    # mscale != mscale_all_dim: cos/sin carry an attention factor != 1, which the indexer's RoPE shares
    "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                     "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.5},
    "index_n_heads": 8,
    "index_head_dim": 32,
    "index_topk": 5,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "tie_word_embeddings": False,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "initializer_range": 0.02,
    "torch_dtype": "bfloat16",
    "use_cache": True,
}
QCONFIG = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}
SEQ_LENS = [16, 12, 4]  # index_topk 5: positions >= 5 of the first two select; the third is all dense


def fp8_block_quant(w):
    """DeepSeek's block quantization: per 128x128 block scale = amax / 448, q = w / scale in e4m3."""
    R, C = w.shape
    q = torch.empty(R, C, dtype=torch.float8_e4m3fn)
    s = torch.empty((R + 127) // 128, (C + 127) // 128, dtype=torch.float32)
    w = w.float()
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            blk = w[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
            sc = blk.abs().max().clamp(min=1e-12) / 448.0
            s[i, j] = sc
            q[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128] = (blk / sc).to(torch.float8_e4m3fn)
    return q, s


def fp8_dequant_bf16(q, s):
    """fp8_cast_bf16.py's weight_dequant: float32 product, rounded to bf16."""
    R, C = q.shape
    full = s.repeat_interleave(128, 0)[:R].repeat_interleave(128, 1)[:, :C]
    return (q.float() * full).to(torch.bfloat16)


def is_fp8_linear(name):
    """The linears DeepSeek ships in FP8: attention, indexer wq_b/wk, MLPs and experts."""
    if not name.endswith(".weight") or name.startswith("model.embed_tokens") or name.startswith("lm_head"):
        return False
    if "layernorm" in name or "k_norm" in name or name.endswith("mlp.gate.weight") or "weights_proj" in name:
        return False
    return name.count(".") >= 4 and ("proj" in name or ".wq_b." in name or ".wk." in name)


def random_state(cfg):
    """Tensors in DeepSeek's naming, float32, scaled so activations stay O(1) (not transformers' 0.02 init,
    which makes near-uniform logits and a near-constant indexer)."""
    g = torch.Generator().manual_seed(SEED)
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    qd = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
    st = {}

    def lin(name, n, k):
        st[name] = torch.randn(n, k, generator=g) / math.sqrt(k)

    def nrm(name, n):
        st[name] = 1.0 + 0.2 * torch.randn(n, generator=g)

    st["model.embed_tokens.weight"] = torch.randn(cfg["vocab_size"], H, generator=g)
    for L in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{L}."
        nrm(p + "input_layernorm.weight", H)
        nrm(p + "post_attention_layernorm.weight", H)
        a = p + "self_attn."
        lin(a + "q_a_proj.weight", cfg["q_lora_rank"], H)
        nrm(a + "q_a_layernorm.weight", cfg["q_lora_rank"])
        lin(a + "q_b_proj.weight", nh * qd, cfg["q_lora_rank"])
        lin(a + "kv_a_proj_with_mqa.weight", cfg["kv_lora_rank"] + cfg["qk_rope_head_dim"], H)
        nrm(a + "kv_a_layernorm.weight", cfg["kv_lora_rank"])
        lin(a + "kv_b_proj.weight", nh * (cfg["qk_nope_head_dim"] + cfg["v_head_dim"]), cfg["kv_lora_rank"])
        lin(a + "o_proj.weight", H, nh * cfg["v_head_dim"])
        ix = a + "indexer."
        lin(ix + "wq_b.weight", cfg["index_n_heads"] * cfg["index_head_dim"], cfg["q_lora_rank"])
        lin(ix + "wk.weight", cfg["index_head_dim"], H)
        nrm(ix + "k_norm.weight", cfg["index_head_dim"])
        st[ix + "k_norm.bias"] = 0.3 * torch.randn(cfg["index_head_dim"], generator=g)
        lin(ix + "weights_proj.weight", cfg["index_n_heads"], H)
        m = p + "mlp."
        if L < cfg["first_k_dense_replace"]:
            lin(m + "gate_proj.weight", cfg["intermediate_size"], H)
            lin(m + "up_proj.weight", cfg["intermediate_size"], H)
            lin(m + "down_proj.weight", H, cfg["intermediate_size"])
        else:
            E, mi = cfg["n_routed_experts"], cfg["moe_intermediate_size"]
            lin(m + "gate.weight", E, H)
            st[m + "gate.e_score_correction_bias"] = 0.1 * torch.randn(E, generator=g)
            for e in range(E):
                lin(m + f"experts.{e}.gate_proj.weight", mi, H)
                lin(m + f"experts.{e}.up_proj.weight", mi, H)
                lin(m + f"experts.{e}.down_proj.weight", H, mi)
            si = mi * cfg["n_shared_experts"]
            lin(m + "shared_experts.gate_proj.weight", si, H)
            lin(m + "shared_experts.up_proj.weight", si, H)
            lin(m + "shared_experts.down_proj.weight", H, si)
    nrm("model.norm.weight", H)
    lin("lm_head.weight", cfg["vocab_size"], H)
    global TOKENS
    TOKENS = [torch.randint(0, cfg["vocab_size"], (n,), generator=g).tolist() for n in SEQ_LENS]
    return st


def stored_dtype(name):
    if "k_norm" in name or name.endswith("e_score_correction_bias"):
        return torch.float32  # model.py's LayerNorm and the router bias are float32
    return torch.bfloat16


def write_dir(d, tensors, cfg, shards=2):
    os.makedirs(d, exist_ok=True)
    names = sorted(tensors)
    # two shards, a weight's scale in the other shard for some, as large checkpoints have
    per = [dict(), dict()]
    for i, n in enumerate(names):
        k = 0 if n < "model.layers.1" else 1
        if n.endswith("_scale_inv") and "o_proj" in n:
            k = 1 - k
        per[k][n] = tensors[n].contiguous()
    wm, total = {}, 0
    for k in range(shards):
        fn = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        save_file(per[k], os.path.join(d, fn), metadata={"format": "pt"})
        for n, t in per[k].items():
            wm[n] = fn
            total += t.numel() * t.element_size()
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def logits_of(model, tokens):
    out = []
    with torch.no_grad():
        for seq in tokens:
            out.append(model(torch.tensor([seq])).logits[0])
    return torch.cat(out, 0)


def rel_l2(a, b):
    return ((a - b).norm(dim=-1) / b.norm(dim=-1)).tolist()


def selection_margin(model, tokens, topk):
    """Smallest gap, relative to the score scale, between each query's topk-th and (topk+1)-th causal
    index score over every layer and sequence (queries with more than topk keys only)."""
    worst = [math.inf]

    def hook(mod, args, kwargs, _):
        h, q_resid = args[0], args[1]
        cos, sin = args[2]
        B, S, _ = h.shape
        q = mod.wq_b(q_resid).view(B, S, mod.n_heads, mod.head_dim)
        k = mod.k_norm(mod.wk(h)).unsqueeze(2)
        dr = mod.qk_rope_head_dim
        from transformers.models.deepseek_v32.modeling_deepseek_v32 import apply_rotary_pos_emb
        qr, kr = apply_rotary_pos_emb(q[..., :dr], k[..., :dr], cos, sin, unsqueeze_dim=2)
        q = torch.cat([qr, q[..., dr:]], -1)
        k = torch.cat([kr, k[..., dr:]], -1).squeeze(2)
        sc = torch.relu(torch.matmul(q, k.transpose(-1, -2).unsqueeze(1)) * mod.softmax_scale)
        w = mod.weights_proj(h) * mod.n_heads ** -0.5
        idx = torch.matmul(w.unsqueeze(-2), sc).squeeze(-2)[0]  # [S, T]
        for s in range(topk, S):
            v = idx[s, :s + 1].sort(descending=True).values
            scale = v.abs().max().item() + 1e-30
            worst[0] = min(worst[0], (v[topk - 1] - v[topk]).item() / scale)

    hs = [l.self_attn.indexer.register_forward_hook(hook, with_kwargs=True) for l in model.model.layers]
    logits_of(model, tokens)
    for h in hs:
        h.remove()
    return worst[0]


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = sys.argv[1]
    torch.manual_seed(SEED)
    cfg = CONFIG
    st = random_state(cfg)

    fp8, bf16 = {}, {}
    for n, w in st.items():
        if is_fp8_linear(n):
            q, s = fp8_block_quant(w)
            fp8[n], fp8[n + "_scale_inv"] = q, s
            bf16[n] = fp8_dequant_bf16(q, s)
        else:
            fp8[n] = bf16[n] = w.to(stored_dtype(n))
    write_dir(os.path.join(out, "fp8"), fp8, dict(cfg, quantization_config=QCONFIG))
    write_dir(os.path.join(out, "bf16"), bf16, cfg)
    with open(os.path.join(out, "tokens.json"), "w") as f:
        json.dump({"tokens": TOKENS}, f)

    # the model loaded from bf16/ in float64, as a user would load it
    model, info = DeepseekV32ForCausalLM.from_pretrained(os.path.join(out, "bf16"), dtype=torch.float64,
                                                         attn_implementation="eager",
                                                         experts_implementation="eager", output_loading_info=True)
    model.eval()
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        print("FAIL loading bf16/:", bad)
        return 1
    c = model.config
    assert (c.index_topk, c.index_n_heads, c.index_head_dim) == (5, 8, 32), c
    assert c.rope_parameters["rope_type"] == "yarn" and c.rope_parameters["mscale_all_dim"] == 0.5, c.rope_parameters
    sparse = logits_of(model, TOKENS)

    # the same weights in a model built in memory from the config object: config.json read as intended
    cfg2 = DeepseekV32Config(**{k: v for k, v in cfg.items() if k not in ("architectures", "torch_dtype")})
    cfg2._attn_implementation = "eager"
    cfg2._experts_implementation = "eager"
    mem = DeepseekV32ForCausalLM(cfg2).to(torch.float64).eval()
    mem.load_state_dict(model.state_dict())
    same = (logits_of(mem, TOKENS) - sparse).abs().max().item()
    if same != 0:
        print(f"FAIL: in-memory config gives other logits ({same})")
        return 1

    topk = c.index_topk
    margin = selection_margin(model, TOKENS, topk)
    for layer in model.model.layers:
        layer.self_attn.indexer.index_topk = 1 << 30
    dense = logits_of(model, TOKENS)
    r = rel_l2(dense, sparse)
    pos = [p for n in SEQ_LENS for p in range(n)]
    past = [r[i] for i, p in enumerate(pos) if p >= topk]
    within = [r[i] for i, p in enumerate(pos) if p < topk]
    print(f"dense vs sparse relative L2: past index_topk min {min(past):.3g} max {max(past):.3g}; "
          f"before it max {max(within):.3g}; selection margin {margin:.3g}")
    ok = min(past) > 1e-2 and max(within) < 1e-12 and margin > 1e-3
    sparse.float().numpy().tofile(os.path.join(out, "logits-hf-fp64-all.f32"))
    dense.float().numpy().tofile(os.path.join(out, "logits-dense-fp64-all.f32"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"seed": SEED, "seq_lens": SEQ_LENS, "index_topk": topk, "positions": len(pos),
                   "vocab_size": cfg["vocab_size"], "dense_vs_sparse_rel_l2": [round(x, 6) for x in r],
                   "selection_margin": margin, "torch": torch.__version__,
                   "transformers": transformers.__version__}, f, indent=1)
    if not ok:
        print("FAIL: the fixture does not prove what it must (see the line above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
