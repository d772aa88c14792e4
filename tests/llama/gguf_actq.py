#!/usr/bin/env python3
"""gguf_actq.py - llama.cpp's activation rounding, emulated, explains its distance from verify.

Test analysis tool (issue 16, tests/llama/NOTES.md). ggml-cpu multiplies a weight of type T with
activations first converted to T's vec_dot_type (ggml-cpu.c type_traits_cpu): BF16 for bf16,
Q8_0 (32-value blocks, f16 scale, amax/127) for q8_0 and q5_0, Q8_K (256-value blocks, float
scale -127/max) for q4_k and q6_k, none for F32. This runs transformers' DeepseekV3 in float32
on a gguf_dequant.py checkpoint DIR (its ggml_types.json says each weight's type) with every
Linear's and routed expert's input rounded that way, and prints the relative L2 of all logits
(and the per-position median) of: emulation vs verify(DIR) [what the rounding alone moves],
llama.cpp(file) vs verify(DIR) [what llama.cpp moves], emulation vs llama.cpp(file) [what is
left unexplained]. Attention is computed as llama.cpp's deepseek2 graph does with attn_k_b /
attn_v_b (MLA absorbed): their activations are q_nope per head and the attention output in the
kv_lora latent space, rounded in the format of those tensors' type; the latent K/V cache and
the KQ / KQV operands are rounded to F16 as llama.cpp's F16 cache makes them (its flash-attention
kernel's own accumulation order is not emulated).

--only REGEX rounds only at the sites whose name matches (Linear module names; for attention
NAME.k_b / NAME.v_b, for routed experts NAME.in / NAME.down). --save F.f32 writes the logits.

  usage: gguf_actq.py TOKENS.json DIR VERIFY_DIR.f32 LLAMA_FILE.f32 [--only REGEX] [--save F.f32]
"""
import json
import re
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as ds


def bf16(x):
    u = x.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.to(torch.int32).view(torch.float32).reshape(x.shape)


def q8_0(x):
    b = x.reshape(-1, 32)
    d = b.abs().amax(1, keepdim=True) / 127
    idd = torch.where(d > 0, 1 / d, torch.zeros_like(d))
    q = torch.round(b * idd)  # roundf: half away from zero; ties are measure-zero here
    return (q * d.to(torch.float16).to(torch.float32)).reshape(x.shape)


def q8_k(x):
    b = x.reshape(-1, 256)
    i = b.abs().argmax(1, keepdim=True)
    mx = b.gather(1, i)
    iscale = torch.where(mx != 0, -127 / mx, torch.zeros_like(mx))
    q = torch.clamp(torch.round(iscale * b), max=127)
    d = torch.where(iscale != 0, 1 / iscale, torch.zeros_like(iscale))
    return (q * d).reshape(x.shape)


ROUND = {"BF16": bf16, "Q8_0": q8_0, "Q5_0": q8_0, "Q4_K": q8_k, "Q6_K": q8_k, "F32": None, "F16": None}


def rounder(t):
    if t not in ROUND:
        sys.exit(f"gguf_actq.py: no activation format known for {t}")
    return ROUND[t] or (lambda x: x)


