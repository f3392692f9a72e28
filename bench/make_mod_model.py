#!/usr/bin/env python3
"""Turns a Llama HF folder into a Mixture-of-Depths one (the public MoD
reference's layout, `LlamaMoDForCausalLM`): every second layer's tensors move
under `model.layers.<i>.block.` and get a router
(`router.weight_predictor.weight` [1, H], random with a fixed seed, and a
zero bias). The other weights are copied as they are.

usage: make_mod_model.py SRC DST [--constant-score=S]

For bench/README's MoD figures: the same model compiled with
`--mod-capacity=0.125` and `--mod-capacity=1` does 1/8 and all of the
routed blocks' work. With --constant-score=S every router has zero weights
and bias S, so every token scores S: compiled with `--mod-routing=causal
--mod-threshold=0`, S > 0 sends every token through the routed blocks and
S < 0 skips them all (decode timings of the two extremes). Standard
library only.
"""
import argparse
import json
import os
import random
import re
import struct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--constant-score", type=float)
    a = ap.parse_args()
    with open(os.path.join(a.src, "config.json")) as f:
        config = json.load(f)
    config["architectures"] = ["LlamaMoDForCausalLM"]
    hidden = config["hidden_size"]
    with open(os.path.join(a.src, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    rng = random.Random(7)
    extra = []
    out = {}
    routed = set()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        m = re.match(r"model\.layers\.(\d+)\.(.*)", name)
        if m and int(m.group(1)) % 2 == 1:
            routed.add(int(m.group(1)))
            name = "model.layers.%s.block.%s" % (m.group(1), m.group(2))
        out[name] = (e, data[e["data_offsets"][0]:e["data_offsets"][1]])
    for i in sorted(routed):
        p = "model.layers.%d.router.weight_predictor." % i
        w = [rng.gauss(0.0, 1.0 / hidden ** 0.5) for _ in range(hidden)]
        bias = 0.0
        if a.constant_score is not None:
            w, bias = [0.0] * hidden, a.constant_score
        out[p + "weight"] = ({"dtype": "F32", "shape": [1, hidden]},
                             struct.pack("<%df" % hidden, *w))
        out[p + "bias"] = ({"dtype": "F32", "shape": [1]}, struct.pack("<f", bias))
    new_header, blobs, offset = {}, [], 0
    for name, (e, blob) in out.items():
        new_header[name] = {"dtype": e["dtype"], "shape": e["shape"],
                            "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(new_header).encode()
    text += b" " * (-len(text) % 8)
    os.makedirs(a.dst, exist_ok=True)
    with open(os.path.join(a.dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(a.dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    main()
