#!/usr/bin/env bash
# Node smoke test: install -> images -> registry -> containerd -> real CRI calls.
# crismoke (hack/node/mkimage/cmd/crismoke) pulls nginx:1.14.2 through CRI PullImage (from
# the local registry, as the docker.io mirror), runs a sandbox on a CNI bridge, starts
# nginx, GETs http://<podIP>/ (200 + our index.html), reads the CRI log, then removes it all.
# Needs root. What this script started (registry, containerd) it stops again, unless KEEP=1.
#
# CNI: if /etc/cni/net.d already holds a conflist (the kubelet's), it is used as is;
# otherwise a test one (bridge klsmoke0 + host-local 10.88.0.0/16 + portmap + firewall) is written
# for the run and removed afterwards, with its bridge.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/hack/node"
out="${KUBELAB_IMAGES_DIR:-$root/.local/images}"
sock=/run/kubelab/containerd/containerd.sock
[ "$(id -u)" = 0 ] || { echo "smoke: needs root (containerd, CNI)" >&2; exit 1; }

"$here/install.sh"
"$here/build-images.sh" "$out"

started=()
"$here/registry.sh" status >/dev/null 2>&1 || started+=(registry)
"$here/containerd.sh" status >/dev/null 2>&1 || started+=(containerd)
conf=/etc/cni/net.d/10-kubelab-smoke.conflist
wrote_conf=
cleanup() {
  "$out/bin/crismoke" -endpoint "unix://$sock" -cleanup >/dev/null 2>&1 || true
  if [ -n "$wrote_conf" ]; then
    rm -f "$conf"
    ip link del klsmoke0 2>/dev/null || true
    rm -rf /var/lib/cni/networks/kubelab-smoke
  fi
  if [ "${KEEP:-}" != 1 ]; then
    for s in "${started[@]}"; do "$here/$s.sh" stop; done
  fi
}
trap cleanup EXIT

"$here/registry.sh" start
"$here/registry.sh" push
"$here/containerd.sh" start

mkdir -p /etc/cni/net.d
if ! ls /etc/cni/net.d/*.conflist /etc/cni/net.d/*.conf >/dev/null 2>&1; then
  cat > "$conf" <<'JSON'
{
  "cniVersion": "1.0.0",
  "name": "kubelab-smoke",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "klsmoke0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.88.0.0/16" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" }
  ]
}
JSON
  wrote_conf=1
  echo "smoke: wrote $conf"
else
  echo "smoke: using the existing CNI config in /etc/cni/net.d: $(ls /etc/cni/net.d)"
fi

(cd "$here/mkimage" && GOWORK=off go build -o "$out/bin/" ./cmd/crismoke)
"$out/bin/crismoke" -endpoint "unix://$sock" -image nginx:1.14.2 -expect kubelab "$@"
