#!/usr/bin/env bash
# Configures (once) and builds with the `default` preset. ccache is keyed on
# the source root so a fresh clone on a reused machine rebuilds in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"
export CCACHE_NOHASHDIR=1
if [[ ! -f build/build.ninja ]]; then
  cmake --preset default
fi
cmake --build --preset default
