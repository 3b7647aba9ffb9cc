#!/usr/bin/env bash
# Installs what the tests and the demo need from outside npm, only where it is missing.
# As root it uses apt-get; otherwise it prints the one command to run and fails.
set -euo pipefail

# command -> Debian package. python3, make and g++ build better-sqlite3 (the demo's database) from source:
# no prebuilt binary can be downloaded where only the npm registry is reachable, so node-gyp compiles it
# during `pnpm install` (about 80 s on 2 cores).
declare -A needs=(
  [python3]=python3
  [make]=make
  [g++]=g++
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [redis-sentinel]=redis-sentinel
  [xz]=xz-utils
  [nginx]=nginx
  [openssl]=openssl
  [promtool]=prometheus
  [pg_ctlcluster]=postgresql
  [chromium]=chromium
)

missing=()
for cmd in "${!needs[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    missing+=("${needs[$cmd]}")
  fi
done

# PostgreSQL on 127.0.0.1:5432 with trust auth for loopback and a database `test` (what the integration tests
# and the demo's PostgreSQL mode use). Started and configured only where it is not already answering.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: PostgreSQL is not answering on 127.0.0.1:5432; start it (trust auth for 127.0.0.1, database test)" >&2
    return 1
  fi
  local ver
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$ver" ]; then
    echo "setup: no PostgreSQL cluster in /etc/postgresql" >&2
    return 1
  fi
  local hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if ! grep -Eq '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    # Loopback-only trust for the throwaway test server; prepended so that it wins over the defaults.
    { echo 'local all all trust'; echo 'host all all 127.0.0.1/32 trust'; cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || { echo "setup: PostgreSQL did not start" >&2; return 1; }
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
    psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE test' >/dev/null
  echo "setup: PostgreSQL $ver started on 127.0.0.1:5432"
}

# TIERKIT_SETUP_DRY_RUN=1: say what would be installed, change nothing (the repository's own test of this script).
if [ "${TIERKIT_SETUP_DRY_RUN:-}" = 1 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sed '/^$/d' | sort -u)
  echo "setup: would install: ${missing[*]:-nothing}"
  exit 0
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: system packages present (${!needs[*]})"
  ensure_postgres
  exit $?
fi

# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Installing never starts a service we depend on: tests start their own servers on free loopback ports.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
ensure_postgres
