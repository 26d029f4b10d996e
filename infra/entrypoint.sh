#!/bin/sh
# Container entrypoint: the role is the command. `dso`, `gateway`, `meter`, `watch`, `trace`… run `gridveil <role>`
# under the bundled Node 24; `chain` runs Hardhat's development node (no `gridveil chain` command exists).
# A meter without an identity of its own (GRIDVEIL_METER_ID unset) first claims a provisioned slot.
set -eu
APP_DIR="${GRIDVEIL_APP_DIR:-/app}"
cd "$APP_DIR"

case "${1:-}" in
  chain)
    shift
    exec node "$APP_DIR/node_modules/hardhat/dist/src/cli.js" node --hostname "${CHAIN_HOST:-0.0.0.0}" --port "${CHAIN_PORT:-8545}" "$@"
    ;;
  meter)
    if [ -z "${GRIDVEIL_METER_ID:-}" ]; then
      exports="$(node --import tsx "$APP_DIR/infra/claimMeterSlot.ts")"
      eval "$exports"
      mkdir -p "$GRIDVEIL_DATA_DIR"
    fi
    ;;
esac
exec node "$APP_DIR/bin/gridveil.js" "$@"
