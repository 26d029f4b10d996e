#!/usr/bin/env bash
# Installs dependencies when node_modules is missing or older than package.json (so every npm command
# a newcomer types does its own set-up). Prints only to stderr, so `--json` output stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
marker=node_modules/.package-lock.json
if [ ! -f "$marker" ] || [ package.json -nt "$marker" ] || [ ! -x node_modules/.bin/node ]; then
  echo "gridveil: installing dependencies (npm install)…" >&2
  npm install --no-audit --no-fund --loglevel=error 1>&2
fi
