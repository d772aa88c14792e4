#!/usr/bin/env python3
"""gguf_cmp.py - how far two logit dumps are apart, and how much of it is routing.

Test tool for tests/llama/gguf_llama.sh (numpy only). A and B are float32 [positions, VOCAB]
(`dsconv verify --dump-logits`, tests/llama/gguf_logits). With routing files (gguf_logits
--routing: "seq pos layer experts..."), positions whose routed experts differ between RA and RB
are counted and the distance is also given without them: on a model this small one routing
flip moves a position's logits by ~0.5 rel L2 and would hide everything else. Prints one line
of key=value; --max KEY=X ... asserts (exit 1 naming the first that fails).

  usage: gguf_cmp.py A.f32 B.f32 VOCAB [--routing RA RB] [--max KEY=X ...] [--min KEY=X ...]
"""
import sys

import numpy as np


def routing(path):
    r = {}
    for line in open(path):
        v = line.split()
        if v:
            r[(int(v[0]), int(v[1]), int(v[2]))] = tuple(int(x) for x in v[3:])
    return r


def main():
    a = sys.argv[1:]
    if len(a) < 3:
        sys.exit(__doc__.split("usage: ")[1])
    A, B, V = a[0], a[1], int(a[2])
    x = np.fromfile(A, "<f4").reshape(-1, V).astype(np.float64)
    y = np.fromfile(B, "<f4").reshape(-1, V).astype(np.float64)
    if x.shape != y.shape:
        sys.exit(f"gguf_cmp.py: {A} {x.shape} vs {B} {y.shape}")
    checks, i = [], 3
    ra = rb = None
    while i < len(a):
        if a[i] == "--routing":
            ra, rb = routing(a[i + 1]), routing(a[i + 2])
            i += 3
        elif a[i] in ("--max", "--min"):
            k, _, v = a[i + 1].partition("=")
            checks.append((a[i], k, float(v)))
            i += 2
        else:
            sys.exit(f"gguf_cmp.py: unknown argument {a[i]}")
    d2 = ((x - y) ** 2).sum(1)
    y2 = (y ** 2).sum(1)
    per = np.sqrt(d2 / y2)
    m = {"rel_l2": np.sqrt(d2.sum() / y2.sum()), "pos_median": np.median(per), "pos_max": per.max(),
         "argmax": (x.argmax(1) == y.argmax(1)).mean()}
    if ra is not None:
        if set(ra) != set(rb):
            sys.exit("gguf_cmp.py: routing files cover different positions/layers")
        keys = sorted(ra)
        seqs = sorted({k[0] for k in keys})
        lens = [1 + max(k[1] for k in keys if k[0] == s) for s in seqs]
        if sum(lens) != x.shape[0]:
            sys.exit(f"gguf_cmp.py: routing has {sum(lens)} positions, logits {x.shape[0]}")
        base = np.cumsum([0] + lens)
        flip = np.zeros(x.shape[0], bool)
        for k in keys:
            if ra[k] != rb[k]:
                flip[base[k[0]] + k[1]] = True
        keep = ~flip
        m["flips"] = int(flip.sum())
        m["rel_l2_same_route"] = np.sqrt(d2[keep].sum() / y2[keep].sum()) if keep.any() else 0.0
        m["pos_max_same_route"] = per[keep].max() if keep.any() else 0.0
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))
    for op, k, v in checks:
        if k not in m:
            sys.exit(f"gguf_cmp.py: no measure {k}")
        if (op == "--max" and not m[k] <= v) or (op == "--min" and not m[k] >= v):
            print(f"gguf_cmp.py: {k}={m[k]:.4g} is not {'<=' if op == '--max' else '>='} {v}")
            sys.exit(1)


if __name__ == "__main__":
    main()
