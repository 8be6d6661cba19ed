#!/usr/bin/env bash
# Builds llama.cpp's own JSON-schema-to-GBNF converter as a small command-line
# tool (build/json-schema-tool/json-schema-to-grammar), the oracle of
# scripts/oracle/make-json-schema-fixtures.ts. It compiles only what the
# converter needs: common/json-schema-to-grammar.cpp and common/json.cpp
# (llama.cpp's wrapper over the vendored nlohmann json), with the small
# stand-ins for common.h and ggml.h in scripts/oracle/json-schema-tool/.
#
# llama.cpp's source comes from the git bundle node-llama-cpp ships (the
# llama.cpp it was built from), cloned into build/llama.cpp-src; set
# LLAMA_CPP_SRC to use another checkout instead.
#   bash scripts/oracle/build-json-schema-tool.sh      (from the repository root)
set -euo pipefail

need=common/json-schema-to-grammar.cpp
source "$(dirname "${BASH_SOURCE[0]}")/llama-cpp-src.sh"
out="$root/build/json-schema-tool"

# The converter's own files next to the stand-ins, so that its #include
# "common.h" finds the stand-in rather than llama.cpp's full header.
rm -rf "$out/src"
mkdir -p "$out/src"
cp "$src/common/json-schema-to-grammar.cpp" "$src/common/json-schema-to-grammar.h" \
   "$src/common/json.cpp" "$src/common/json.h" "$out/src/"
cp "$root/scripts/oracle/json-schema-tool/common.h" "$root/scripts/oracle/json-schema-tool/ggml.h" "$out/src/"

${CXX:-g++} -std=c++17 -O1 -I "$out/src" -I "$src/vendor" \
  -o "$out/json-schema-to-grammar" \
  "$root/scripts/oracle/json-schema-tool/main.cpp" "$out/src/json-schema-to-grammar.cpp" "$out/src/json.cpp"

echo "built $out/json-schema-to-grammar from llama.cpp $(llama_cpp_commit)"
