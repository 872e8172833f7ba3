#!/usr/bin/env bash
# Stops the local cluster hack/local-up.sh started (make down), in this order: the kubelet,
# the node proxy and its rules, every pod it ran (sandboxes and containers, through CRI, so CNI tears their network down),
# the scheduler, the controller-manager, the apiserver, containerd and the local registry;
# then removes the CNI bridge, its conflist and IPAM state. Data in $KUBELAB_DIR stays
# (make clean removes it). Same knobs as hack/local-up.sh; KUBELAB_KEEP_REGISTRY=1 leaves
# the registry up (KUBELAB_CONTAINERD=private always does: it is shared).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/hack/local-env.sh"
[ "$(id -u)" = 0 ] || { echo "local-down: needs root; try: sudo make down" >&2; exit 1; }

stop_proc kubelet
if [ "$node_proxy" = 1 ]; then
  stop_proc proxy
  # Its rules would keep steering Service addresses to pods that are about to go.
  if [ -x "$bin/proxy" ]; then "$bin/proxy" --cleanup && echo "proxy: rules removed"; fi
fi

cri_answers() { [ -S "$sock" ] && ctr --address "$sock" version >/dev/null 2>&1; }
# containerd killed while pods run (their shims outlive it): start it again to remove them.
if ! cri_answers && [ -n "$(ls -A "$(dirname "$sock")/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null)" ]; then
  echo "containerd is down but pods still run: starting it to remove them"
  if [ "$containerd_mode" = shared ]; then "$root/hack/node/containerd.sh" start; else private_containerd_start; fi
fi
if cri_answers; then
  if [ ! -x "$bin/kubelab-cri" ] && command -v go >/dev/null; then
    (cd "$root" && go build -o "$bin/" ./test/cmd/kubelab-cri)
  fi
  "$bin/kubelab-cri" -endpoint "unix://$sock" -log-root "$pod_logs" rm
fi

# The kubelet's tmpfs volumes (service account tokens, secrets) outlive it, and the pods they
# served are gone: unmount them, deepest first, so the data directory can be removed.
if [ -d "$dir/kubelet" ]; then
  awk -v r="$dir/kubelet/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m" && echo "volumes: unmounted $m"
  done
fi

# Each takes ~2 s to shut down (leases released, connections drained): two at a time.
stop_proc scheduler & stop_proc controller-manager & wait
stop_proc apiserver

if [ "$containerd_mode" = shared ]; then
  "$root/hack/node/containerd.sh" stop &
  [ "${KUBELAB_KEEP_REGISTRY:-}" = 1 ] || "$root/hack/node/registry.sh" stop &
  wait
else
  private_containerd_stop
fi

# Pod network: the bridge, the kubelet's conflist (only if it is this cluster's), host-local leases.
if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge" && echo "network: removed bridge $bridge"; fi
conf="$cni_conf_dir/10-kubelab.conflist"
subnet=
if [ -f "$conf" ] && grep -q "\"bridge\": *\"$bridge\"" "$conf"; then
  subnet=$(sed -nE 's/.*"subnet": *"([0-9.]+)\.0\/24".*/\1/p' "$conf" | head -1)
  rm -f "$conf"; echo "network: removed $conf"
fi
rm -rf "/var/lib/cni/networks/$bridge"
# Per-pod iptables rules go with each sandbox (CNI DEL above); drop any a crash left behind:
# NAT and firewall rules for addresses of this node's pod CIDR (a /24, from the conflist).
if [ -n "$subnet" ] && command -v iptables-save >/dev/null; then
  ip_re="${subnet//./\\.}\.[0-9]+/32"
  for table in nat filter; do
    # firewall plugin: -A CNI-FORWARD -s/-d POD_IP; bridge ipMasq: -A POSTROUTING -s POD_IP … -j CNI-<hash>
    rules=$(iptables-save -t "$table" 2>/dev/null | grep -E "^-A (CNI-[A-Z]+|POSTROUTING) .*-[sd] $ip_re" || true)
    while read -r _ rule; do
      [ -n "$rule" ] || continue
      eval "iptables -t $table -D $rule" 2>/dev/null || true
      chain=$(echo "$rule" | sed -nE 's/.*-j (CNI-[0-9a-f]{8,}).*/\1/p')
      if [ -n "$chain" ]; then iptables -t "$table" -F "$chain" 2>/dev/null || true; iptables -t "$table" -X "$chain" 2>/dev/null || true; fi
    done <<< "$rules"
  done
fi
if [ "$containerd_mode" = private ]; then rm -rf "$cdir/state" "$cni_conf_dir"; fi
echo "local-down: done (data kept in $dir)"
