#!/usr/bin/env python3
"""Compares the `logits` of two chimera-run --dump-logits files.

usage: compare_logits.py A B [--atol A] [--rtol R]

Prints the largest |a - b| and fails if any element exceeds
atol + rtol*|a|. Standard library only.
"""
import argparse
import sys

from check_run import read_safetensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    sa, a = read_safetensors(args.a)["logits"]
    sb, b = read_safetensors(args.b)["logits"]
    if sa != sb:
        sys.exit("logits shapes differ: %s vs %s" % (sa, sb))
    worst = max(abs(x - y) for x, y in zip(a, b))
    bad = sum(1 for x, y in zip(a, b) if abs(x - y) > args.atol + args.rtol * abs(x))
    print("logits max |diff| %.3g over %d values" % (worst, len(a)))
    if bad:
        sys.exit("%d logits out of tolerance" % bad)


if __name__ == "__main__":
    main()
