#!/usr/bin/env python3
"""Runs a VAR artifact on the fixture's class labels and checks it against
the reference goldens (FoundationVision/VAR).

usage: check_var.py CHIMERA_RUN ARTIFACT GOLDEN generate [--atol A]
       check_var.py CHIMERA_RUN ARTIFACT GOLDEN teacher-forcing [--atol A]

generate: `--class-labels=<label_B> --cfg=4 --top-k=1 --image-out=...
--dump=...` (the golden's setting); requires every scale's token map to
equal `gen.tokens.s{k}` exactly, the printed lines to be the same maps, the
image to be within atol of `gen.image`, and the PNG to be a valid 8-bit RGB
grid (chunk CRCs, zlib stream) whose pixels are the dumped image quantised.

teacher-forcing: `--image-tokens=<tf.tokens row>` per image; requires the
logits within atol + 1e-4*|ref| of `tf.logits`. Standard library only.
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_run import read_safetensors  # noqa: E402


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("%s: not a PNG" % path)
    pos, idat, header = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            sys.exit("%s: bad CRC in chunk %s" % (path, kind))
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    width, height, depth, color = header[:4]
    if depth != 8 or color != 2:
        sys.exit("%s: expected 8-bit RGB, got depth %d color type %d"
                 % (path, depth, color))
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    if len(raw) != height * stride:
        sys.exit("%s: %d bytes of pixels for %dx%d" % (path, len(raw), width, height))
    rows = [raw[y * stride + 1:(y + 1) * stride] for y in range(height)]
    if any(raw[y * stride] != 0 for y in range(height)):
        sys.exit("%s: unexpected filter type" % path)
    return width, height, rows


def f32(x):
    """x rounded to float32, as the writer computes."""
    return struct.unpack("f", struct.pack("f", x))[0]


def run(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if proc.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), proc.returncode,
                                         proc.stderr))
    return proc.stdout


def generate(args, golden, tmp):
    _, labels = golden["label_B"]
    png, dump = os.path.join(tmp, "out.png"), os.path.join(tmp, "out.safetensors")
    out = run([args.chimera_run, args.artifact,
               "--class-labels=" + ",".join(map(str, labels)), "--cfg=4.0",
               "--top-k=1", "--image-out=" + png, "--dump=" + dump])
    got = read_safetensors(dump)
    batch, scales = len(labels), 0
    expected_lines = [[] for _ in range(batch)]
    while "gen.tokens.s%d" % scales in golden:
        shape, ref = golden["gen.tokens.s%d" % scales]
        gshape, tokens = got.get("tokens.s%d" % scales, (None, None))
        if gshape != shape or tokens != ref:
            sys.exit("scale %d: token map %s differs from the reference %s"
                     % (scales, tokens, ref))
        per = shape[1] * shape[2]
        for b in range(batch):
            expected_lines[b] += ref[b * per:(b + 1) * per]
        scales += 1
    lines = [list(map(int, line.split())) for line in out.strip().splitlines()]
    if lines != expected_lines:
        sys.exit("printed tokens %s differ from the dumped maps" % lines)
    print("tokens exact: %d scales, %d images" % (scales, batch))

    shape, ref = golden["gen.image"]
    gshape, image = got["image"]
    if gshape != shape:
        sys.exit("image shape %s, expected %s" % (gshape, shape))
    worst = max(abs(a - b) for a, b in zip(image, ref))
    print("image max |diff| %.3g over %d values" % (worst, len(ref)))
    if worst > args.atol:
        sys.exit("image differs from the reference by more than %g" % args.atol)

    b, c, h, w = shape
    width, height, rows = read_png(png)
    if (width, height) != (b * w, h) or c != 3:
        sys.exit("PNG is %dx%d, expected %dx%d" % (width, height, b * w, h))
    for y in range(h):
        for i in range(b):
            for x in range(w):
                for ch in range(3):
                    v = image[((i * c + ch) * h + y) * w + x]
                    q = int(min(max(f32(f32(v * 255.0) + 0.5), 0.0), 255.0))
                    if rows[y][(i * w + x) * 3 + ch] != q:
                        sys.exit("PNG pixel (%d, %d) of image %d differs" % (x, y, i))
    print("png ok: %dx%d" % (width, height))


def teacher_forcing(args, golden, tmp):
    _, labels = golden["label_B"]
    shape, tokens = golden["tf.tokens"]
    dump = os.path.join(tmp, "tf.safetensors")
    cmd = [args.chimera_run, args.artifact,
           "--class-labels=" + ",".join(map(str, labels)), "--dump=" + dump]
    for b in range(shape[0]):
        row = tokens[b * shape[1]:(b + 1) * shape[1]]
        cmd.append("--image-tokens=" + ",".join(map(str, row)))
    run(cmd)
    ref_shape, ref = golden["tf.logits"]
    got_shape, got = read_safetensors(dump)["logits"]
    if got_shape != ref_shape:
        sys.exit("logits shape %s, expected %s" % (got_shape, ref_shape))
    worst = max(abs(a - b) for a, b in zip(got, ref))
    bad = sum(1 for a, b in zip(got, ref) if abs(a - b) > args.atol + 1e-4 * abs(b))
    print("teacher-forced logits max |diff| %.3g over %d values" % (worst, len(ref)))
    if bad:
        sys.exit("%d logits out of tolerance" % bad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chimera_run")
    ap.add_argument("artifact")
    ap.add_argument("golden")
    ap.add_argument("mode", choices=["generate", "teacher-forcing"])
    ap.add_argument("--atol", type=float)
    args = ap.parse_args()
    if args.atol is None:
        args.atol = 2e-4 if args.mode == "generate" else 1e-4
    golden = read_safetensors(args.golden)
    with tempfile.TemporaryDirectory() as tmp:
        (generate if args.mode == "generate" else teacher_forcing)(args, golden, tmp)


if __name__ == "__main__":
    main()
