#!/usr/bin/env bash
# Builds llama.cpp's multimodal library (libmtmd), its llama-mtmd-cli and our
# small oracle tool (scripts/oracle/mtmd-oracle.cpp) for the vision fixtures
# of scripts/oracle/make-vision-fixtures.ts: CPU only, Release, into
# build/mtmd (ignored).
#
# llama.cpp's source comes from the git bundle node-llama-cpp ships (the
# llama.cpp it was built from), cloned into build/llama.cpp-src; set
# LLAMA_CPP_SRC to use another checkout instead. JOBS (default 2) bounds the
# parallel compile; the build runs under nice so it yields to other work.
#   bash scripts/oracle/build-mtmd.sh      (from the repository root)
set -euo pipefail

need=tools/mtmd/mtmd.h
source "$(dirname "${BASH_SOURCE[0]}")/llama-cpp-src.sh"
out="$root/build/mtmd"
jobs="${JOBS:-2}"

# Shared libraries so the oracle tool links against exactly the libmtmd and
# libllama that llama-mtmd-cli uses. GGML_NATIVE=OFF keeps the fixtures
# independent of the building machine's vector extensions.
cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
  -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DGGML_OPENMP=OFF > "$out.configure.log"
nice -n 10 cmake --build "$out" --target llama-mtmd-cli -j "$jobs"

# The oracle tool: llama.cpp's image embeddings and greedy tokens as JSON.
nice -n 10 ${CXX:-g++} -std=c++17 -O2 \
  -I "$src/include" -I "$src/ggml/include" -I "$src/tools/mtmd" \
  -o "$out/bin/mtmd-oracle" "$root/scripts/oracle/mtmd-oracle.cpp" \
  -L "$out/bin" -lmtmd -lllama -lggml -lggml-base -Wl,-rpath,"$out/bin"

echo "built $out/bin/llama-mtmd-cli and $out/bin/mtmd-oracle from llama.cpp $(llama_cpp_commit)"
