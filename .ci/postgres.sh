#!/usr/bin/env bash
# Starts the machine's PostgreSQL for the tests and prints the URL they use.
# Installs PostgreSQL from Debian when it is missing, starts the first cluster with
# pg_ctlcluster, and creates a role that may create (and drop) the tests' databases.
# Fails loudly: CI must not pass by skipping the PostgreSQL tests.
set -euo pipefail

role=dashauth_ci
password=dashauth_ci

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "installing postgresql" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi

cluster=$(pg_lsclusters --no-header | awk 'NR == 1 {print $1 "/" $2}')
if [ -z "$cluster" ]; then
  echo "no PostgreSQL cluster exists (pg_lsclusters is empty)" >&2
  exit 1
fi
version=${cluster%/*}
name=${cluster#*/}
port=$(pg_lsclusters --no-header | awk 'NR == 1 {print $3}')
if ! pg_lsclusters --no-header | awk 'NR == 1 {print $4}' | grep -q online; then
  pg_ctlcluster "$version" "$name" start >&2
fi

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else sudo -u postgres sh -c "$*"; fi
}
for _ in $(seq 1 30); do
  as_postgres "psql -p $port -qAtc 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 1
done
as_postgres "psql -p $port -qAtc 'SELECT 1'" >/dev/null
exists=$(as_postgres "psql -p $port -qAtc \"SELECT 1 FROM pg_roles WHERE rolname = '$role'\"")
if [ "$exists" != 1 ]; then
  as_postgres "psql -p $port -qc \"CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password'\"" >&2
fi
echo "postgres://$role:$password@127.0.0.1:$port/postgres"
