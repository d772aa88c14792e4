#!/usr/bin/env python3
"""gguf_routing.py - which routed experts each position picks, per dequantized checkpoint.

Test analysis tool (issue 16, tests/llama/NOTES.md): runs transformers' DeepseekV3 in float32
on checkpoints written by gguf_dequant.py (and the BF16 reference as one of them), records the
router's top-k expert set at every MoE layer and position, and prints, for each checkpoint
against the first: the positions whose expert set differs, the reference's score margin there
(k-th minus (k+1)-th biased score: how close the choice was to a tie), and the per-position
relative L2 of its logits (from `dsconv verify --dump-logits` files NAME.f32 when given, else
transformers' own; then transformers' own logits are checked against the file first), and
the relative RMS error of each weight tensor against the first checkpoint's.

  usage: gguf_routing.py TOKENS.json REF_DIR[=LOGITS.f32] DIR[=LOGITS.f32] ...
"""
import json
import re
import sys

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM


def run(path, seqs):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    rec = {}
    for li, layer in enumerate(model.model.layers):
        gate = getattr(layer.mlp, "gate", None)
        if gate is None or not hasattr(gate, "top_k"):
            continue

        def hook(mod, inp, out, li=li):
            x = inp[0].reshape(-1, inp[0].shape[-1])
            scores = torch.sigmoid(torch.nn.functional.linear(x.float(), mod.weight.float()))
            biased = scores + mod.e_score_correction_bias
            rec.setdefault(li, []).append((out[2].sort(dim=-1)[0].numpy(), biased.detach().numpy()))
        gate.register_forward_hook(hook)
    logits = []
    with torch.no_grad():
        for s in seqs:
            logits.append(model(torch.tensor([s])).logits[0].float().numpy())
    # one record per layer: expert sets and biased scores of all positions, sequences in order
    rec = [(li, np.concatenate([a for a, _ in r]), np.concatenate([b for _, b in r])) for li, r in sorted(rec.items())]
    return rec, np.concatenate(logits)


def main():
    seqs = json.load(open(sys.argv[1]))
    seqs = seqs["tokens"] if isinstance(seqs, dict) else seqs
    runs = []
    for a in sys.argv[2:]:
        d, _, lf = a.partition("=")
        rec, lg = run(d, seqs)
        if lf:
            f = np.fromfile(lf, "<f4").reshape(lg.shape)
            print(f"{d}: transformers float32 vs {lf}: rel L2 {np.linalg.norm(lg - f) / np.linalg.norm(f):.2e}")
            lg = f
        runs.append((d, rec, lg))
    ref_d, ref_rec, ref_lg = runs[0]
    pos = [(s, p) for s, q in enumerate(seqs) for p in range(len(q))]
    ref_w = load_file(f"{ref_d}/model.safetensors")
    for d, rec, lg in runs[1:]:
        w = load_file(f"{d}/model.safetensors")
        err = {k: float(np.linalg.norm(w[k] - v) / np.linalg.norm(v)) for k, v in ref_w.items() if v.ndim > 1}
        groups = {}
        for k, e in err.items():
            g = re.sub(r"model\.layers\.\d+\.|experts\.\d+\.|\.weight$", "", k)
            groups.setdefault(g, []).append(e)
        print(f"== {d}: weights' relative RMS error against {ref_d} (mean over layers/experts): " +
              ", ".join(f"{g} {np.mean(v):.4f}" for g, v in sorted(groups.items())))
        rel = np.linalg.norm(lg - ref_lg, axis=1) / np.linalg.norm(ref_lg, axis=1)
        flips = set()
        print(f"== {d} against {ref_d}: rel L2 all logits {np.linalg.norm(lg - ref_lg) / np.linalg.norm(ref_lg):.4f}, "
              f"per position median {np.median(rel):.4f} max {rel.max():.4f}")
        for (li, idx, _), (_, ridx, rb) in zip(rec, ref_rec):
            for i in range(idx.shape[0]):
                if not np.array_equal(idx[i], ridx[i]):
                    flips.add(i)
                    o = np.sort(rb[i])[::-1]
                    k = idx.shape[1]
                    s, p = pos[i]
                    print(f"   layer {li} seq {s} pos {p}: experts {ridx[i].tolist()} -> {idx[i].tolist()}, "
                          f"reference margin {o[k - 1] - o[k]:.2e}, logits rel L2 {rel[i]:.3f}")
        keep = [i for i in range(len(pos)) if i not in flips]
        sq = ((lg - ref_lg) ** 2).sum(1)
        print(f"   {len(flips)} of {len(pos)} positions route differently; they hold "
              f"{sq[sorted(flips)].sum() / sq.sum() if flips else 0:.1%} of the squared logit error; "
              f"rel L2 without them {np.sqrt(sq[keep].sum() / (ref_lg[keep] ** 2).sum()):.4f}")


if __name__ == "__main__":
    main()
