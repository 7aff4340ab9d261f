#!/usr/bin/env bash
# The C boundary under valgrind and under AddressSanitizer + UBSan (issue 12): builds
# tests/c/harness.c against the library, checks that it calls every function of
# include/dashauth.h, and runs it against a real dashauth-server on loopback, once under
# valgrind (memory errors and definite leaks fail) and once built with
# -fsanitize=address,undefined. Then the bounded fuzzing of fuzz/ (.ci/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
out=target/ci-sanitizers
mkdir -p "$out"

if ! command -v valgrind >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq valgrind >/dev/null
fi

tests/c/check_coverage.sh
cargo build --features server --bin dashauth-server
# Last, so target/debug/libdashauth.so is the library as mods link it (no server).
cargo build --lib

server_pid=""
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi; }
trap stop_server EXIT
# A fresh data directory: the harness registers devices for fixed accounts.
rm -rf "$out/server-data"
coproc SERVER { exec target/debug/dashauth-server --listen 127.0.0.1:0 --poll-interval-ms 50 \
  --data-dir "$out/server-data" 2>"$out/server.log"; }
server_pid=$SERVER_PID
read -r first_line <&"${SERVER[0]}"
base=${first_line#listening on }
echo "server: $base"

cflags=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -Iinclude)
link=(-Ltarget/debug -ldashauth -Wl,-rpath,"$PWD/target/debug" -lpthread -ldl -lm)

echo "==> harness under valgrind"
cc "${cflags[@]}" -O1 tests/c/harness.c -o "$out/harness" "${link[@]}"
# Definite leaks and every memory error fail; "still reachable" is the Rust runtime's
# process-lifetime statics.
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-possibly-lost=no \
  --track-origins=yes "$out/harness" "$base"

echo "==> harness built with -fsanitize=address,undefined"
cc "${cflags[@]}" -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
  -fno-sanitize-recover=all tests/c/harness.c -o "$out/harness-asan" "${link[@]}"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  "$out/harness-asan" "$base"

stop_server
server_pid=""
echo "sanitizer jobs passed in $((SECONDS - started)) s"

.ci/fuzz.sh
