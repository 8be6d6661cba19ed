#!/usr/bin/env bash
# Builds the engine (cpp/) to WebAssembly, into wasm/out/:
#   hob-mt.{mjs,wasm,worker.js}  SIMD + pthreads, for cross-origin isolated pages and Node
#   hob-st.{mjs,wasm}            SIMD, one thread, for every other page
#   hob-mt-relaxed.wasm,         the same with relaxed SIMD's 8-bit dot products in
#   hob-st-relaxed.wasm          the kernels; they share the glue of hob-mt / hob-st
#                                and are picked at load where the engine validates them
#   hob-ops.{mjs,wasm}           hob-st plus the single-op API of cpp/ops_api.h,
#   hob-ops-relaxed.wasm         and its relaxed twin: for tests only, never shipped
# The release builds export the C API of cpp/api.h, the test build also
# cpp/ops_api.h (wasm/exports.mjs lists them). Sources compile once per
# thread model into build/wasm/, and only those newer than their object; the
# relaxed builds recompile only the kernel sources.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's emscripten runs its JS optimizer with the system's Node modules.
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"
command -v emcc >/dev/null || { echo "emcc not found: run 'npm run bootstrap' (or install Debian's emscripten package)" >&2; exit 1; }

# Toolchain. Debian 12's emcc (3.1.6) comes with clang 14, which has no
# relaxed-SIMD dot product; it drives a newer clang from apt just as well
# (EM_LLVM_ROOT, tool names without a version suffix). Its binaryen (108)
# decodes i32x4.relaxed_dot_i8x16_i7x16_add_s with one operand too few and
# rewrites the code around it into an invalid module, so binaryen must never
# read or write a module here: links run at -O1 (emcc runs wasm-opt from -O2
# on; the objects are already optimized by clang at -O3, and wasm-opt's -O3
# was measured to change no speed), and emcc reads the exports in Python.
llvm=""
for v in 22 21 20 19; do
  if [ -x "/usr/lib/llvm-$v/bin/clang" ] && [ -x "/usr/lib/llvm-$v/bin/wasm-ld" ]; then llvm=/usr/lib/llvm-$v/bin; break; fi
done
[ -n "$llvm" ] || { echo "wasm: needs clang 19 or newer with wasm-ld: run 'npm run bootstrap' (or apt-get install clang-19 lld-19)" >&2; exit 1; }
export EM_LLVM_ROOT="$llvm" EM_LLVM_ADD_VERSION="" EM_CLANG_ADD_VERSION="" EMCC_READ_METADATA=python

out=wasm/out
obj=build/wasm
mkdir -p "$out"

# No contraction of a * b + c: relaxed SIMD has a fused multiply-add that
# would round differently from the SIMD128 build.
cxxflags=(-std=c++17 -O3 -DNDEBUG -msimd128 -ffp-contract=off -fwasm-exceptions -Wno-version-check)
linkflags=(
  -O1 -msimd128 -fwasm-exceptions -Wno-version-check
  -sMODULARIZE -sEXPORT_ES6 -sEXPORT_NAME=createHobModule
  -sENVIRONMENT=web,worker,node -sFILESYSTEM=0
  -sALLOW_MEMORY_GROWTH -sINITIAL_MEMORY=64MB -sMAXIMUM_MEMORY=4GB
  -sWASM_BIGINT -sEXPORTED_RUNTIME_METHODS=UTF8ToString
)

# The source of the relaxed-SIMD kernels; the relaxed builds compile it
# with -mrelaxed-simd and share every other object.
relaxed_sources=(cpp/quants_relaxed.cpp)

# Objects are compiler-specific: a new toolchain starts them afresh.
toolchain="$("$llvm/clang" --version | head -1)"
if [ "$(cat "$obj/toolchain" 2>/dev/null)" != "$toolchain" ]; then
  rm -rf "$obj"
  mkdir -p "$obj"
  echo "$toolchain" > "$obj/toolchain"
fi

