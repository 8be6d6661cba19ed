#!/usr/bin/env bash
# The vision oracle (scripts/oracle/mtmd-oracle.cpp) against llama.cpp's
# Vulkan backend, for bench/vision.ts's llama.cpp-gpu peer: the libmtmd that
# scripts/oracle/build-mtmd.sh builds (run it first) and the prebuilt
# libllama and ggml libraries node-llama-cpp ships for Vulkan (the same
# llama.cpp source; ggml's backends there are loadable libraries), in one
# folder, build/mtmd-vulkan, with the oracle's rpath pointing at it. Links
# under the library names libmtmd was linked with. Needs scripts/oracle's
# node_modules; runs wherever a Vulkan driver is (SwiftShader too, slowly:
# MTMD_ORACLE_GPU=1 VK_ICD_FILENAMES=...).
#   bash scripts/oracle/build-mtmd-vulkan.sh      (from the repository root)
set -euo pipefail

need=tools/mtmd/mtmd.h
source "$(dirname "${BASH_SOURCE[0]}")/llama-cpp-src.sh"
cpu="$root/build/mtmd/bin"
out="$root/build/mtmd-vulkan"
bins="$root/scripts/oracle/node_modules/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan"
[ -f "$cpu/libmtmd.so.0" ] || { echo "no $cpu/libmtmd.so.0: run bash scripts/oracle/build-mtmd.sh first" >&2; exit 1; }
[ -f "$bins/libggml-vulkan.so" ] || { echo "no $bins: cd scripts/oracle && npm ci" >&2; exit 1; }

rm -rf "$out" && mkdir -p "$out"
cp "$bins"/*.so "$out/"
cp -L "$cpu/libmtmd.so.0" "$out/libmtmd.so.0"
ln -s libllama.vulkan.v0.4.0.so "$out/libllama.so.0"
ln -s libggml.vulkan.v0.4.0.so "$out/libggml.so.0"
ln -s libggml-base.so "$out/libggml-base.so.0"
ln -s libmtmd.so.0 "$out/libmtmd.so"
ln -s libllama.so.0 "$out/libllama.so"
ln -s libggml.so.0 "$out/libggml.so"

${CXX:-g++} -std=c++17 -O2 \
  -I "$src/include" -I "$src/ggml/include" -I "$src/tools/mtmd" \
  -o "$out/mtmd-oracle" "$root/scripts/oracle/mtmd-oracle.cpp" \
  -L "$out" -lmtmd -lllama -lggml -lggml-base -Wl,-rpath,'$ORIGIN'

echo "built $out/mtmd-oracle (libmtmd from llama.cpp $(llama_cpp_commit), node-llama-cpp's Vulkan libraries)"
