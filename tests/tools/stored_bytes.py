#!/usr/bin/env python3
"""stored_bytes.py DIR - bytes of every stored weight of a safetensors checkpoint
(all tensors but the quantization companions: *_scale_inv, weight_scale,
weight_zero_point, weight_shape), read from the shard headers alone.

verify reads each of them once: its --json "scan" bytes_in_stream +
bytes_scan_only must equal this number (tests/e2e/verify_scan.sh holds it for
dev-tiny and its BF16 conversion)."""
import glob
import json
import struct
import sys

COMPANIONS = ("_scale_inv", ".weight_scale", ".weight_zero_point", ".weight_shape")
total = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.safetensors")):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    for name, t in header.items():
        if name == "__metadata__" or name.endswith(COMPANIONS):
            continue
        total += t["data_offsets"][1] - t["data_offsets"][0]
print(total)
