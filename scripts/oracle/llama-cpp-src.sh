# Sourced by the scripts that build llama.cpp tools for the fixtures
# (build-mtmd.sh, build-json-schema-tool.sh): sets root (the repository) and
# src (llama.cpp's source), cloning it from the git bundle node-llama-cpp
# ships (the llama.cpp it was built from) into build/llama.cpp-src unless
# LLAMA_CPP_SRC names another checkout, or $src already holds the file
# named by the caller's $need (a path inside the source tree).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bundle="$root/scripts/oracle/node_modules/node-llama-cpp/llama/gitRelease.bundle"
src="${LLAMA_CPP_SRC:-$root/build/llama.cpp-src}"

if [ ! -f "$src/$need" ]; then
  if [ ! -f "$bundle" ]; then
    echo "no llama.cpp source: set LLAMA_CPP_SRC, or install scripts/oracle's node_modules (node-llama-cpp ships $bundle)" >&2
    exit 1
  fi
  rm -rf "$src"
  git -c advice.detachedHead=false clone --quiet "$bundle" "$src"
fi

# The commit the tools are built from, for the closing message.
llama_cpp_commit() {
  git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)'
}
