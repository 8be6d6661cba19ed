#!/usr/bin/env bash
# Builds the engine (cpp/) to WebAssembly, into wasm/out/:
#   hob-mt.{mjs,wasm,worker.js}  SIMD + pthreads, for cross-origin isolated pages and Node
#   hob-st.{mjs,wasm}            SIMD, one thread, for every other page
# Both export the C API of cpp/api.h, listed by wasm/exports.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's emscripten runs its JS optimizer with the system's Node modules.
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"
command -v emcc >/dev/null || { echo "emcc not found: run 'npm run bootstrap' (or install Debian's emscripten package)" >&2; exit 1; }

out=wasm/out
mkdir -p "$out"
exports=$(node wasm/exports.mjs)
sources=(cpp/*.cpp cpp/ops/*.cpp)

common=(
  -std=c++17 -O3 -DNDEBUG -msimd128 -fwasm-exceptions
  -sMODULARIZE -sEXPORT_ES6 -sEXPORT_NAME=createHobModule
  -sENVIRONMENT=web,worker,node -sFILESYSTEM=0
  -sALLOW_MEMORY_GROWTH -sINITIAL_MEMORY=64MB -sMAXIMUM_MEMORY=4GB
  -sEXPORTED_FUNCTIONS="$exports"
  -sWASM_BIGINT -sEXPORTED_RUNTIME_METHODS=UTF8ToString
)

build() {
  local name=$1; shift
  local stamp="$out/$name.wasm"
  # Rebuild only when a source or this script is newer than the output.
  if [ -f "$stamp" ] && [ -z "$(find cpp wasm/build.sh wasm/exports.mjs -newer "$stamp" -type f -print -quit)" ]; then
    echo "wasm: $name is up to date"
    return
  fi
  echo "wasm: building $name"
  em++ "${common[@]}" "$@" "${sources[@]}" -o "$out/$name.mjs"
}

# The pool holds the workers the engine's thread pool needs; the loader
# passes their number as Module.hobWorkers (threads beyond the caller's).
build hob-mt -pthread -sPTHREAD_POOL_SIZE="Module['hobWorkers']||1" 2>&1 | grep -v 'pthreads-mem-growth' || true
build hob-st
test -f "$out/hob-mt.wasm" && test -f "$out/hob-st.wasm"
# The pthread worker script is CommonJS; Node must not read it as an ES module.
echo '{"type":"commonjs"}' > "$out/package.json"
ls -l "$out"
