#!/usr/bin/env bash
# The container market on podman, one command: `bash infra/containers.sh images|up|check|down [options]`
# (infra/containers/main.ts; docs/deploy.md, "Run it with podman"). Needs root, podman, runc and debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v podman >/dev/null 2>&1; then
  echo "containers: podman is not installed; on Debian or Ubuntu: apt-get install -y podman runc debootstrap" >&2
  exit 1
fi
# Node 24 (node:sqlite) comes from the `node` devDependency, which npx puts first on the PATH; the check decodes the
# market contract's logs with its compiled ABI (offline, as `npm run gridveil` does it).
bash scripts/ensure-install.sh
npm run -s build:contracts
exec npx tsx infra/containers/main.ts "$@"
