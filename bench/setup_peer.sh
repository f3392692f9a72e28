#!/usr/bin/env bash
# Builds the peer (llama.cpp) and the four benchmark models outside the
# repository, under $CHIMERA_BENCH_DIR (default /tmp/chimera-bench):
#   llama.cpp/   from the git bundle inside the npm package node-llama-cpp
#   models/hf/   HF folders (what chimera-compile reads)
#   models/gguf/ the same weights as GGUF (what llama.cpp reads)
# Nothing here is committed. Takes about 6 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${CHIMERA_BENCH_DIR:-/tmp/chimera-bench}
mkdir -p "$WORK"

need=()
command -v npm >/dev/null || need+=(npm) # nodejs may bring its own npm
for p in git python3-numpy python3-yaml python3-tqdm gcc g++ libgomp1; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get install -y -q "${need[@]}"
fi

if [[ ! -x "$WORK/llama.cpp/build/bin/llama-bench" ]]; then
  (cd "$WORK" && rm -rf package llama.cpp node-llama-cpp-*.tgz &&
   npm pack --silent node-llama-cpp@3.22.1 >/dev/null &&
   tar xzf node-llama-cpp-3.22.1.tgz package/llama/gitRelease.bundle &&
   git clone -q package/llama/gitRelease.bundle llama.cpp)
  # AMX off: its quantised matmuls segfault on this CPU (upstream #20824).
  cmake -S "$WORK/llama.cpp" -B "$WORK/llama.cpp/build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
    -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=ON \
    -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON \
    -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
    -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF >/dev/null
  cmake --build "$WORK/llama.cpp/build" --target llama-bench llama-quantize -j 2
fi

if [[ ! -d "$WORK/models/hf/llama-125m" ]]; then
  PYTHONPATH="$WORK/llama.cpp/gguf-py" /usr/bin/python3 bench/make_models.py --out "$WORK/models"
fi
# The 8- and 4-bit formats our --quant=int8|int4 are compared with.
for gguf in "$WORK"/models/gguf/*-f32.gguf; do
  for q in Q8_0 Q4_0; do
    out="${gguf%-f32.gguf}-$q.gguf"
    [[ -f "$out" ]] || LD_LIBRARY_PATH="$WORK/llama.cpp/build/bin" \
      "$WORK/llama.cpp/build/bin/llama-quantize" "$gguf" "$out" "$q" >/dev/null
  done
done
echo "setup_peer: llama.cpp and models ready in $WORK"
