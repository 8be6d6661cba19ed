#!/usr/bin/env bash
# Installs the system tools Hob's build and tests need, and nothing more:
#   emcc (Debian's emscripten) builds the engine to WebAssembly;
#   chromium runs the browser tests (WebGPU on SwiftShader);
#   firefox-esr and WebKitGTK's WebDriver (with Xvfb, as its MiniBrowser
#   needs a display) run the cross-browser tests;
#   clang with its runtimes builds the libFuzzer target;
#   the Vulkan loader lets Node's WebGPU (Dawn) reach SwiftShader's driver.
# As root on Debian/Ubuntu it installs what is missing with apt; otherwise
# it stops and says exactly what to install.
set -euo pipefail

missing=()
command -v emcc >/dev/null 2>&1 || missing+=(emscripten)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || missing+=(firefox-esr)
command -v WebKitWebDriver >/dev/null 2>&1 || missing+=(webkit2gtk-driver)
command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
command -v clang++ >/dev/null 2>&1 || missing+=(clang)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
ldconfig -p 2>/dev/null | grep -q "libvulkan.so.1 " || missing+=(libvulkan1)
# libFuzzer and the sanitizer runtimes for clang live in this package.
if command -v clang++ >/dev/null 2>&1; then
  ver=$(clang++ --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
  if ! ls /usr/lib/llvm-"$ver"/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 &&
     ! ls /usr/lib/llvm-"$ver"/lib/clang/*/lib/x86_64-pc-linux-gnu/libclang_rt.fuzzer.a >/dev/null 2>&1; then
    missing+=("libclang-rt-$ver-dev")
  fi
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: emcc, chromium, firefox-esr, WebKitWebDriver, Xvfb, clang and g++ are present"
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: installing ${missing[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # clang's fuzzer runtime matches the clang just installed.
  if printf '%s\n' "${missing[@]}" | grep -qx clang; then
    ver=$(clang++ --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
    apt-get install -y -qq "libclang-rt-$ver-dev" >/dev/null 2>&1 || true
  fi
  echo "bootstrap: done"
else
  echo "bootstrap: missing ${missing[*]}." >&2
  echo "Install them (on Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run again." >&2
  exit 1
fi
