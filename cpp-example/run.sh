#!/usr/bin/env bash
# The DashAuth demo in one command: builds the library and the reference server, builds
# the C++ example against the library, starts the server with its embedded GD emulator
# on a free loopback port, runs the example against it, and stops the server.
#
# Needs Rust (cargo) and a C++17 compiler; uses CMake when it is installed, else the
# compiler directly ($CXX, default c++). Honours CARGO_TARGET_DIR. Runs from any
# directory. Exits non-zero if any step fails.
set -euo pipefail

# A relative CARGO_TARGET_DIR means the caller's directory, which we are about to leave.
if [[ -n "${CARGO_TARGET_DIR:-}" && "$CARGO_TARGET_DIR" != /* ]]; then
  export CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
lib_dir=$target_dir/release
build_dir=$PWD/cpp-example/build

say() { printf '\n==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

server_pid=
# The server prints "listening on http://ADDR" alone on stdout; its log goes to stderr.
server_out=$(mktemp "${TMPDIR:-/tmp}/dashauth-server-out.XXXXXX")
server_log=$(mktemp "${TMPDIR:-/tmp}/dashauth-server-log.XXXXXX")
# The demo's server state (SQLite) lives for this run only.
server_data=$(mktemp -d "${TMPDIR:-/tmp}/dashauth-server-data.XXXXXX")
# On every exit: stop the server we started; on failure, show its log.
cleanup() {
  local status=$?
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if ((status != 0)); then
    if [[ -s "$server_log" ]]; then
      printf '\n--- dashauth-server output ---\n' >&2
      cat "$server_log" >&2
    fi
    printf '\nDemo FAILED (exit status %d).\n' "$status" >&2
  fi
  rm -f "$server_out" "$server_log"
  rm -rf "$server_data"
}
trap cleanup EXIT

command -v cargo >/dev/null || fail "cargo not found: install Rust from https://rustup.rs"

say "1/4 Building libdashauth and dashauth-server (cargo build --release --features server)"
cargo build --release --features server

say "2/4 Building the C++ example against $lib_dir"
if command -v cmake >/dev/null; then
  echo "with CMake (imported target dashauth::dashauth, see cpp-example/CMakeLists.txt)"
  # Configure quietly; its full output only matters when it fails.
  if ! configure_log=$(cmake -S cpp-example -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DDASHAUTH_LIB_DIR="$lib_dir" 2>&1); then
    printf '%s\n' "$configure_log" >&2
    fail "cmake could not configure cpp-example"
  fi
  cmake --build "$build_dir" --config Release
else
  cxx=${CXX:-c++}
  command -v "$cxx" >/dev/null || fail "no C++ compiler ($cxx) and no cmake: install one"
  echo "with $cxx (no cmake found)"
  mkdir -p "$build_dir"
  set -x
  "$cxx" -std=c++17 -O2 -Wall -Wextra -Wpedantic -Iinclude cpp-example/main.cpp \
    -L"$lib_dir" -ldashauth -Wl,-rpath,"$lib_dir" -o "$build_dir/dashauth-example"
  { set +x; } 2>/dev/null
fi
example=
for candidate in dashauth-example dashauth-example.exe Release/dashauth-example.exe; do
  if [[ -x "$build_dir/$candidate" ]]; then example=$build_dir/$candidate; break; fi
done
[[ -n "$example" ]] || fail "the build produced no dashauth-example in $build_dir"

say "3/4 Starting dashauth-server with its GD emulator on a free loopback port"
# Real GD answers in a few hundred milliseconds; the emulator imitates that here so the
# walkthrough shows each login stage instead of finishing within one poll.
"$lib_dir/dashauth-server" --listen 127.0.0.1:0 --data-dir "$server_data" --gd-latency-ms 200 >"$server_out" 2>"$server_log" &
server_pid=$!
server_url=
for _ in $(seq 1 300); do # up to 30 s
  if line=$(grep -m1 -x 'listening on http://[^[:space:]]*' "$server_out"); then
    server_url=${line#listening on }
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || fail "dashauth-server exited before it was ready"
  sleep 0.1
done
[[ -n "$server_url" ]] || fail "dashauth-server did not print 'listening on' within 30 s"
echo "server: $server_url (pid $server_pid)"
echo "GD emulator: $server_url/database (200 ms of latency per GD request, like the real servers)"

say "4/4 Running the example, as a mod would: $example"
"$example" "$server_url" "$server_url/database"

say "Demo finished: the C++ example signed in through GD once, then with its stored device."
