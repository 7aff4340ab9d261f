#!/usr/bin/env bash
# Soak (issue 12): logins, device sign-ins and token checks for DASHAUTH_SOAK_SECONDS
# (default 180) against one release dashauth-server; prints the server's RSS, open
# descriptors and latency every 10 s and a Markdown table (BENCHMARKS.md, "Soak").
# Honours CARGO_TARGET_DIR. Nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench soak
