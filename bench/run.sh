#!/usr/bin/env bash
# Runs every DashAuth benchmark on loopback and prints the results table (BENCHMARKS.md).
#   ./bench/run.sh                  3 repeats of the login and throughput phases (medians)
#   DASHAUTH_BENCH_RUNS=1 ./bench/run.sh   one quick pass
# Honours CARGO_TARGET_DIR. Nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

# The library as a mod links it: no server feature. Copied aside at once, because the
# bench build below writes the same file names with the server feature on. `cargo rustc
# --crate-type` as in README: with the rlib in the same build rustc skips LTO.
cargo rustc --release --lib --crate-type cdylib,staticlib
mod_build="$target/bench-mod-build"
mkdir -p "$mod_build"
cp "$target/release/libdashauth.so" "$target/release/libdashauth.a" "$mod_build/"

# The PostgreSQL figures need a server: the machine's, started as CI starts it, unless
# DASHAUTH_TEST_DATABASE_URL names another. Each benchmark server gets a fresh database.
if [ -z "${DASHAUTH_TEST_DATABASE_URL:-}" ]; then
  DASHAUTH_TEST_DATABASE_URL=$(.ci/postgres.sh)
  export DASHAUTH_TEST_DATABASE_URL
fi

DASHAUTH_BENCH_LIB_DIR="$(cd "$mod_build" && pwd)" cargo bench --bench dashauth
