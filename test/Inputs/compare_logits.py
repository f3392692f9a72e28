#!/usr/bin/env python3
"""Compares the `logits` of two chimera-run --dump-logits files.

usage: compare_logits.py A B [--atol A] [--rtol R] [--steps]

Prints the largest |a - b| and fails if any element exceeds
atol + rtol*|a|. With --steps, the decode steps' `step_logits` too.
Standard library only.
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
    ap.add_argument("--steps", action="store_true",
                    help="compare the decode steps' step_logits as well")
    args = ap.parse_args()
    fa, fb = read_safetensors(args.a), read_safetensors(args.b)
    for name in ["logits"] + (["step_logits"] if args.steps else []):
        sa, a = fa[name]
        sb, b = fb[name]
        if sa != sb:
            sys.exit("%s shapes differ: %s vs %s" % (name, sa, sb))
        worst = max(abs(x - y) for x, y in zip(a, b))
        bad = sum(1 for x, y in zip(a, b)
                  if abs(x - y) > args.atol + args.rtol * abs(x))
        print("%s max |diff| %.3g over %d values" % (name, worst, len(a)))
        if bad:
            sys.exit("%d %s out of tolerance" % (bad, name))


if __name__ == "__main__":
    main()
