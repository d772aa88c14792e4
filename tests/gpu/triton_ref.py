"""triton_ref.py DIR - checks the CUDA kernel's bytes against upstream's way of
dequantizing, run for real: a Triton kernel with the arithmetic of DeepSeek-V3's
inference/kernel.py weight_dequant (per 128x128 tile: load fp8, .to(float32),
multiply by the tile's float32 scale, store into a bfloat16 tensor).

DIR holds the all-codes x scales grid that tests/gpu/dequant_cuda.c writes under
DS_GPU_DUMP: grid_w.u8 [R, C], grid_scale.f32 [R/128, C/128], grid_cuda.bf16 and
grid_cpu.bf16 (the two kernels' outputs), grid_meta.txt "R C br bc".
The CUDA bytes must equal Triton's everywhere (inf and NaN scales included);
the CPU bytes wherever the scale is finite (the CPU kernel's domain).
Prints PASS/FAIL lines like the C tests; exit 1 on a failure."""
import sys

import numpy as np
import torch
import triton
import triton.language as tl


@triton.jit
def _dequant_tile(x_ptr, s_ptr, y_ptr, M, N, BLOCK: tl.constexpr):
    bm = tl.program_id(0)
    bn = tl.program_id(1)
    rows = bm * BLOCK + tl.arange(0, BLOCK)
    cols = bn * BLOCK + tl.arange(0, BLOCK)
    idx = rows[:, None] * N + cols[None, :]
    inside = (rows[:, None] < M) & (cols[None, :] < N)
    w = tl.load(x_ptr + idx, mask=inside).to(tl.float32)
    s = tl.load(s_ptr + bm * tl.cdiv(N, BLOCK) + bn)
    tl.store(y_ptr + idx, w * s, mask=inside)  # the store converts to bf16


def triton_dequant(w_u8, scale, block=128):
    M, N = w_u8.shape
    x = w_u8.view(torch.float8_e4m3fn)
    y = torch.empty((M, N), dtype=torch.bfloat16, device=w_u8.device)
    _dequant_tile[(triton.cdiv(M, block), triton.cdiv(N, block))](x, scale, y, M, N, BLOCK=block)
    torch.cuda.synchronize()
    return y


def report(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)
    return ok


def describe(a, b, w, s_full, limit=5):
    bad = np.nonzero(a != b)[0]
    lines = []
    for i in bad[:limit]:
        lines.append("code 0x%02X scale %r: 0x%04X vs 0x%04X" % (w[i], float(s_full[i]), a[i], b[i]))
    return "%d differ; %s" % (len(bad), "; ".join(lines))


def main():
    d = sys.argv[1]
    R, C, br, bc = (int(v) for v in open(d + "/grid_meta.txt").read().split())
    assert br == 128 and bc == 128, "upstream's kernel has one block size for both dimensions"
    w = np.fromfile(d + "/grid_w.u8", dtype=np.uint8)
    sc = np.fromfile(d + "/grid_scale.f32", dtype=np.float32)
    cuda = np.fromfile(d + "/grid_cuda.bf16", dtype=np.uint16)
    cpu = np.fromfile(d + "/grid_cpu.bf16", dtype=np.uint16)
    srows, scols = (R + 127) // 128, (C + 127) // 128
    assert w.size == R * C and sc.size == srows * scols and cuda.size == R * C and cpu.size == R * C

    dev = torch.device("cuda")
    wt = torch.from_numpy(w.reshape(R, C)).to(dev)
    st = torch.from_numpy(sc.reshape(srows, scols)).to(dev)
    tri = triton_dequant(wt, st).view(torch.int16).cpu().numpy().view(np.uint16).reshape(-1)
    # the scale of every element, for messages
    s_full = np.repeat(np.repeat(sc.reshape(srows, scols), 128, axis=0)[:R], 128, axis=1)[:, :C].reshape(-1)

    isnan = lambda v: (v & 0x7FFF) > 0x7F80
    nan_t = isnan(tri)
    pats = sorted(set(int(x) for x in np.unique(tri[nan_t])))
    print("triton: %d NaN results, bit patterns %s; torch %s, triton %s, %s" % (
        nan_t.sum(), ["0x%04X" % p for p in pats], torch.__version__, triton.__version__,
        torch.cuda.get_device_name()))
    ok = True
    ok &= report("triton_upstream_style_equals_cuda_all_bytes", np.array_equal(tri, cuda),
                 describe(tri, cuda, w, s_full))
    # The CPU kernel is defined for finite scales (dsconv rejects others first).
    fin = np.isfinite(s_full)
    ok &= report("triton_upstream_style_equals_cpu_finite_scales", np.array_equal(tri[fin], cpu[fin]),
                 describe(np.where(fin, tri, 0), np.where(fin, cpu, 0), w, s_full))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
