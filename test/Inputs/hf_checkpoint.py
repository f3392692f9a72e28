#!/usr/bin/env python3
"""Writes a HuggingFace-layout checkpoint folder for a config.json.

The parameter names and shapes follow the transformers v4.44 modelling code
of each family (written out here independently of chimera's importer). The
tensor data is never written: each shard is a safetensors header followed by
an ftruncate'd (sparse, zero) data section, so a 52B checkpoint costs a few
MB of disk. Shards of at most --shard-bytes are named by a
model.safetensors.index.json, as HF does.

Mutations for negative tests: --drop NAME, --shape NAME=a,b, --dtype-of NAME=I64.
With --random SEED the data is written instead (F32): matrices drawn from
N(0, 0.05²), vectors (norms) ones, for tests that run a model of a shape no
fixture has against another compile of the same checkpoint.
Standard library only: CI runs it without torch.
"""
import argparse
import json
import math
import os
import random
import struct

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
               "I16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def attention(p, c):
    h = c["hidden_size"]
    heads = c["num_attention_heads"]
    kv = c.get("num_key_value_heads", heads)
    d = c.get("head_dim") or h // heads
    return [(p + "q_proj.weight", [heads * d, h]), (p + "k_proj.weight", [kv * d, h]),
            (p + "v_proj.weight", [kv * d, h]), (p + "o_proj.weight", [h, heads * d])]


def gated_mlp(p, h, i, gate="gate_proj", up="up_proj", down="down_proj"):
    return [(p + gate + ".weight", [i, h]), (p + up + ".weight", [i, h]),
            (p + down + ".weight", [h, i])]


def mixer(p, c, h, state, conv, expand, dt_rank, conv_bias, jamba):
    di = expand * h
    r = math.ceil(h / 16) if dt_rank in (None, "auto") else dt_rank
    t = [(p + "in_proj.weight", [2 * di, h]), (p + "conv1d.weight", [di, 1, conv]),
         (p + "x_proj.weight", [r + 2 * state, di]), (p + "dt_proj.weight", [di, r]),
         (p + "dt_proj.bias", [di]), (p + "A_log", [di, state]), (p + "D", [di]),
         (p + "out_proj.weight", [h, di])]
    if conv_bias:
        t.append((p + "conv1d.bias", [di]))
    if jamba:
        t += [(p + "dt_layernorm.weight", [r]), (p + "b_layernorm.weight", [state]),
              (p + "c_layernorm.weight", [state])]
    return t


def tensors(c):
    mt = c["model_type"]
    v, h, n = c["vocab_size"], c["hidden_size"], c["num_hidden_layers"]
    out = []
    if mt == "mamba":
        out.append(("backbone.embeddings.weight", [v, h]))
        for i in range(n):
            p = "backbone.layers.%d." % i
            out.append((p + "norm.weight", [h]))
            out += mixer(p + "mixer.", c, h, c.get("state_size", 16), c.get("conv_kernel", 4),
                         c.get("expand", 2), c.get("time_step_rank", "auto"),
                         c.get("use_conv_bias", True), False)
        out.append(("backbone.norm_f.weight", [h]))
        if not c.get("tie_word_embeddings", True):
            out.append(("lm_head.weight", [v, h]))
        return out
    inter = c["intermediate_size"]
    out.append(("model.embed_tokens.weight", [v, h]))
    for i in range(n):
        p = "model.layers.%d." % i
        out.append((p + "input_layernorm.weight", [h]))
        if mt == "jamba":
            if i % c.get("attn_layer_period", 8) == c.get("attn_layer_offset", 4):
                out += attention(p + "self_attn.", c)
            else:
                out += mixer(p + "mamba.", c, h, c.get("mamba_d_state", 16),
                             c.get("mamba_d_conv", 4), c.get("mamba_expand", 2),
                             c.get("mamba_dt_rank", "auto"), c.get("mamba_conv_bias", True), True)
            out.append((p + "pre_ff_layernorm.weight", [h]))
            e = c.get("num_experts", 16)
            if e > 1 and i % c.get("expert_layer_period", 2) == c.get("expert_layer_offset", 1):
                out.append((p + "feed_forward.router.weight", [e, h]))
                for x in range(e):
                    out += gated_mlp(p + "feed_forward.experts.%d." % x, h, inter)
            else:
                out += gated_mlp(p + "feed_forward.", h, inter)
            continue
        out += attention(p + "self_attn.", c)
        out.append((p + "post_attention_layernorm.weight", [h]))
        if mt == "mixtral":
            e = c.get("num_local_experts", 8)
            out.append((p + "block_sparse_moe.gate.weight", [e, h]))
            for x in range(e):
                out += gated_mlp(p + "block_sparse_moe.experts.%d." % x, h, inter, "w1", "w3", "w2")
        else:
            out += gated_mlp(p + "mlp.", h, inter)
    out.append(("model.final_layernorm.weight" if mt == "jamba" else "model.norm.weight", [h]))
    tied_default = mt == "gemma"
    if not c.get("tie_word_embeddings", tied_default):
        out.append(("lm_head.weight", [v, h]))
    return out


def write_shard(path, entries, rng=None):
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, dtype, shape in entries:
        size = DTYPE_BYTES[dtype] * math.prod(shape)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        if rng is None:
            f.truncate(8 + len(blob) + offset)
            return offset
        for name, dtype, shape in entries:
            if dtype != "F32":
                raise SystemExit("--random writes F32 only, %s is %s" % (name, dtype))
            n = math.prod(shape)
            v = [rng.gauss(0.0, 0.05) for _ in range(n)] if len(shape) > 1 else [1.0] * n
            f.write(struct.pack("<%df" % n, *v))
    return offset


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--dtype", default="F32")
    ap.add_argument("--shard-bytes", type=float, default=5e9)
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--shape", action="append", default=[])
    ap.add_argument("--dtype-of", action="append", default=[])
    ap.add_argument("--random", type=int, metavar="SEED")
    a = ap.parse_args()
    rng = random.Random(a.random) if a.random is not None else None
    with open(a.config) as f:
        config = json.load(f)
    shapes = dict(s.split("=") for s in a.shape)
    dtypes = dict(s.split("=") for s in a.dtype_of)
    entries = []
    for name, shape in tensors(config):
        if name in a.drop:
            continue
        if name in shapes:
            shape = [int(x) for x in shapes[name].split(",")]
        entries.append((name, dtypes.get(name, a.dtype), shape))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shards, current, size = [], [], 0
    for e in entries:
        b = DTYPE_BYTES[e[1]] * math.prod(e[2])
        if current and size + b > a.shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(e)
        size += b
    shards.append(current)
    if len(shards) == 1:
        write_shard(os.path.join(a.out, "model.safetensors"), shards[0], rng)
        return
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        name = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
        total += write_shard(os.path.join(a.out, name), shard, rng)
        for e in shard:
            weight_map[e[0]] = name
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


if __name__ == "__main__":
    main()
