#!/bin/bash
# A lab node: kubelab's containerd (deploy/node/containerd-config.toml, mirror = the lab
# registry), the pod-CIDR routes to the other nodes (node-routes.sh), the kubelet, and the
# node proxy beside it (Services' cluster IPs and node ports, with the kubelet's credentials).
# Run under docker-init (compose `init: true`); the container stops when the kubelet or
# containerd dies (compose restarts it); the proxy is restarted on its own when it exits, as
# a kube-proxy DaemonSet pod would be (pid in /run/kubelab/proxy.pid, log on stderr).
# Env: NODE_NAME (node-N), CNI_BRIDGE (kubelabN), REGISTRY_MIRROR (http://registry:5000),
#      CLUSTER_CIDR (10.244.0.0/16), CLUSTER_DNS (10.96.0.10: kube-dns, deploy/addons/dns.yaml),
#      KUBELET_EXTRA_ARGS, PROXY_EXTRA_ARGS.
set -euo pipefail
node=${NODE_NAME:-$(hostname)}
mirror=${REGISTRY_MIRROR:-http://registry:5000}
etc=/etc/kubelab/containerd
sock=/run/kubelab/containerd/containerd.sock
node_ip=$(ip -4 -o addr show dev eth0 | awk '{split($4,a,"/"); print a[1]; exit}')
log() { echo "lab-node[$node]: $*" >&2; }

mkdir -p "$etc/certs.d" /etc/cni/net.d /var/lib/kubelab/containerd /run/kubelab/containerd /var/log/pods /var/log/kubelab /run/netns
cp /etc/kubelab/node/containerd-config.toml "$etc/config.toml"
for d in /etc/kubelab/node/certs.d/*/; do
  h=$(basename "$d"); mkdir -p "$etc/certs.d/$h"
  sed "s|http://127.0.0.1:5000|$mirror|g" "$d/hosts.toml" > "$etc/certs.d/$h/hosts.toml"
done
# Pod traffic between nodes keeps the pod IP as source (no masquerade inside the cluster CIDR);
# the bridge plugin's ipMasq still NATs traffic that leaves the cluster.
# (net.ipv4.ip_forward=1 comes from the compose file's sysctls: /proc/sys is read-only here.)
iptables -t nat -C POSTROUTING -s "${CLUSTER_CIDR:-10.244.0.0/16}" -d "${CLUSTER_CIDR:-10.244.0.0/16}" -j RETURN 2>/dev/null ||
  iptables -t nat -I POSTROUTING 1 -s "${CLUSTER_CIDR:-10.244.0.0/16}" -d "${CLUSTER_CIDR:-10.244.0.0/16}" -j RETURN

containerd --config "$etc/config.toml" >>/var/log/kubelab/containerd.log 2>&1 &
cpid=$!
for _ in $(seq 200); do
  ctr --address "$sock" version >/dev/null 2>&1 && break
  kill -0 $cpid 2>/dev/null || { log "containerd exited:"; tail -30 /var/log/kubelab/containerd.log >&2; exit 1; }
  sleep 0.1
done
log "containerd up (pid $cpid), CRI unix://$sock, mirror $mirror, node IP $node_ip"

/usr/local/bin/node-routes.sh &
rpid=$!

# The kubelet's flags, in kubelet spelling; only those this kubelet binary knows are passed
# (its -h output is checked), so the lab runs with whichever kubelet is built.
want=(
  "--kubeconfig=/etc/kubelab/kubeconfig"
  "--hostname-override=$node"
  "--node-name=$node"
  "--node-ip=$node_ip"
  "--container-runtime-endpoint=unix://$sock"
  "--cni-bridge=${CNI_BRIDGE:-kubelab0}"
  "--cni-conf-dir=/etc/cni/net.d"
  "--cgroup-parent=/kubepods-$node"
  "--root-dir=/var/lib/kubelet"
  "--pod-log-dir=/var/log/pods"
  "--tls-cert-file=/etc/kubelab/pki/node.crt"
  "--tls-private-key-file=/etc/kubelab/pki/node.key"
  "--client-ca-file=/etc/kubelab/pki/ca.crt"
  "--node-labels=kubelab.io/lab-node=$node"
  "--cluster-dns=${CLUSTER_DNS:-10.96.0.10}"
  "--cluster-domain=cluster.local"
)
help=$(kubelet -h 2>&1 || true)
args=(); dropped=()
for f in "${want[@]}"; do
  n=${f%%=*}; n=${n#--}
  if grep -qE -- "-$n([ =]|\$)" <<<"$help"; then args+=("$f"); else dropped+=("--$n"); fi
done
# shellcheck disable=SC2206
args+=(${KUBELET_EXTRA_ARGS:-})
[ ${#dropped[@]} -gt 0 ] && log "this kubelet has no ${dropped[*]}; not passed"
log "kubelet ${args[*]}"
kubelet "${args[@]}" &
kpid=$!

# The proxy: crash-only, so a restart (after kill -9 too) just rewrites its rules.
proxy_args=(
  "--kubeconfig=/etc/kubelab/kubeconfig"
  "--hostname-override=$node"
  "--cluster-cidr=${CLUSTER_CIDR:-10.244.0.0/16}"
  "--healthz-bind-address=0.0.0.0:10256"
  "--metrics-bind-address=127.0.0.1:10249"
)
# shellcheck disable=SC2206
proxy_args+=(${PROXY_EXTRA_ARGS:-})
if command -v proxy >/dev/null; then
  log "proxy ${proxy_args[*]}"
  (
    trap 'kill -TERM "$(cat /run/kubelab/proxy.pid 2>/dev/null)" 2>/dev/null; exit 0' TERM
    while true; do
      proxy "${proxy_args[@]}" &
      echo $! > /run/kubelab/proxy.pid
      wait $! && rc=0 || rc=$?
      log "proxy exited (rc $rc); restarting it in 1 s"
      sleep 1
    done
  ) &
  ppid_=$!
else
  log "no proxy binary in this image: Services' cluster IPs do not answer on this node"
  ppid_=""
fi

trap 'kill -TERM $kpid $rpid $ppid_ 2>/dev/null; wait $kpid; kill -TERM $cpid; wait $cpid' TERM INT
wait -n $kpid $cpid
rc=$?
log "kubelet or containerd exited (rc $rc); stopping the node"
kill -TERM $kpid $rpid $ppid_ $cpid 2>/dev/null || true
wait || true
exit $rc
