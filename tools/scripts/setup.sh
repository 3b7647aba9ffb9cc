#!/usr/bin/env bash
# Installs what the tests and the demo need from outside npm, only where it is missing.
# As root it uses apt-get; otherwise it prints the one command to run and fails.
set -euo pipefail

# command -> Debian package
declare -A needs=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [xz]=xz-utils
  [nginx]=nginx
  [promtool]=prometheus
)

missing=()
for cmd in "${!needs[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    missing+=("${needs[$cmd]}")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: system packages present (${!needs[*]})"
  exit 0
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
