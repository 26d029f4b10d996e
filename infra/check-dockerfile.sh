#!/usr/bin/env bash
# Checks infra/Dockerfile without a Docker engine: every RUN line on a clean checkout, COPYs between stages, then the
# final image's entrypoint (see infra/checkDockerfile.ts). Flags: --reuse-node-modules (faster), --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx tsx infra/checkDockerfile.ts "$@"
