#!/usr/bin/env bash
# The main job: install what is needed, build, compile the Jamba checkpoint
# shipped in the repo (test/fixtures/jamba: attention + Mamba + MoE layers)
# to an x86-64 artifact, and generate 16 tokens from a prompt with
# chimera-run. Prints the generated token ids; for this prompt (the fixture's
# first) the reference, HF transformers v4.44.2, continues with
# 215 92 195 144 193 13 178 172 30 193 137 151 164 222 111 181.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
model=${1:-test/fixtures/jamba}
out=build/artifacts/$(basename "$model")
build/bin/chimera-compile "$model" --target=x86_64 -o "$out" --max-seq-len=128
echo "demo: generating 16 tokens with $out" >&2
build/bin/chimera-run "$out" --prompt-ids=114,124,162,157,131,125,53,3,218,56,178,89,78 -n 16 --greedy
