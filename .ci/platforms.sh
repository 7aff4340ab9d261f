#!/usr/bin/env bash
# DashAuth platform CI: proves the library builds for the platforms Geometry Dash runs on,
# from a Debian 12 machine with no Windows SDK, Android NDK or Apple SDK.
#
#   Windows (GNU)   dashauth.dll, its import library and the static library with MinGW;
#                   the DLL exports exactly the header's functions; cpp-example built
#                   with MinGW against the DLL and against the static library runs under
#                   Wine against a Linux dashauth-server on loopback.
#   Windows (MSVC)  the static library with clang-cl, llvm-lib and lld-link; its objects
#                   ask for the dynamic runtime (/MD) like a Geode mod.
#   Android, Apple  cargo check and the static library for aarch64-linux-android,
#                   armv7-linux-androideabi, aarch64/x86_64-apple-darwin (one universal archive)
#                   and aarch64-apple-ios, with clang; a universal macOS archive.
#   CMake package   the repository's CMakeLists.txt builds the example on Linux and for
#                   MinGW, through add_subdirectory.
#   Sizes           of every artefact, printed as a table for BENCHMARKS.md.
#
# Installs what a fresh Debian 12 lacks (apt, rustup targets) and fails with a message
# when anything required is missing: nothing is skipped. Honours CARGO_TARGET_DIR.
set -Eeuo pipefail
if [[ -n "${CARGO_TARGET_DIR:-}" && "$CARGO_TARGET_DIR" != /* ]]; then
  export CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR"
fi
cd "$(dirname "$0")/.."
root=$PWD
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$target_dir/platforms
stubs=$root/.ci/stubs

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nplatforms: FAILED: %s\n' "$*" >&2; exit 1; }
started=$SECONDS
# set -e stops at the first failing command; say which, so a failure is never silent.
trap 'fail "line $LINENO: \"$BASH_COMMAND\" exited with status $?"' ERR

windows_gnu=x86_64-pc-windows-gnu
windows_msvc=x86_64-pc-windows-msvc
android=(aarch64-linux-android armv7-linux-androideabi)
apple=(aarch64-apple-darwin x86_64-apple-darwin aarch64-apple-ios)

step "platform tools"
# command -> Debian package. clang-cl is clang's MSVC-compatible driver (clang-tools-14);
# llvm-lib, lld-link, llvm-lipo, llvm-readobj are in llvm's own bin directory.
declare -A packages=(
  [x86_64-w64-mingw32-gcc]=mingw-w64 [x86_64-w64-mingw32-g++-posix]=g++-mingw-w64-x86-64-posix
  [wine]=wine [/usr/lib/wine/wine64]=wine64 [clang]=clang [clang-cl-14]=clang-tools-14
  [ld.lld]=lld [llvm-config]=llvm [cmake]=cmake [file]=file
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
    fail "apt-get install ${missing[*]} failed"
fi
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || fail "$cmd is still missing (Debian package ${packages[$cmd]})"
done
llvm_bin=$(llvm-config --bindir)
export PATH="$PATH:$llvm_bin"
for cmd in clang-cl llvm-lib lld-link llvm-lipo llvm-readobj llvm-ar truncate; do
  command -v "$cmd" >/dev/null || fail "$cmd not found in PATH or $llvm_bin"
done

targets=("$windows_gnu" "$windows_msvc" "${android[@]}" "${apple[@]}")
rustup target add "${targets[@]}" || fail "rustup target add ${targets[*]} failed"
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || fail "Rust target $t is not installed"
done
clang --version | head -1; x86_64-w64-mingw32-gcc --version | head -1; wine --version
mkdir -p "$work"

# ---------------------------------------------------------------------------- sizes
sizes=()
# The system libraries CMakeLists.txt (and README's prebuilt snippet) link for each
# platform, plus those the C/C++ driver always adds (c, gcc_s, System, msvcrt).
declare -A link_libs=(
  [linux]="c m rt pthread gcc_s util dl"
  [windows]="bcrypt advapi32 kernel32 ntdll userenv ws2_32 dbghelp msvcrt"
  [android]="c m dl log unwind"
  [apple]="System c m iconv"
)
# check_link_libs FAMILY LOG: every library rustc's --print native-static-libs names in
# LOG must be one the CMake package links, or a mod would fail to link.
check_link_libs() {
  local line lib
  line=$(grep -m1 'native-static-libs:' "$2") || fail "no native-static-libs line in $2"
  for lib in ${line#*native-static-libs:}; do
    lib=${lib#-l}; lib=${lib#/defaultlib:}; lib=${lib%.lib}
    [[ " ${link_libs[$1]} " == *" $lib "* ]] ||
      fail "rustc needs '$lib' for $1 but CMakeLists.txt does not link it"
  done
  echo "link libraries for $1: ${line#*native-static-libs: }"
}
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
# size LABEL FILE [NOTE]: records a file's size in MiB (and in bytes).
size() {
  [[ -f "$2" ]] || fail "$2 does not exist"
  sizes+=("$(printf '| %s | %s (%d bytes) | %s |' "$1" "$(mib "$2")" "$(stat -c %s "$2")" "${3:-}")")
}

# The mod build: `cargo rustc --crate-type cdylib,staticlib`, not `cargo build`. Cargo.toml
# also lists rlib (for the tests and the server), and rustc skips LTO for the whole crate
# when one of its outputs is an rlib: the DLL grows from 2.4 to 3.9 MiB that way.
mod_build() {
  cargo rustc --release --lib "$@" --crate-type cdylib,staticlib -- --print native-static-libs
}

step "Linux: the mod build of the library (release, LTO, no server feature) and dashauth-server"
cargo build --release --features server --bin dashauth-server
mod_build 2>&1 | tee "$work/linux-rustc.log"
check_link_libs linux "$work/linux-rustc.log"
linux_so=$target_dir/release/libdashauth.so
strip -o "$work/libdashauth.so" "$linux_so"
size "Linux x86_64 \`libdashauth.so\`, stripped" "$work/libdashauth.so" "unstripped $(mib "$linux_so")"
size "Linux x86_64 \`libdashauth.a\`" "$target_dir/release/libdashauth.a"
server=$target_dir/release/dashauth-server

# ---------------------------------------------------------------- Windows, GNU ABI
step "Windows ($windows_gnu): dashauth.dll, libdashauth.dll.a, libdashauth.a with MinGW"
mod_build --target "$windows_gnu" 2>&1 | tee "$work/$windows_gnu-rustc.log"
check_link_libs windows "$work/$windows_gnu-rustc.log"
win_dir=$target_dir/$windows_gnu/release
for f in dashauth.dll libdashauth.dll.a libdashauth.a; do
  [[ -f "$win_dir/$f" ]] || fail "cargo did not produce $win_dir/$f"
done
x86_64-w64-mingw32-strip -o "$work/dashauth.dll" "$win_dir/dashauth.dll"
size "Windows x86_64 \`dashauth.dll\` (MinGW), stripped" "$work/dashauth.dll" \
  "unstripped $(mib "$win_dir/dashauth.dll")"
# The budget a mod's download can afford (BENCHMARKS.md): fail rather than drift past it.
(($(stat -c %s "$work/dashauth.dll") <= 4 * 1048576)) || fail "stripped dashauth.dll is over 4 MiB"
size "Windows x86_64 \`libdashauth.a\` (MinGW)" "$win_dir/libdashauth.a"

step "the DLL exports exactly the functions of include/dashauth.h"
# Every declaration in the header is `DASHAUTH_API <type> name(`, over one or two lines.
grep -A1 '^DASHAUTH_API' include/dashauth.h | grep -o '\bdashauth_[a-z0-9_]*(' | tr -d '(' |
  sort -u >"$work/header-functions.txt"
# objdump lists the export name table as "[ n] name" after "[Ordinal/Name Pointer] Table".
x86_64-w64-mingw32-objdump -p "$win_dir/dashauth.dll" |
  sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' | tail -n +2 | grep -o '\] .*' | cut -c3- |
  sort -u >"$work/dll-exports.txt"
[[ -s "$work/header-functions.txt" ]] || fail "found no functions in include/dashauth.h"
if ! diff -u "$work/header-functions.txt" "$work/dll-exports.txt"; then
  fail "dashauth.dll's exports (+) differ from include/dashauth.h's functions (-)"
fi
echo "$(wc -l <"$work/dll-exports.txt") exports, the same as the header's functions"
# A mod ships one file: the DLL may import only what every Windows 10 has.
x86_64-w64-mingw32-objdump -p "$win_dir/dashauth.dll" | grep 'DLL Name' | sort -u |
  tee "$work/dll-imports.txt"
if grep -Eiq 'lib(gcc|stdc|winpthread)' "$work/dll-imports.txt"; then
  fail "dashauth.dll depends on a MinGW runtime DLL"
fi

step "cpp-example with MinGW, against the DLL and against the static library"
mingw_cmake=(-DCMAKE_SYSTEM_NAME=Windows -DCMAKE_SYSTEM_PROCESSOR=AMD64
  -DCMAKE_C_COMPILER=x86_64-w64-mingw32-gcc-posix -DCMAKE_CXX_COMPILER=x86_64-w64-mingw32-g++-posix
  -DCMAKE_RC_COMPILER=x86_64-w64-mingw32-windres
  -DCMAKE_FIND_ROOT_PATH=/usr/x86_64-w64-mingw32 -DCMAKE_BUILD_TYPE=Release
  # The C++ runtime inside the exe, so only dashauth.dll has to sit beside it.
  -DCMAKE_EXE_LINKER_FLAGS=-static)
for kind in shared static; do
  link_static=OFF; [[ $kind == static ]] && link_static=ON
  cmake --no-warn-unused-cli -S cpp-example -B "$work/mingw-$kind" "${mingw_cmake[@]}" \
    -DDASHAUTH_LIB_DIR="$win_dir" -DDASHAUTH_LINK_STATIC=$link_static >/dev/null
  cmake --build "$work/mingw-$kind" -j 2
  exe=$work/mingw-$kind/dashauth-example.exe
  [[ -f "$exe" ]] || fail "MinGW build produced no $exe"
  file "$exe"
done
[[ -f "$work/mingw-shared/dashauth.dll" ]] || fail "the DLL was not copied next to the example"

step "test-only bcryptprimitives.dll for Wine (tests/wine/bcryptprimitives.c)"
# Rust's std calls ProcessPrng from bcryptprimitives.dll (Windows 10 and later have it);
# Debian 12's Wine 8 does not. The shim sits next to the test executables only.
for kind in shared static; do
  x86_64-w64-mingw32-gcc -O2 -shared -o "$work/mingw-$kind/bcryptprimitives.dll" \
    tests/wine/bcryptprimitives.c -lbcrypt
done

# ------------------------------------------------------ run the Windows example in Wine
server_pid=
server_out=$work/server.out
server_log=$work/server.log
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
on_exit() {
  local status=$?
  stop_server
  if ((status != 0)) && [[ -s "$server_log" ]]; then
    printf '\n--- dashauth-server log (last 40 lines) ---\n' >&2
    tail -40 "$server_log" >&2
  fi
}
trap on_exit EXIT
# Starts the Linux server on a free loopback port and sets server_url from the
# "listening on http://ADDR" line it prints on stdout.
start_server() {
  # Empty the output first: the child's `>` truncates it only once it runs, and until
  # then the loop below would read the previous server's address.
  : >"$server_out"
  # A fresh store each time, inside the target directory, never in the repository.
  "$server" --listen 127.0.0.1:0 --data-dir "$(mktemp -d "$work/server-data.XXXXXX")" \
    >"$server_out" 2>"$server_log" &
  server_pid=$!
  server_url=
  for _ in $(seq 1 300); do # up to 30 s
    if line=$(grep -m1 -x 'listening on http://[^[:space:]]*' "$server_out"); then
      server_url=${line#listening on }
      return
    fi
    kill -0 "$server_pid" 2>/dev/null || fail "dashauth-server exited before it was ready"
    sleep 0.1
  done
  fail "dashauth-server did not print 'listening on' within 30 s"
}

step "Wine: start a Linux dashauth-server on loopback, run both Windows builds against it"
start_server
echo "server: $server_url"

export WINEPREFIX=$work/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# A fresh prefix, created once; no display is needed for a console program.
if [[ ! -d "$WINEPREFIX" ]]; then
  wineboot --init >/dev/null 2>&1 || fail "wineboot could not create $WINEPREFIX"
fi
for kind in shared static; do
  echo "--- $kind: wine dashauth-example.exe"
  # The GD account of each run differs, so the two runs are independent logins.
  account=$((2000 + RANDOM % 1000))
  if ! (cd "$work/mingw-$kind" && timeout 300 wine dashauth-example.exe \
        "$server_url" "$server_url/database" "$account") | tee "$work/wine-$kind.out"; then
    fail "the $kind MinGW example failed under Wine"
  fi
  grep -q '^All [0-9]* steps succeeded\.' "$work/wine-$kind.out" ||
    fail "the $kind MinGW example did not print 'All N steps succeeded.'"
done
stop_server
wineserver -k 2>/dev/null || true

# --------------------------------------------------------------- Windows, MSVC ABI
step "Windows ($windows_msvc): dashauth.lib with clang-cl, llvm-lib, lld-link"
# Without the Windows SDK, ring's C compiles in its no-libc-headers mode; its one SDK
# header, <stdlib.h> for _byteswap_ulong (a clang-cl builtin), is an empty stand-in.
# Only the static library: the cdylib needs the SDK's import libraries (kernel32.lib...).
export CC_x86_64_pc_windows_msvc=clang-cl AR_x86_64_pc_windows_msvc=llvm-lib
export CFLAGS_x86_64_pc_windows_msvc="/clang:-nostdlibinc -DRING_CORE_NOSTDLIBINC=1 /I$stubs/msvc"
export CARGO_TARGET_X86_64_PC_WINDOWS_MSVC_LINKER=lld-link
cargo rustc --release --lib --target "$windows_msvc" --crate-type staticlib \
  -- --print native-static-libs 2>&1 | tee "$work/msvc-rustc.log"
check_link_libs windows "$work/msvc-rustc.log"
msvc_lib=$target_dir/$windows_msvc/release/dashauth.lib
[[ -f "$msvc_lib" ]] || fail "cargo did not produce $msvc_lib"
# Each object names the runtime it needs: /DEFAULTLIB:msvcrt is /MD (the DLL runtime a
# Geode mod uses); libcmt would be /MT and clash with the game's.
llvm-readobj --coff-directives "$msvc_lib" 2>/dev/null | grep -io '/DEFAULTLIB:"\?[a-z0-9_.]*' |
  tr -d '"' | tr 'A-Z' 'a-z' | sort | uniq -c | tee "$work/msvc-directives.txt"
grep -q '/defaultlib:msvcrt' "$work/msvc-directives.txt" || fail "dashauth.lib does not ask for msvcrt (/MD)"
if grep -Eq '/defaultlib:(libcmt|libcmtd|msvcrtd)' "$work/msvc-directives.txt"; then
  fail "dashauth.lib asks for a runtime other than /MD"
fi
size "Windows x86_64 \`dashauth.lib\` (MSVC ABI, clang-cl)" "$msvc_lib"

# ------------------------------------------------------------------ Android, Apple
# No NDK and no Apple SDK here: ring's C builds with clang alone in its
# -nostdlibinc -DRING_CORE_NOSTDLIBINC=1 mode. Apple's one SDK header, TargetConditionals.h,
# is a stand-in found through SDKROOT (which also stops cc from running xcrun).
export SDKROOT=$stubs/apple
for t in "${android[@]}" "${apple[@]}"; do
  id=${t//-/_}
  flags="-nostdlibinc -DRING_CORE_NOSTDLIBINC=1"
  case $t in
    armv7-*) flags+=" -march=armv7-a" ;;
    *-apple-*) flags+=" -I$stubs/apple" ;;
  esac
  export "CC_$id=clang" "AR_$id=llvm-ar" "CFLAGS_$id=$flags"
done

for t in "${android[@]}" "${apple[@]}"; do
  step "$t: cargo check and the static library"
  cargo check --lib --target "$t"
  cargo rustc --release --lib --target "$t" --crate-type staticlib \
    -- --print native-static-libs 2>&1 | tee "$work/$t-rustc.log"
  lib=$target_dir/$t/release/libdashauth.a
  [[ -f "$lib" ]] || fail "cargo did not produce $lib"
  case $t in *-apple-*) family=apple ;; *) family=android ;; esac
  check_link_libs $family "$work/$t-rustc.log"
done
for t in "${android[@]}"; do
  size "Android $t \`libdashauth.a\`" "$target_dir/$t/release/libdashauth.a"
done

step "macOS universal libdashauth.a (what Geode builds by default: arm64 and x86_64)"
# On a Mac this is `lipo -create`. Debian's llvm-lipo 14 cannot: it parses the LLVM
# bitcode that Rust's prebuilt compiler_builtins objects embed, and that bitcode is
# newer than LLVM 14. So CI writes the universal header itself (the format is two
# big-endian tables) and proves with llvm-lipo -thin that each slice comes back intact.
be32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((($1 >> 24) & 255)) $((($1 >> 16) & 255)) $((($1 >> 8) & 255)) $(($1 & 255)))"; }
macos_universal() { # OUT X86_64_ARCHIVE ARM64_ARCHIVE
  local align=16384 x86_size arm_size x86_off arm_off
  x86_size=$(stat -c %s "$2") arm_size=$(stat -c %s "$3")
  x86_off=$align arm_off=$(((align + x86_size + align - 1) / align * align))
  {
    be32 0xCAFEBABE; be32 2 # FAT_MAGIC, two slices: cputype, subtype, offset, size, log2 align
    be32 0x01000007; be32 3; be32 $x86_off; be32 "$x86_size"; be32 14 # x86_64, ALL
    be32 0x0100000C; be32 0; be32 $arm_off; be32 "$arm_size"; be32 14 # arm64, ALL
  } >"$1"
  truncate -s $x86_off "$1" && cat "$2" >>"$1"
  truncate -s $arm_off "$1" && cat "$3" >>"$1"
}
macos_universal "$work/libdashauth-macos.a" "$target_dir/x86_64-apple-darwin/release/libdashauth.a" \
  "$target_dir/aarch64-apple-darwin/release/libdashauth.a"
file "$work/libdashauth-macos.a"
for arch in x86_64:x86_64-apple-darwin arm64:aarch64-apple-darwin; do
  llvm-lipo -thin "${arch%%:*}" "$work/libdashauth-macos.a" -output "$work/thin.a"
  cmp "$work/thin.a" "$target_dir/${arch#*:}/release/libdashauth.a" ||
    fail "the universal archive's ${arch%%:*} slice differs from the ${arch#*:} build"
done
echo "universal archive: x86_64 and arm64 slices verified with llvm-lipo -thin"
for t in "${apple[@]}"; do
  size "Apple $t \`libdashauth.a\`" "$target_dir/$t/release/libdashauth.a"
done
size "macOS universal \`libdashauth.a\` (both slices)" "$work/libdashauth-macos.a"

# ------------------------------------------------------------------ CMake package
step "CMake package: add_subdirectory(<repo>) + dashauth::dashauth, Linux and MinGW"
cmake -S tests/cmake-package -B "$work/package-linux" -DCMAKE_BUILD_TYPE=Release \
  -DDASHAUTH_CARGO_TARGET_DIR="$target_dir" >/dev/null
cmake --build "$work/package-linux" -j 2
cmake --no-warn-unused-cli -S tests/cmake-package -B "$work/package-mingw" "${mingw_cmake[@]}" \
  -DDASHAUTH_CARGO_TARGET_DIR="$target_dir" >/dev/null
cmake --build "$work/package-mingw" -j 2
[[ -f "$work/package-mingw/dashauth-example.exe" ]] || fail "the package's MinGW build made no exe"

step "CMake package with clang-cl targeting MSVC (the library target: an exe needs the SDK)"
# The package must pick x86_64-pc-windows-msvc for clang-cl and hand cargo CMake's
# compiler and flags (here the same SDK-less ones as above; a real toolchain passes the
# SDK's include paths the same way).
cmake --no-warn-unused-cli -S . -B "$work/package-msvc" -DCMAKE_SYSTEM_NAME=Windows \
  -DCMAKE_SYSTEM_PROCESSOR=AMD64 -DCMAKE_C_COMPILER=clang-cl -DCMAKE_AR="$(command -v llvm-lib)" \
  -DCMAKE_LINKER=lld-link -DCMAKE_MT=llvm-mt -DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY \
  -DCMAKE_C_FLAGS="$CFLAGS_x86_64_pc_windows_msvc" -DDASHAUTH_CARGO_TARGET_DIR="$target_dir" >/dev/null
cmake --build "$work/package-msvc" --target dashauth_cargo
msvc_rule=$work/package-msvc/CMakeFiles/dashauth_cargo.dir/build.make
grep -q -- "--target x86_64-pc-windows-msvc" "$msvc_rule" ||
  fail "the package did not choose x86_64-pc-windows-msvc for clang-cl"
grep -q "CC_x86_64_pc_windows_msvc=.*clang-cl" "$msvc_rule" ||
  fail "the package did not hand cargo CMake's clang-cl"

step "the package's example runs against the server"
start_server
"$work/package-linux/dashauth-example" "$server_url" "$server_url/database" | tee "$work/package.out"
grep -q '^All [0-9]* steps succeeded\.' "$work/package.out" || fail "the package-built example failed"
stop_server

step "artefact sizes (for BENCHMARKS.md)"
printf '| artefact | size | note |\n|---|---|---|\n'
printf '%s\n' "${sizes[@]}"
printf '\nplatforms passed in %d s\n' $((SECONDS - started))
