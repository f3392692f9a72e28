#!/usr/bin/env python3
"""Writes a VAR folder (FoundationVision/VAR's layout: config.json,
var.safetensors, vae.safetensors) of the released VAR-d16 configuration:
depth 16, width 1024, 16 heads, patch_nums 1,2,3,4,5,6,8,10,13,16 (680
tokens), 1000 classes; VQVAE ch 160, ch_mult 1,1,2,2,4, codebook 4096,
z 32, 256x256 images.

usage: make_var_model.py OUT [--sparse] [--seed S]

Weights are random, N(0, 0.02) (norm-free layers stay stable), from a fixed
seed: for bench/README's images/s and FLOP figures, not for pictures.
--sparse writes every tensor as zeros into a sparse file instead (seconds,
no RAM): what the compile-time figure is measured on. Needs numpy unless
--sparse.
"""
import argparse
import json
import os
import struct

DEPTH, WIDTH, HEADS, CLASSES = 16, 1024, 16, 1000
PATCHES = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
VOCAB, Z, CH, CH_MULT, RES_BLOCKS, IMAGE = 4096, 32, 160, [1, 1, 2, 2, 4], 2, 256


def var_tensors():
    c, t = WIDTH, sum(p * p for p in PATCHES)
    out = [("class_emb.weight", [CLASSES + 1, c]), ("pos_start", [1, 1, c]),
           ("pos_1LC", [1, t, c]), ("lvl_embed.weight", [len(PATCHES), c]),
           ("word_embed.weight", [c, Z]), ("word_embed.bias", [c]),
           ("head_nm.ada_lin.1.weight", [2 * c, c]),
           ("head_nm.ada_lin.1.bias", [2 * c]),
           ("head.weight", [VOCAB, c]), ("head.bias", [VOCAB])]
    for i in range(DEPTH):
        p = "blocks.%d." % i
        out += [(p + "ada_lin.1.weight", [6 * c, c]), (p + "ada_lin.1.bias", [6 * c]),
                (p + "attn.mat_qkv.weight", [3 * c, c]), (p + "attn.q_bias", [c]),
                (p + "attn.v_bias", [c]), (p + "attn.zero_k_bias", [c]),
                (p + "attn.scale_mul_1H11", [1, HEADS, 1, 1]),
                (p + "attn.proj.weight", [c, c]), (p + "attn.proj.bias", [c]),
                (p + "ffn.fc1.weight", [4 * c, c]), (p + "ffn.fc1.bias", [4 * c]),
                (p + "ffn.fc2.weight", [c, 4 * c]), (p + "ffn.fc2.bias", [c])]
    return out


def vae_tensors():
    out = [("quantize.embedding.weight", [VOCAB, Z]),
           ("post_quant_conv.weight", [Z, Z, 3, 3]), ("post_quant_conv.bias", [Z])]
    for i in range(4):
        p = "quantize.quant_resi.qresi_ls.%d." % i
        out += [(p + "weight", [Z, Z, 3, 3]), (p + "bias", [Z])]

    def conv(name, o, i, k):
        return [(name + ".weight", [o, i, k, k]), (name + ".bias", [o])]

    def norm(name, c):
        return [(name + ".weight", [c]), (name + ".bias", [c])]

    def resnet(name, i, o):
        t = norm(name + ".norm1", i) + conv(name + ".conv1", o, i, 3)
        t += norm(name + ".norm2", o) + conv(name + ".conv2", o, o, 3)
        if i != o:
            t += conv(name + ".nin_shortcut", o, i, 1)
        return t

    def attn(name, c):
        return (norm(name + ".norm", c) + conv(name + ".qkv", 3 * c, c, 1)
                + conv(name + ".proj_out", c, c, 1))

    block_in = CH * CH_MULT[-1]
    out += conv("decoder.conv_in", block_in, Z, 3)
    out += resnet("decoder.mid.block_1", block_in, block_in)
    out += attn("decoder.mid.attn_1", block_in)
    out += resnet("decoder.mid.block_2", block_in, block_in)
    for level in reversed(range(len(CH_MULT))):
        o = CH * CH_MULT[level]
        for j in range(RES_BLOCKS + 1):
            out += resnet("decoder.up.%d.block.%d" % (level, j), block_in, o)
            block_in = o
            if level == len(CH_MULT) - 1:
                out += attn("decoder.up.%d.attn.%d" % (level, j), o)
        if level != 0:
            out += conv("decoder.up.%d.upsample.conv" % level, o, o, 3)
    out += norm("decoder.norm_out", block_in) + conv("decoder.conv_out", 3, block_in, 3)
    return out


def write(path, tensors, sparse, rng):
    header, offset = {}, 0
    for name, shape in tensors:
        n = 4
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header)
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        if sparse:
            f.truncate(8 + len(text) + offset)
            return
        for name, shape in tensors:
            if name.endswith(("norm1.weight", "norm2.weight", "norm.weight",
                              "norm_out.weight")):
                data = 1 + 0.02 * rng.standard_normal(shape)
            else:
                data = 0.02 * rng.standard_normal(shape)
            f.write(data.astype("<f4").tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--sparse", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    config = {
        "vae_kwargs": {"vocab_size": VOCAB, "z_channels": Z, "ch": CH,
                       "share_quant_resi": 4, "v_patch_nums": PATCHES,
                       "test_mode": True},
        "num_classes": CLASSES, "depth": DEPTH, "embed_dim": WIDTH,
        "num_heads": HEADS, "mlp_ratio": 4.0, "norm_eps": 1e-6,
        "shared_aln": False, "cond_drop_rate": 0.1, "attn_l2_norm": True,
        "patch_nums": PATCHES,
        "_vqvae_fixed_ddconfig": {"ch_mult": CH_MULT, "num_res_blocks": RES_BLOCKS,
                                  "using_sa": True, "using_mid_sa": True,
                                  "in_channels": 3, "dropout": 0.0,
                                  "quant_conv_ks": 3, "quant_resi": 0.5,
                                  "beta": 0.25, "using_znorm": False},
        "_image_size": IMAGE,
    }
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    rng = None
    if not a.sparse:
        import numpy
        rng = numpy.random.default_rng(a.seed)
    write(os.path.join(a.out, "var.safetensors"), var_tensors(), a.sparse, rng)
    write(os.path.join(a.out, "vae.safetensors"), vae_tensors(), a.sparse, rng)


if __name__ == "__main__":
    main()
