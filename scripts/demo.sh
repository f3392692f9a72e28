#!/usr/bin/env bash
# The main job: install, build, and run an example through chimera's
# reference lowering down to LLVM, executing it with mlir-runner.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
example=examples/selective_scan_demo.mlir
echo "demo: lowering $example through chimera-reference-to-llvm and running it" >&2
build/bin/chimera-opt "$example" --chimera-reference-to-llvm \
  | /usr/lib/llvm-22/bin/mlir-runner -e main -entry-point-result=void \
      -shared-libs=/usr/lib/llvm-22/lib/libmlir_runner_utils.so \
      -shared-libs=/usr/lib/llvm-22/lib/libmlir_c_runner_utils.so
