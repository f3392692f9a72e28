#!/usr/bin/env python3
"""Runs a compiled artifact on a fixture's prompts and checks it against the
reference goldens.

usage: check_run.py CHIMERA_RUN ARTIFACT GOLDEN [--inputs FILE]
                    [--logits NAME] [--tokens NAME] [--atol A] [--threads T]
                    [--expect-last] [--extend N]

Takes both prompts of GOLDEN (or --inputs), runs
`CHIMERA_RUN ARTIFACT --prompt-ids=... --prompt-ids=... -n 16 --greedy
--dump-logits=...` and requires: the printed tokens equal the golden greedy
tokens exactly; the dumped prefill logits at every valid position (only the
last one of each row with --expect-last) are within
atol + 1e-4*|ref| of the golden logits; the dumped `generated` equals the
printed tokens.

With --extend N each prompt is followed by its first N golden greedy tokens
and prefilled whole (longer prefills than the fixtures' prompts), and the
rest of the greedy tokens are generated: the logits at the prompt's last
position and at the N appended ones must match the golden `greedy_logits`
(the reference's logits after each of those tokens), the earlier positions
the golden prefill logits. Standard library only.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[b:end]
        fmt = {"F32": "f", "I64": "q"}.get(e["dtype"])
        if fmt is None:
            continue
        out[name] = (e["shape"], struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chimera_run")
    ap.add_argument("artifact")
    ap.add_argument("golden")
    ap.add_argument("--inputs")
    ap.add_argument("--logits", default="logits")
    ap.add_argument("--expect-last", action="store_true",
                    help="the artifact computes each row's last logits only")
    ap.add_argument("--tokens", default="greedy_tokens")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--extend", type=int, default=0,
                    help="append this many golden greedy tokens to each prompt")
    a = ap.parse_args()
    golden = read_safetensors(a.golden)
    inputs = read_safetensors(a.inputs or a.golden)
    ids_shape, ids = inputs["input_ids"]
    _, lengths = inputs["lengths"]
    batch, seq = ids_shape
    prompts = [ids[b * seq:b * seq + lengths[b]] for b in range(batch)]
    tokens_shape, tokens = golden[a.tokens]
    steps = tokens_shape[1]
    want = [list(tokens[b * steps:(b + 1) * steps]) for b in range(batch)]
    if a.extend:
        if not 0 < a.extend < steps:
            sys.exit("--extend must be in [1, %d)" % steps)
        prompts = [list(p) + want[b][:a.extend] for b, p in enumerate(prompts)]
        want = [w[a.extend:] for w in want]
        greedy_shape, greedy_logits = golden["greedy_logits"]
        steps -= a.extend
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "out.safetensors")
        cmd = [a.chimera_run, a.artifact, "-n", str(steps), "--greedy",
               "--threads", a.threads, "--dump-logits=" + dump]
        cmd += ["--prompt-ids=" + ",".join(map(str, p)) for p in prompts]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("chimera-run failed (%d): %s" % (run.returncode, run.stderr))
        out = read_safetensors(dump)
    lines = run.stdout.strip().split("\n")
    got = [[int(t) for t in line.split()] for line in lines]
    failures = []
    if got != want:
        failures.append("greedy tokens differ:\n  got  %s\n  want %s" % (got, want))
    gen_shape, generated = out["generated"]
    if [list(generated[b * steps:(b + 1) * steps]) for b in range(batch)] != got:
        failures.append("dumped 'generated' differs from the printed tokens")
    shape, logits = out["logits"]
    gshape, ref = golden[a.logits]
    vocab = shape[2]
    # An artifact compiled with --logits=last dumps [rows, 1, vocab]: each
    # row's last prompt position.
    last_only = shape[1] == 1 and max(len(p) for p in prompts) > 1
    if a.expect_last != last_only:
        failures.append("dumped logits are %s, expected %s" % (
            shape, "[rows, 1, vocab]" if a.expect_last else "every position"))
    worst, bad = 0.0, 0
    checked = 0
    for b in range(batch):
        length = len(prompts[b])
        for t in range(length):
            if last_only and t != length - 1:
                continue
            checked += 1
            base_got = (b * shape[1] + (0 if last_only else t)) * vocab
            # Past the prompt's second-to-last position, the logits that
            # chose golden greedy token t - lengths[b] + 1.
            j = t - lengths[b] + 1
            if a.extend and j >= 0:
                source = greedy_logits
                base_ref = (b * greedy_shape[1] + j) * vocab
            else:
                source = ref
                base_ref = (b * gshape[1] + t) * vocab
            for v in range(vocab):
                r = source[base_ref + v]
                d = abs(logits[base_got + v] - r)
                worst = max(worst, d)
                if not d <= a.atol + 1e-4 * abs(r):
                    bad += 1
        if last_only:
            continue
        pad = logits[(b * shape[1] + length) * vocab:(b + 1) * shape[1] * vocab]
        if any(x != 0.0 for x in pad):
            failures.append("row %d: logits past the prompt are not zero" % b)
    print("prefill logits max |diff| %.3g over %d positions; tokens %s" % (
        worst, checked, "exact" if got == want else "DIFFER"))
    if bad:
        failures.append("%d logits out of tolerance (max |diff| %.3g)" % (bad, worst))
    if failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main()
