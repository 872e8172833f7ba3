#!/usr/bin/env bash
# Stops the apiserver `make up` started. The data stays in DATA_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/.local}"
if [ -f "$data/apiserver.pid" ]; then
  kill "$(cat "$data/apiserver.pid")" 2>/dev/null || true
  rm -f "$data/apiserver.pid"
  echo "apiserver stopped"
fi