def main():
    args, only, save = sys.argv[1:], None, None
    for opt in ("--only", "--save"):
        if opt in args:
            i = args.index(opt)
            if opt == "--only":
                only = re.compile(args[i + 1])
            else:
                save = args[i + 1]
            del args[i:i + 2]
    if len(args) != 4:
        sys.exit(__doc__.split("usage: ")[1])
    sys.argv[1:] = args

    def site(name, t):
        return rounder(t) if only is None or only.search(name) else (lambda x: x)
    seqs = json.load(open(sys.argv[1]))
    seqs = seqs["tokens"] if isinstance(seqs, dict) else seqs
    d = sys.argv[2]
    types = json.load(open(f"{d}/ggml_types.json"))
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and not name.endswith("kv_b_proj"):
            f = site(name, types[name + ".weight"])
            mod.register_forward_pre_hook(lambda m, a, f=f: (f(a[0]),))
        if isinstance(mod, ds.DeepseekV3Attention):
            mod.r_kb = site(name + ".k_b", types[name + ".kv_b_proj.weight"])
            mod.r_vb = site(name + ".v_b", types[name + ".kv_b_proj.weight"])
        if isinstance(mod, ds.DeepseekV3Experts):
            pre = name.replace(".experts", ".experts.0")
            mod.r_in = site(name + ".in", types[pre + ".gate_proj.weight"])
            mod.r_down = site(name + ".down", types[pre + ".down_proj.weight"])

    def attn_forward(self, hidden_states, position_embeddings, attention_mask, past_key_values=None, **kw):
        b, T = hidden_states.shape[:-1]
        H, nope, rope, v, lat = self.num_heads, self.qk_nope_head_dim, self.qk_rope_head_dim, self.v_head_dim, self.kv_lora_rank
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(hidden_states))).view(b, T, H, nope + rope).transpose(1, 2)
        q_nope, q_rot = torch.split(q, [nope, rope], dim=-1)
        ckv = self.kv_a_proj_with_mqa(hidden_states)
        c, k_rot = torch.split(ckv, [lat, rope], dim=-1)
        c = self.kv_a_layernorm(c)  # [b, T, lat]
        k_rot = k_rot.view(b, 1, T, rope)
        cos, sin = position_embeddings
        if self.config.rope_interleave:
            q_rot, k_rot = ds.apply_rotary_pos_emb_interleave(q_rot, k_rot, cos, sin)
        else:
            q_rot, k_rot = ds.apply_rotary_pos_emb(q_rot, k_rot, cos, sin)
        w = self.kv_b_proj.weight.view(H, nope + v, lat)
        w_kb, w_vb = w[:, :nope], w[:, nope:]  # [H, nope, lat], [H, v, lat]
        q_lat = torch.einsum("bhtn,hnl->bhtl", self.r_kb(q_nope.contiguous()), w_kb)  # attn_k_b
        # llama.cpp's K/V cache is F16 (the latent c and k_rot) and its KQ / KQV products take F16
        h16 = lambda x: x.to(torch.float16).to(torch.float32)
        c16, kr16 = h16(c), h16(k_rot)
        scores = (torch.einsum("bhtl,bsl->bhts", h16(q_lat), c16) + h16(q_rot) @ kr16.transpose(-1, -2)) * self.scaling
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        p = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        o_lat = torch.einsum("bhts,bsl->bhtl", h16(p), c16)
        o = torch.einsum("bhtl,hvl->bhtv", self.r_vb(o_lat.contiguous()), w_vb)  # attn_v_b
        return self.o_proj(o.transpose(1, 2).reshape(b, T, H * v)), None
    ds.DeepseekV3Attention.forward = attn_forward

    def experts_forward(self, hidden_states, top_k_index, top_k_weights):
        out = torch.zeros_like(hidden_states)
        for e in range(self.num_experts):
            tok, pos = torch.where(top_k_index == e)
            if tok.numel() == 0:
                continue
            gate, up = torch.nn.functional.linear(self.r_in(hidden_states[tok]), self.gate_up_proj[e]).chunk(2, dim=-1)
            h = torch.nn.functional.linear(self.r_down(self.act_fn(gate) * up), self.down_proj[e])
            out.index_add_(0, tok, h * top_k_weights[tok, pos, None])
        return out
    ds.DeepseekV3Experts.forward = experts_forward

    with torch.no_grad():
        emu = np.concatenate([model(torch.tensor([s])).logits[0].numpy() for s in seqs])
    if save:
        emu.astype("<f4").tofile(save)
    v = np.fromfile(sys.argv[3], "<f4").reshape(emu.shape)
    ll = np.fromfile(sys.argv[4], "<f4").reshape(emu.shape)

    def dist(a, b):
        per = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
        return f"{np.linalg.norm(a - b) / np.linalg.norm(b):.4g} (median {np.median(per):.4g})"
    # how alike the two deviations are, at positions neither moves by a routing flip (> 0.2)
    per = lambda a: np.linalg.norm(a - v, axis=1) / np.linalg.norm(v, axis=1)
    keep = (per(emu) < 0.2) & (per(ll) < 0.2)
    a, b = (emu - v)[keep].ravel(), (ll - v)[keep].ravel()
    print(f"{d}: emulated rounding vs verify {dist(emu, v)}; llama.cpp vs verify {dist(ll, v)}; "
          f"emulated vs llama.cpp {dist(emu, ll)}; cosine of the two deviations {a @ b / np.linalg.norm(a) / np.linalg.norm(b):.3f}"
          f" ({keep.sum()} of {len(keep)} positions)")


if __name__ == "__main__":
    main()
