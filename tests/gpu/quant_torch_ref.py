#!/usr/bin/env python3
"""quant_torch_ref.py BIN WORKDIR - compressed-tensors' rtn arithmetic done by
torch itself, on the CPU and on the GPU, against dsconv's CPU kernel bytes.

The torch side follows, op by op and dtype by dtype, what compressed-tensors
does when it compresses a BF16 Linear to pack-quantized (observer min/max per
group, calculate_qparams, _quantize, pack_to_int32; see
quant/MANUAL-requant.md): every op runs on bf16 tensors exactly as there, so
torch's own bf16 rounding (float op, then RNE; on CUDA a division by a Python
scalar becomes a multiply by its reciprocal) is what we compare with.
compressed-tensors itself is not needed; this is the same sequence of torch
calls, written out. BIN is the quant_file helper (tests/gpu/quant_file.c).
Prints PASS/FAIL lines and "N passed, N failed"; exit 77 without torch."""
import os
import subprocess
import sys

try:
    import torch
except ImportError:
    print("SKIP: no torch")
    sys.exit(77)


def qparams(w, bits, group, sym):
    """Scale (bf16) and zero point (int8) per [row, group], as the library."""
    rows, cols = w.shape
    gs = group or cols
    x = w.reshape(rows, cols // gs, gs)
    mn, mx = torch.amin(x, dim=-1), torch.amax(x, dim=-1)          # observer (weight dtype)
    mn = torch.min(mn, torch.zeros_like(mn))                        # 0 always representable
    mx = torch.max(mx, torch.zeros_like(mx))
    bit_min = torch.tensor(-(2 ** bits) / 2, device=w.device)       # calculate_range: float32 0-dim
    bit_max = torch.tensor((2 ** bits) / 2 - 1, device=w.device)
    bit_range = bit_max - bit_min
    if sym:
        amax = torch.max(torch.abs(mn), torch.abs(mx))
        scale = amax / (float(bit_range) / 2)
        zp = torch.zeros(scale.shape, device=w.device, dtype=mn.dtype)
    else:
        scale = (mx - mn) / float(bit_range)
        zp = bit_min - (mn / scale)
        zp = torch.clamp(zp, bit_min, bit_max)
    eps = torch.finfo(scale.dtype).eps
    scale = torch.where(scale == 0, torch.tensor(eps, dtype=scale.dtype, device=w.device), scale)
    zp = torch.round(torch.clamp(zp, -128, 127)).to(torch.int8)     # round to zp dtype (int8)
    return scale, zp, bit_min, bit_max


def quantize(w, scale, zp, bit_min, bit_max, group, sym):
    rows, cols = w.shape
    gs = group or cols
    x = w.reshape(rows, cols // gs, gs)
    scaled = x / scale.unsqueeze(-1)
    if not sym:
        scaled += zp.unsqueeze(-1).to(x.dtype)
    q = torch.round(torch.clamp(scaled, bit_min, bit_max)).to(x.dtype)
    return q.to(torch.int8).reshape(rows, cols)


def pack_dim1(q, bits):
    """q + 2^(bits-1), LSB-first along the last dim, into int32 words."""
    pf = 32 // bits
    v = q.to(torch.int32) + (1 << (bits - 1))
    rows, cols = v.shape
    pad = (-cols) % pf
    if pad:
        v = torch.nn.functional.pad(v, (0, pad))
    v = v.reshape(rows, -1, pf).to(torch.int64)
    shifts = torch.arange(pf, device=q.device, dtype=torch.int64) * bits
    words = (v << shifts).sum(dim=-1)
    return (words & 0xFFFFFFFF).to(torch.int64)


def run_case(binary, work, device, bits, group, sym, w_cpu, results):
    rows, cols = w_cpu.shape
    name = f"torch_{device}_int{bits}_g{group}_{'sym' if sym else 'asym'}_{rows}x{cols}"
    w = w_cpu.to(device)
    scale, zp, bmin, bmax = qparams(w, bits, group, sym)
    q = quantize(w, scale, zp, bmin, bmax, group, sym)
    packed = pack_dim1(q, bits).cpu().numpy().astype("<u4")
    scale_bits = scale.view(torch.int16).cpu().numpy().astype("<u2")
    deq = ((q.to(torch.bfloat16).reshape(rows, -1, group or cols)
            - (zp.unsqueeze(-1).to(torch.bfloat16) if not sym else 0))
           * scale.unsqueeze(-1)).reshape(rows, cols)
    deq_bits = deq.view(torch.int16).cpu().numpy().astype("<u2")

    inp = os.path.join(work, "w.bf16")
    w_cpu.view(torch.int16).numpy().astype("<u2").tofile(inp)
    pre = os.path.join(work, "out")
    r = subprocess.run([binary, str(bits), str(group), str(int(sym)), "0", str(rows), str(cols), inp, pre])
    if r.returncode:
        results.append((False, name, f"quant_file exit {r.returncode}"))
        return
    import numpy as np
    ours_p = np.fromfile(pre + ".packed", dtype="<u4").reshape(packed.shape)
    ours_s = np.fromfile(pre + ".scale", dtype="<u2").reshape(scale_bits.shape)
    ours_d = np.fromfile(pre + ".deq", dtype="<u2").reshape(deq_bits.shape)
    bad = [int((ours_p != packed).sum()), int((ours_s != scale_bits).sum()), int((ours_d != deq_bits).sum())]
    if not sym:
        pf = 32 // bits
        zpk = pack_dim1(zp.t().contiguous(), bits).t().cpu().numpy().astype("<u4")   # packed along rows
        ours_z = np.fromfile(pre + ".zp", dtype="<u4").reshape(zpk.shape)
        bad.append(int((ours_z != zpk).sum()))
    ok = sum(bad) == 0
    results.append((ok, name, "" if ok else f"differing packed/scale/deq/zp: {bad}"))
    if device == "cpu" and bits == 8 and sym and not group and rows == 128:
        # The comparison has teeth: the same with w/scale in float32 (not bf16)
        # must give other bytes somewhere.
        x = w.reshape(rows, 1, cols).float() / scale.float().unsqueeze(-1)
        alt = torch.round(torch.clamp(x, bmin, bmax)).to(torch.int8).reshape(rows, cols)
        nalt = int((pack_dim1(alt, bits).cpu().numpy().astype("<u4") != ours_p).sum())
        results.append((nalt > 0, "torch_ref_detects_float32_division",
                        f"{nalt} words differ" if nalt else "a float32 division gave the same bytes"))
        print(f"# INT8 per channel with w/scale in float32 instead of bf16: {nalt} of {ours_p.size} words differ")


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    g = torch.Generator().manual_seed(1234)
    results = []
    shapes = [(64, 512), (40, 256), (128, 7168)]
    for rows, cols in shapes:
        rs = torch.rand(rows, 1, generator=g) * 0.03 + 0.005
        w = torch.randn(rows, cols, generator=g) * rs
        out = torch.rand(rows, cols, generator=g) < 0.002
        w = torch.where(out, w * 8, w)
        w[1] = 0.3                                  # constant
        w[2] = -0.3
        w[3, ::2], w[3, 1::2] = 1e38, -1e38         # extremes
        w[4] = 1e-39                                # subnormal
        w[5] = torch.arange(cols) - cols / 2.0      # ramp
        w = w.to(torch.bfloat16)
        for device in devices:
            for bits, group, sym in [(4, 128, True), (4, 128, False), (4, 0, True), (8, 0, True), (8, 0, False),
                                     (8, 128, True), (4, 32, False)]:
                run_case(binary, work, device, bits, group, sym, w, results)
    # All-zero asymmetric group: the library's zero point is NaN cast to int8 there.
    z = torch.zeros(8, 128, dtype=torch.bfloat16)
    for device in devices:
        _, zp, _, _ = qparams(z.to(device), 4, 128, False)
        print(f"# all-zero asymmetric group: torch on {device} gives zero point {zp.flatten()[0].item()} "
              f"(dsconv writes 0; any value reconstructs the group exactly)")
    for ok, name, detail in results:
        print(("PASS " if ok else "FAIL ") + name + (": " + detail if detail else ""))
    npass = sum(1 for r in results if r[0])
    print(f"{npass} passed, {len(results) - npass} failed")
    return 0 if npass == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
