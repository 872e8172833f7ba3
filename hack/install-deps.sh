#!/usr/bin/env bash
# Installs (when missing) everything kubelab needs on Debian 12 or Ubuntu 22.04/24.04; idempotent.
#
#   hack/install-deps.sh          node runtime + build/test tools
#   hack/install-deps.sh --node   node runtime only (what `make up` needs besides Go)
#
# Node runtime (hack/node/install.sh): containerd, runc, CNI plugins, iptables, iproute2,
# skopeo, docker-registry, nginx (for the offline image), curl, util-linux; plus openssl
# (hack/pki.sh) and etcd-server. Build/test tools (hack/tools.sh): protoc, etcd, and the
# pinned protoc-gen-go/protoc-gen-go-grpc. Go itself is not installed here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo

apt_missing=()
command -v openssl >/dev/null || apt_missing+=(openssl)
command -v etcd >/dev/null || apt_missing+=(etcd-server)
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${apt_missing[*]}"
  $sudo_cmd apt-get update -qq
  # etcd-server's package would start an etcd on :2379; deny service starts meanwhile.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
    $sudo_cmd chmod +x /usr/sbin/policy-rc.d; made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  [ -n "$made_policy" ] && $sudo_cmd rm -f /usr/sbin/policy-rc.d
fi

$sudo_cmd "$root/hack/node/install.sh"
if [ "${1:-}" != --node ]; then
  command -v go >/dev/null || { echo "install-deps: go is missing (https://go.dev/dl); the build needs it" >&2; exit 1; }
  "$root/hack/tools.sh"
fi
echo "install-deps: done"
