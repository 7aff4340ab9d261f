#!/usr/bin/env bash
# Fails when tests/c/harness.c does not call a function that include/dashauth.h
# declares: a new export must come with its boundary checks.
set -euo pipefail
cd "$(dirname "$0")/../.."
declared=$(grep -oE '\bdashauth_[a-z0-9_]+\(' include/dashauth.h | tr -d '(' | sort -u)
missing=()
for f in $declared; do
  grep -qE "\b$f\(" tests/c/harness.c || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/c/harness.c does not call: ${missing[*]}" >&2
  exit 1
fi
echo "harness calls all $(echo "$declared" | wc -l) functions of include/dashauth.h"
