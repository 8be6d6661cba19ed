#!/usr/bin/env bash
# Builds the engine (cpp/) to WebAssembly, into wasm/out/:
#   hob-mt.{mjs,wasm,worker.js}  SIMD + pthreads, for cross-origin isolated pages and Node
#   hob-st.{mjs,wasm}            SIMD, one thread, for every other page
#   hob-ops.{mjs,wasm}           hob-st plus the single-op API of cpp/ops_api.h:
#                                for tests only, never shipped in the package
# The release builds export the C API of cpp/api.h, the test build also
# cpp/ops_api.h (wasm/exports.mjs lists them). Sources compile once per
# thread model into build/wasm/, and only those newer than their object.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's emscripten runs its JS optimizer with the system's Node modules.
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"
command -v emcc >/dev/null || { echo "emcc not found: run 'npm run bootstrap' (or install Debian's emscripten package)" >&2; exit 1; }

out=wasm/out
obj=build/wasm
mkdir -p "$out"

cxxflags=(-std=c++17 -O3 -DNDEBUG -msimd128 -fwasm-exceptions)
linkflags=(
  -O3 -msimd128 -fwasm-exceptions
  -sMODULARIZE -sEXPORT_ES6 -sEXPORT_NAME=createHobModule
  -sENVIRONMENT=web,worker,node -sFILESYSTEM=0
  -sALLOW_MEMORY_GROWTH -sINITIAL_MEMORY=64MB -sMAXIMUM_MEMORY=4GB
  -sWASM_BIGINT -sEXPORTED_RUNTIME_METHODS=UTF8ToString
)

# compile KIND [flags...]: every engine source to build/wasm/KIND/*.o, in
# parallel; an object is rebuilt when its source, any header or this script
# is newer.
compile() {
  local kind=$1; shift
  mkdir -p "$obj/$kind"
  local newest_header
  newest_header=$(ls -t cpp/*.h cpp/ops/*.h wasm/build.sh | head -1)
  local todo=()
  for src in cpp/*.cpp cpp/ops/*.cpp; do
    local o="$obj/$kind/$(echo "${src#cpp/}" | tr / _).o"
    if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ "$newest_header" -nt "$o" ]; then todo+=("$src"); fi
  done
  [ ${#todo[@]} -eq 0 ] && return
  echo "wasm: compiling ${#todo[@]} sources ($kind)"
  printf '%s\n' "${todo[@]}" | xargs -P "$(nproc)" -I{} sh -c \
    'src=$1; shift; o="$0/$(echo "${src#cpp/}" | tr / _).o"; em++ "$@" -c "$src" -o "$o"' "$obj/$kind" {} "${cxxflags[@]}" "$@" 2>&1 \
    | grep -v 'pthreads-mem-growth' || true
}

# objects KIND [exclude]: the object files of KIND, without the one named.
objects() {
  local kind=$1 exclude=${2:-}
  for o in "$obj/$kind"/*.o; do
    [ -n "$exclude" ] && [ "$(basename "$o")" = "$exclude" ] && continue
    echo "$o"
  done
}

# link NAME EXPORTS KIND EXCLUDE [flags...]: one module from objects, when
# an object or the export list is newer than it.
link() {
  local name=$1 exports=$2 kind=$3 exclude=$4; shift 4
  local target="$out/$name.wasm"
  # shellcheck disable=SC2046
  if [ -f "$target" ] && [ -z "$(find $(objects "$kind" "$exclude") wasm/exports.mjs wasm/build.sh -newer "$target" -print -quit)" ]; then
    echo "wasm: $name is up to date"
    return
  fi
  echo "wasm: linking $name"
  # shellcheck disable=SC2046
  em++ "${linkflags[@]}" "$@" -sEXPORTED_FUNCTIONS="$exports" $(objects "$kind" "$exclude") -o "$out/$name.mjs" 2>&1 \
    | grep -v 'pthreads-mem-growth' || true
  test -f "$target"
}

release_exports=$(node wasm/exports.mjs)
test_exports=$(node wasm/exports.mjs --ops)

compile mt -pthread
compile st
# The pool holds the workers the engine's thread pool needs; the loader
# passes their number as Module.hobWorkers (threads beyond the caller's).
link hob-mt "$release_exports" mt ops_api.cpp.o -pthread -sPTHREAD_POOL_SIZE="Module['hobWorkers']||1"
link hob-st "$release_exports" st ops_api.cpp.o
link hob-ops "$test_exports" st ''
# The pthread worker script is CommonJS; Node must not read it as an ES module.
echo '{"type":"commonjs"}' > "$out/package.json"
ls -l "$out"
