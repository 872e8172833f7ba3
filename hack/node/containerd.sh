#!/usr/bin/env bash
# kubelab's own containerd (CRI), separate from any system/Docker containerd.
#
#   hack/node/containerd.sh start    install config + certs.d under /etc/kubelab/containerd,
#                                    start containerd, wait until the CRI socket answers
#   hack/node/containerd.sh stop     stop it (SIGTERM; running shims and containers stay up,
#                                    as with any containerd: remove pods through CRI first)
#   hack/node/containerd.sh status
#
# Config: deploy/node/containerd-config.toml (root /var/lib/kubelab/containerd,
# state /run/kubelab/containerd, socket /run/kubelab/containerd/containerd.sock).
# Env: REGISTRY_MIRROR (http://127.0.0.1:5000) replaces the mirror in certs.d/*/hosts.toml;
#      KUBELAB_LOG_DIR (/var/log/kubelab); KUBELAB_RUN_DIR (/run/kubelab).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
etc=/etc/kubelab/containerd
run="${KUBELAB_RUN_DIR:-/run/kubelab}"
logs="${KUBELAB_LOG_DIR:-/var/log/kubelab}"
sock=/run/kubelab/containerd/containerd.sock
pidf="$run/containerd.pid"
mirror="${REGISTRY_MIRROR:-http://127.0.0.1:5000}"

running() { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }
# ctr talks containerd's own API on the same socket; it answers once the daemon serves.
answers() { [ -S "$sock" ] && ctr --address "$sock" version >/dev/null 2>&1; }

install_config() {
  mkdir -p "$etc" /etc/cni/net.d /var/lib/kubelab/containerd /run/kubelab/containerd /var/log/pods "$logs" "$run"
  install -m 0644 "$root/deploy/node/containerd-config.toml" "$etc/config.toml"
  for d in "$root"/deploy/node/certs.d/*/; do
    h=$(basename "$d"); mkdir -p "$etc/certs.d/$h"
    sed "s|http://127.0.0.1:5000|$mirror|g" "$d/hosts.toml" > "$etc/certs.d/$h/hosts.toml"
  done
}

start() {
  if running && answers; then echo "containerd: running (pid $(cat "$pidf")) on $sock"; return 0; fi
  command -v containerd >/dev/null || { echo "containerd: missing; run hack/node/install.sh" >&2; exit 1; }
  install_config
  rm -f "$sock"
  # containerd and runc need iptables (portmap) and mount tooling in PATH.
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    setsid containerd --config "$etc/config.toml" >>"$logs/containerd.log" 2>&1 < /dev/null &
  echo $! > "$pidf"
  for _ in $(seq 150); do
    if answers; then
      echo "containerd: started (pid $(cat "$pidf")), CRI at unix://$sock, log $logs/containerd.log"
      return 0
    fi
    running || break
    sleep 0.1
  done
  echo "containerd: did not come up; last log lines:" >&2; tail -30 "$logs/containerd.log" >&2; exit 1
}

stop() {
  if running; then
    kill "$(cat "$pidf")"
    for _ in $(seq 100); do running || break; sleep 0.1; done
    running && { echo "containerd: still running after 10s" >&2; exit 1; }
    echo "containerd: stopped"
  else
    echo "containerd: not running (no live pid in $pidf)"
  fi
  rm -f "$pidf"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && answers; then echo "containerd: running (pid $(cat "$pidf")) on $sock"; ctr --address "$sock" version; else echo "containerd: down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
