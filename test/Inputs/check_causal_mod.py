#!/usr/bin/env python3
"""Checks causal Mixture-of-Depths routing on the mod fixture.

usage: check_causal_mod.py CHIMERA_COMPILE CHIMERA_RUN FIXTURE_DIR WORK_DIR
                           [COMPILE_FLAG...]

The reference (astramind-ai/Mixture-of-depths) routes by whole-sequence
strict top-k: on a prompt of length s it selects the tokens whose router
weight w exceeds thr, the k-th largest (k = max(1, int(0.125 s))). Causal
routing selects a token when w > t for a fixed threshold t. So for one
prompt, any t in [w_(k), w_(k-1)) selects exactly the reference's tokens:
the decisions are known, and the causal model's prefill must reproduce the
reference's logits. Per prompt, this script

  1. takes t halfway between the k-th and (k-1)-th router weights of each
     routed layer (golden `router_weights.layer{1,3}`; the fixture's README
     guarantees a gap of at least 6e-3) and checks that `w > t` gives the
     golden `router_selected` exactly;
  2. compiles the fixture with --mod-routing=causal --mod-threshold=t1,t3
     --logits=all and checks the prompt's prefill logits against the golden
     `logits` (1e-4 + 1e-4 |ref|);
  3. generates 16 tokens through the cached decode (compact per-layer KV
     caches, skipped tokens untouched) and checks every step's logits
     against a prefill of the whole sequence (prompt + generated tokens),
     which routes every token from scratch: the cache must change nothing;
  4. runs both prompts as one right-padded batch and checks each row
     against that row run alone (padding is never routed, rows keep their
     own counts).

COMPILE_FLAGs (e.g. --target=vulkan) go to every compile. Standard library
only.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_run import read_safetensors  # noqa: E402

STEPS = 16


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (cmd[0], r.returncode, r.stderr))
    return r.stdout


def generate(chimera_run, artifact, prompts, steps, dump):
    cmd = [chimera_run, artifact, "-n", str(steps), "--greedy", "--threads", "2",
           "--dump-logits=" + dump]
    cmd += ["--prompt-ids=" + ",".join(map(str, p)) for p in prompts]
    out = run(cmd)
    return [[int(t) for t in line.split()] for line in out.strip().split("\n")], \
        read_safetensors(dump)


def rows(tensor, row):
    """Row `row` of a [B, T, V] tensor as T lists of V floats."""
    shape, data = tensor
    _, t, v = shape
    base = row * t * v
    return [data[base + i * v:base + (i + 1) * v] for i in range(t)]


def compare(what, got, want, failures, atol=1e-4, rtol=1e-4):
    worst = 0.0
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            excess = abs(a - b) - (atol + rtol * abs(b))
            worst = max(worst, abs(a - b))
            if excess > 0:
                failures.append("%s: |%g - %g| exceeds %g + %g|ref|" %
                                (what, a, b, atol, rtol))
                return worst
    return worst


def main():
    compiler, chimera_run, fixture, work = sys.argv[1:5]
    flags = sys.argv[5:]
    os.makedirs(work, exist_ok=True)
    golden = read_safetensors(os.path.join(fixture, "golden.safetensors"))
    (batch, seq), ids = golden["input_ids"]
    lengths = golden["lengths"][1]
    prompts = [list(ids[b * seq:b * seq + lengths[b]]) for b in range(batch)]
    failures = []
    for b in range(batch):
        n = lengths[b]
        k = max(1, int(0.125 * n))
        thresholds = []
        for layer in (1, 3):
            w = golden["router_weights.layer%d" % layer][1][b * seq:b * seq + n]
            want = golden["router_selected.layer%d" % layer][1][b * seq:b * seq + n]
            top = sorted(w, reverse=True)
            t = (top[k - 1] + top[k - 2]) / 2 if k > 1 else top[0] - 1e-3
            thresholds.append(t)
            if [int(x > t) for x in w] != list(want):
                failures.append("prompt %d layer %d: w > %r is not the golden "
                                "selection" % (b, layer, t))
        artifact = os.path.join(work, "prompt%d" % b)
        run([compiler, fixture, "-o", artifact, "--mod-routing=causal",
             "--mod-threshold=" + ",".join("%.9g" % t for t in thresholds),
             "--logits=all", "--max-seq-len=64", "--max-batch=2", "--quiet"]
            + flags)

        tokens, out = generate(chimera_run, artifact, [prompts[b]], STEPS,
                               os.path.join(work, "run%d.safetensors" % b))
        ref = rows(golden["logits"], b)[:n]
        err = compare("prompt %d prefill" % b, rows(out["logits"], 0)[:n], ref,
                      failures)
        print("prompt %d: prefill logits within %.2g of the reference" % (b, err))

        # The cached decode against a prefill that routes everything anew.
        whole = prompts[b] + tokens[0][:STEPS - 1]
        _, full = generate(chimera_run, artifact, [whole], 1,
                           os.path.join(work, "whole%d.safetensors" % b))
        err = compare("prompt %d decode vs recompute" % b,
                      rows(out["step_logits"], 0),
                      rows(full["logits"], 0)[n - 1:n - 1 + STEPS], failures)
        print("prompt %d: %d decode steps within %.2g of a full recompute" %
              (b, STEPS, err))

        # Both prompts in one padded batch: each row as if alone.
        both, batched = generate(chimera_run, artifact, prompts, STEPS,
                                 os.path.join(work, "batch%d.safetensors" % b))
        for r in range(batch):
            _, alone = generate(chimera_run, artifact, [prompts[r]], STEPS,
                                os.path.join(work, "alone%d_%d.safetensors" % (b, r)))
            compare("batched row %d prefill" % r,
                    rows(batched["logits"], r)[:lengths[r]],
                    rows(alone["logits"], 0)[:lengths[r]], failures)
            compare("batched row %d decode" % r, rows(batched["step_logits"], r),
                    rows(alone["step_logits"], 0), failures)
        print("prompt %d artifact: a padded batch of both prompts matches each "
              "row alone" % b)
    if failures:
        sys.exit("\n".join(failures[:10]))
    print("causal routing ok")


if __name__ == "__main__":
    main()
