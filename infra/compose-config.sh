#!/usr/bin/env bash
# Validates infra/compose.yaml with Compose itself (`docker compose config`), no engine needed. Uses the Compose v2
# plugin when the docker CLI has it, else Debian's `docker-compose` (v1.29, which Debian bookworm packages; installed
# here with apt-get when missing and we are root, as .ci/run does for nats-server). Exit 3 = no docker CLI at all;
# exit 4 = a docker CLI without any Compose that could be installed.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v docker >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  echo "compose-config: no docker CLI on this machine (install docker.io or the Docker CLI)" >&2
  exit 3
fi
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "compose-config: the docker CLI has no compose plugin; installing Debian's docker-compose" >&2
  (apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1; })
  compose=(docker-compose)
else
  echo "compose-config: neither \`docker compose\` nor \`docker-compose\` is available (apt-get install docker-compose)" >&2
  exit 4
fi

echo "compose-config: $("${compose[@]}" version 2>/dev/null | head -n 1)"
"${compose[@]}" -f compose.yaml config "$@"
