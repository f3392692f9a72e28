#!/usr/bin/env bash
# Installs every Debian package Chimera needs. Idempotent: packages already
# present are skipped by apt-get, and the script is safe to run twice.
set -euo pipefail

PACKAGES=(
  cmake ninja-build ccache
  clang-22 lld-22 llvm-22 llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libclang-rt-22-dev
  libgtest-dev python3
  # Vulkan: headers for the runtime's backend (it dlopens the loader),
  # the loader, Mesa's lavapipe (a Vulkan driver on the CPU, so the Vulkan
  # tests run without a GPU) and spirv-val.
  libvulkan-dev libvulkan1 mesa-vulkan-drivers spirv-tools
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
