#!/usr/bin/env bash
# Bounded fuzzing of the parsers of outside input (fuzz/, issue 12): builds every
# libFuzzer target with a nightly toolchain, the sanitizer-coverage and ASan flags
# cargo-fuzz uses (without installing cargo-fuzz), and runs each for FUZZ_SECONDS
# (default 20) from its seeds in fuzz/seeds/. Without a nightly toolchain it says so
# loudly and skips: fuzzing needs -Zsanitizer, which stable Rust does not have.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-20}
started=$SECONDS

if ! cargo +nightly --version >/dev/null 2>&1; then
  cat >&2 <<'MSG'
########################################################################
#  FUZZING SKIPPED: no nightly toolchain (rustup toolchain install     #
#  nightly). The property tests in tests/properties.rs still ran.      #
########################################################################
MSG
  exit 0
fi

target=$(rustc -vV | sed -n 's/^host: //p')
# What cargo-fuzz passes: inline 8-bit counters, PC table and comparison tracing for
# libFuzzer's coverage, AddressSanitizer for memory errors in unsafe dependencies.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Zsanitizer=address \
--cfg fuzzing"
export CARGO_TARGET_DIR="$PWD/../target/fuzz"
cargo +nightly build --release --target "$target" --bins
bin="$CARGO_TARGET_DIR/$target/release"

for t in fuzz_targets/*.rs; do
  name=$(basename "$t" .rs)
  corpus="$CARGO_TARGET_DIR/corpus/$name"
  mkdir -p "$corpus"
  echo "==> fuzz $name for ${seconds} s"
  # -rss_limit_mb: a parser that allocates without bound is a finding too.
  "$bin/$name" -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$CARGO_TARGET_DIR/$name-" \
    "$corpus" "seeds/$name" 2>&1 | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|thread|panicked|Done)' || true
  if ls "$CARGO_TARGET_DIR/$name-"* >/dev/null 2>&1; then
    echo "fuzz target $name found a crash: $(ls "$CARGO_TARGET_DIR/$name-"*)" >&2
    exit 1
  fi
done
echo "fuzzing passed in $((SECONDS - started)) s"