# compile KIND SOURCES... -- [flags...]: sources to build/wasm/KIND/*.o, in
# parallel; an object is rebuilt when its source, any header or this script
# is newer, and removed when its source is not in the list.
compile() {
  local kind=$1; shift
  local srcs=()
  while [ "$1" != "--" ]; do srcs+=("$1"); shift; done
  shift
  mkdir -p "$obj/$kind"
  # Objects of sources no longer in the list (deleted, or no longer built
  # relaxed) would be linked in: remove them.
  local keep=" "
  for src in "${srcs[@]}"; do keep+="$(echo "${src#cpp/}" | tr / _).o "; done
  for o in "$obj/$kind"/*.o; do
    [ -f "$o" ] && [[ "$keep" != *" $(basename "$o") "* ]] && rm -f "$o"
  done
  local newest_header
  newest_header=$(ls -t cpp/*.h cpp/ops/*.h wasm/build.sh | head -1)
  local todo=()
  for src in "${srcs[@]}"; do
    [ -f "$src" ] || continue
    local o="$obj/$kind/$(echo "${src#cpp/}" | tr / _).o"
    if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ "$newest_header" -nt "$o" ]; then todo+=("$src"); fi
  done
  [ ${#todo[@]} -eq 0 ] && return
  echo "wasm: compiling ${#todo[@]} sources ($kind)"
  printf '%s\n' "${todo[@]}" | xargs -P "$(nproc)" -I{} sh -c \
    'src=$1; shift; o="$0/$(echo "${src#cpp/}" | tr / _).o"; em++ "$@" -c "$src" -o "$o"' "$obj/$kind" {} "${cxxflags[@]}" "$@" 2>&1 \
    | grep -v 'pthreads-mem-growth' || true
}

# objects KIND [RELAXED] [exclude]: the object files of KIND, without the one
# named; with RELAXED (a kind), its objects replace those of the same name.
objects() {
  local kind=$1 relaxed=${2:-} exclude=${3:-}
  for o in "$obj/$kind"/*.o; do
    local b
    b=$(basename "$o")
    [ -n "$exclude" ] && [ "$b" = "$exclude" ] && continue
    if [ -n "$relaxed" ] && [ -f "$obj/$relaxed/$b" ]; then echo "$obj/$relaxed/$b"; else echo "$o"; fi
  done
}

# link NAME EXPORTS KIND RELAXED EXCLUDE [flags...]: one module from objects,
# when an object or the export list is newer than it.
link() {
  local name=$1 exports=$2 kind=$3 relaxed=$4 exclude=$5; shift 5
  local target="$out/$name.wasm"
  # shellcheck disable=SC2046
  if [ -f "$target" ] && [ -z "$(find $(objects "$kind" "$relaxed" "$exclude") wasm/exports.mjs wasm/build.sh -newer "$target" -print -quit)" ]; then
    echo "wasm: $name is up to date"
    return
  fi
  echo "wasm: linking $name"
  # shellcheck disable=SC2046
  em++ "${linkflags[@]}" "$@" -sEXPORTED_FUNCTIONS="$exports" $(objects "$kind" "$relaxed" "$exclude") -o "$out/$name.mjs" 2>&1 \
    | grep -v 'pthreads-mem-growth' || true
  test -f "$target"
  # What wasm-opt and emcc's JS optimizer did at -O3, without them: drop the
  # function names (a third of the module), and minify the glue (its local
  # names too: the module's imports and exports are quoted properties, and
  # the pthread worker reaches it only through its default export).
  "$llvm/llvm-objcopy" --remove-section=name "$target"
  if [ -x node_modules/.bin/esbuild ]; then
    node_modules/.bin/esbuild "$out/$name.mjs" --minify --log-level=warning --allow-overwrite --outfile="$out/$name.mjs"
  fi
}

# link_relaxed NAME BASE ...: as link, then drops the pthread worker script,
# which must equal BASE's but for the file names: one serves both modules.
# (The glue differs: it holds addresses of the module's data.)
link_relaxed() {
  local name=$1 base=$2; shift 2
  link "$name" "$@"
  [ -f "$out/$name.worker.js" ] || return 0
  if ! diff -q <(sed "s/$name/$base/g" "$out/$name.worker.js") "$out/$base.worker.js" >/dev/null; then
    echo "wasm: the worker script of $name differs from $base's" >&2
    exit 1
  fi
  rm "$out/$name.worker.js"
}

release_exports=$(node wasm/exports.mjs)
test_exports=$(node wasm/exports.mjs --ops)

all_sources=(cpp/*.cpp cpp/ops/*.cpp)
compile mt "${all_sources[@]}" -- -pthread
compile st "${all_sources[@]}" --
compile mt-relaxed "${relaxed_sources[@]}" -- -pthread -mrelaxed-simd
compile st-relaxed "${relaxed_sources[@]}" -- -mrelaxed-simd
# The pool holds the workers the engine's thread pool needs; the loader
# passes their number as Module.hobWorkers (threads beyond the caller's).
mtflags=(-pthread -sPTHREAD_POOL_SIZE="Module['hobWorkers']||1")
link hob-mt "$release_exports" mt '' ops_api.cpp.o "${mtflags[@]}"
link hob-st "$release_exports" st '' ops_api.cpp.o
link hob-ops "$test_exports" st '' ''
link_relaxed hob-mt-relaxed hob-mt "$release_exports" mt mt-relaxed ops_api.cpp.o "${mtflags[@]}"
link_relaxed hob-st-relaxed hob-st "$release_exports" st st-relaxed ops_api.cpp.o
link_relaxed hob-ops-relaxed hob-ops "$test_exports" st st-relaxed ''
# The pthread worker script is CommonJS; Node must not read it as an ES module.
echo '{"type":"commonjs"}' > "$out/package.json"
ls -l "$out"
