#!/usr/bin/env bash
# What `make test`'s node-level layers need (containerd, CNI plugins, the offline nginx and
# pause images): installed and built when this machine can (root, Debian/Ubuntu); otherwise
# those layers skip themselves and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: not root: the kubelet, journey and lab layers will skip (containerd needs root)"
  exit 0
fi
hack/install-deps.sh
hack/node/build-images.sh
