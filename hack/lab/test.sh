#!/usr/bin/env bash
# The lab layer of `make test`: bring the three-node docker-compose lab up (make lab checks
# the seed pods run on three nodes and answer HTTP across nodes), run the fault drills, and
# always tear it down. Skips, saying why, where Docker or root is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
  echo "lab: skipped: not root"; exit 0
fi
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1 || ! command -v docker-compose >/dev/null; then
  echo "lab: skipped: no working Docker Engine with docker-compose on this machine"; exit 0
fi
trap 'make --no-print-directory lab-down' EXIT
make --no-print-directory lab
make --no-print-directory lab-drills
