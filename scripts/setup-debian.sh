#!/usr/bin/env bash
# Installs the Debian 12 packages strix needs to build, test and run its tools. Idempotent: does
# nothing when everything is already installed. Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
  cmake ninja-build g++ clang-19 libclang-rt-19-dev
  libeigen3-dev libxsimd-dev xtl-dev librange-v3-dev nlohmann-json3-dev libicu-dev libcli11-dev catch2 libbenchmark-dev
  libcpp-httplib-dev pkg-config curl nodejs
  libamdhip64-dev rocm-device-libs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "setup: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
