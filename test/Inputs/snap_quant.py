#!/usr/bin/env python3
"""Copies an F32 checkpoint folder with every matrix snapped onto a
quantisation grid, so that quantising it again loses nothing.

usage: snap_quant.py SRC DST --scheme int8|int4|fp4-m0e4|mxfp4 [--group G]

Each 2-D tensor's rows (int8) or groups of G columns are rounded to the
values the scheme can represent, by the formulas of `#chimera.quant`
(docs/dialect.md), computed here independently of the compiler. A model
compiled with `--quant=SCHEME` from DST must then match the same model
compiled in f32 from DST to rounding: that checks the packing, the scales
and the in-kernel dequantisation end to end. Standard library only.
"""
import argparse
import json
import math
import os
import shutil
import struct

E2M1 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def snap_group(v, scheme):
    if scheme == "int8" or scheme == "int4":
        top = 127.0 if scheme == "int8" else 7.0
        s = f32(max(abs(x) for x in v) / top)
        return [f32(s * max(-top, min(top, round(x / s)))) if s else 0.0 for x in v]
    if scheme == "fp4-m0e4":
        lo, hi = min(v), max(v)
        s = f32((hi - lo) * 16.0 / 15.0)
        o = f32(lo - s)
        if not s:
            return list(v)
        out = []
        for x in v:
            q = max(0, min(15, round((x - lo) / s * 16.0)))
            out.append(f32(f32(s * (1.0 + q / 16.0)) + o))
        return out
    amax = max(abs(x) for x in v)  # mxfp4
    if not amax:
        return [0.0] * len(v)
    e = max(-127, min(127, math.floor(math.log2(amax)) - 2))
    out = []
    for x in v:
        m = min(E2M1, key=lambda c: abs(c - abs(x) * 2.0 ** -e))
        out.append(math.copysign(m, x) * 2.0 ** e)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--scheme", required=True,
                    choices=["int8", "int4", "fp4-m0e4", "mxfp4"])
    ap.add_argument("--group", type=int, default=32)
    a = ap.parse_args()
    os.makedirs(a.dst, exist_ok=True)
    shutil.copy(os.path.join(a.src, "config.json"), a.dst)
    with open(os.path.join(a.src, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header_bytes = f.read(n)
        data = bytearray(f.read())
    header = json.loads(header_bytes)
    for name, e in header.items():
        if name == "__metadata__" or len(e["shape"]) != 2:
            continue
        if e["dtype"] != "F32":
            raise SystemExit("%s: %s is %s; snap_quant.py reads F32 only"
                             % (a.src, name, e["dtype"]))
        rows, cols = e["shape"]
        begin, end = e["data_offsets"]
        v = list(struct.unpack("<%df" % (rows * cols), data[begin:end]))
        width = cols if a.scheme == "int8" else a.group
        if cols % width:
            continue
        for r in range(rows):
            for g in range(0, cols, width):
                at = r * cols + g
                v[at:at + width] = snap_group(v[at:at + width], a.scheme)
        data[begin:end] = struct.pack("<%df" % (rows * cols), *v)
    with open(os.path.join(a.dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", n))
        f.write(header_bytes)
        f.write(data)


if __name__ == "__main__":
    main()
