# Sourced by hack/local-up.sh and hack/local-down.sh: the knobs of a local cluster and helpers.
# The knobs a local-up used are saved in $KUBELAB_DIR/env, so a later local-down (or local-up)
# without them in the environment finds the same cluster; the environment wins over the file.
# shellcheck shell=bash
dir="${KUBELAB_DIR:-$root/.local}"
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
# shellcheck disable=SC1091
[ -f "$dir/env" ] && . "$dir/env"

bin="${KUBELAB_BIN:-$root/bin}"
node="${KUBELAB_NODE_NAME:-$(hostname -s 2>/dev/null | tr '[:upper:]' '[:lower:]')}"
[[ $node =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || node=kubelab-node
api_port="${KUBELAB_API_PORT:-6443}"
grpc_port="${KUBELAB_GRPC_PORT:-6444}"
kubelet_port="${KUBELAB_KUBELET_PORT:-10250}"
kubelet_healthz_port="${KUBELAB_KUBELET_HEALTHZ_PORT:-10248}"
cm_port="${KUBELAB_CM_PORT:-10257}"
sched_port="${KUBELAB_SCHEDULER_PORT:-10259}"
cluster_cidr="${KUBELAB_CLUSTER_CIDR:-10.244.0.0/16}"
bridge="${KUBELAB_CNI_BRIDGE:-kubelab0}"
containerd_mode="${KUBELAB_CONTAINERD:-shared}"
apply="${KUBELAB_APPLY:-1}"
# Cluster DNS (deploy/addons/dns.yaml): on when the binaries include the DNS server (local-up
# builds it unless given KUBELAB_BIN).
if [ -z "${KUBELAB_BIN:-}" ] || [ -x "$bin/dns" ]; then cluster_dns_default=1; else cluster_dns_default=0; fi
cluster_dns="${KUBELAB_DNS:-$cluster_dns_default}"
cluster_dns_ip="${KUBELAB_DNS_IP:-10.96.0.10}"
# The node proxy (bin/proxy: iptables rules in this host's network namespace): on for make
# up's cluster; off for a private one, a test's second cluster beside it, whose proxy would
# rewrite the first one's chains.
if [ "$containerd_mode" = shared ] && { [ -z "${KUBELAB_BIN:-}" ] || [ -x "$bin/proxy" ]; }; then node_proxy_default=1; else node_proxy_default=0; fi
node_proxy="${KUBELAB_PROXY:-$node_proxy_default}"
proxy_healthz_port="${KUBELAB_PROXY_HEALTHZ_PORT:-10256}"
proxy_metrics_port="${KUBELAB_PROXY_METRICS_PORT:-10249}"
cluster_domain=cluster.local
timeout="${KUBELAB_TIMEOUT:-180}"
host_ip="${KUBELAB_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -nE 's/.* src ([0-9.]+).*/\1/p')}"
[ -n "$host_ip" ] || host_ip=$(hostname -I 2>/dev/null | awk '{print $1}')

pki="$dir/pki"
logs="$dir/logs"
run="$dir/run"
case "$containerd_mode" in
  shared)
    sock=/run/kubelab/containerd/containerd.sock
    cni_conf_dir=/etc/cni/net.d
    pod_logs=/var/log/pods ;;
  private)
    cdir="$dir/containerd"
    sock="$cdir/state/containerd.sock"
    cni_conf_dir="$cdir/net.d"
    pod_logs="$dir/pods" ;;
  *) echo "KUBELAB_CONTAINERD=$containerd_mode: want shared or private" >&2; exit 2 ;;
esac

if [ -x "$bin/kubectl" ]; then kubectl="$bin/kubectl"; else kubectl=kubectl; fi
kc() { "$kubectl" --kubeconfig "$pki/admin.kubeconfig" "$@"; }

write_env() {
  cat > "$dir/env" <<EOF
# written by hack/local-up.sh: the knobs of this cluster (the environment overrides them)
: "\${KUBELAB_NODE_NAME:=$node}" "\${KUBELAB_API_PORT:=$api_port}" "\${KUBELAB_GRPC_PORT:=$grpc_port}"
: "\${KUBELAB_KUBELET_PORT:=$kubelet_port}" "\${KUBELAB_KUBELET_HEALTHZ_PORT:=$kubelet_healthz_port}"
: "\${KUBELAB_CM_PORT:=$cm_port}" "\${KUBELAB_SCHEDULER_PORT:=$sched_port}"
: "\${KUBELAB_CLUSTER_CIDR:=$cluster_cidr}" "\${KUBELAB_CNI_BRIDGE:=$bridge}" "\${KUBELAB_CONTAINERD:=$containerd_mode}"
: "\${KUBELAB_PROXY:=$node_proxy}" "\${KUBELAB_PROXY_HEALTHZ_PORT:=$proxy_healthz_port}" "\${KUBELAB_PROXY_METRICS_PORT:=$proxy_metrics_port}"
EOF
}

# alive NAME: its pid file names a live process started from a binary called NAME.
alive() {
  local pid
  pid=$(cat "$run/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | head -1 | grep -q "$1\$"
}

# start_proc NAME ARGS...: runs $bin/NAME ARGS in the background (log $logs/NAME.log), unless
# it already runs from the same binary and with the same arguments.
start_proc() {
  local name=$1; shift
  local want; want="$(sha256sum < "$bin/$name" | cut -c1-16) $*"
  if alive "$name"; then
    if [ "$(cat "$run/$name.started" 2>/dev/null)" = "$want" ]; then
      echo "$name: running (pid $(cat "$run/$name.pid")), reused"
      return 0
    fi
    echo "$name: binary or flags changed, restarting"
    stop_proc "$name"
  fi
  echo "--- $(date -Is) $name $*" >> "$logs/$name.log"
  setsid "$bin/$name" "$@" >> "$logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$run/$name.pid"
  echo "$want" > "$run/$name.started"
  date -u +%FT%TZ > "$run/$name.since"
  echo "$name: started (pid $!), log $logs/$name.log"
}

# stop_proc NAME [SIGNAL]: SIGTERM (or SIGNAL), then SIGKILL after 10 s.
stop_proc() {
  local name=$1 sig=${2:-TERM} pid
  if alive "$name"; then
    pid=$(cat "$run/$name.pid")
    kill -"$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
    echo "$name: stopped (pid $pid)"
  fi
  rm -f "$run/$name.pid" "$run/$name.started" "$run/$name.since"
}

# A containerd of this cluster's own (KUBELAB_CONTAINERD=private): kubelab's config with its
# root, state, socket, CNI config dir and registry hosts moved into $cdir.
private_containerd_start() {
  if [ -f "$run/containerd.pid" ] && kill -0 "$(cat "$run/containerd.pid")" 2>/dev/null &&
     ctr --address "$sock" version >/dev/null 2>&1; then
    echo "containerd: running (pid $(cat "$run/containerd.pid")) on $sock, reused"
    return 0
  fi
  mkdir -p "$cdir/root" "$cdir/state" "$cni_conf_dir" "$pod_logs"
  sed -e "s#/var/lib/kubelab/containerd#$cdir/root#g" -e "s#/run/kubelab/containerd#$cdir/state#g" \
      -e "s#/etc/cni/net.d#$cni_conf_dir#g" -e "s#/etc/kubelab/containerd/certs.d#$cdir/certs.d#g" \
      "$root/deploy/node/containerd-config.toml" > "$cdir/config.toml"
  rm -rf "$cdir/certs.d"; cp -r "$root/deploy/node/certs.d" "$cdir/certs.d"
  rm -f "$sock"
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    setsid containerd --config "$cdir/config.toml" >> "$logs/containerd.log" 2>&1 < /dev/null &
  echo $! > "$run/containerd.pid"
  for _ in $(seq 150); do
    if ctr --address "$sock" version >/dev/null 2>&1; then
      echo "containerd: started (pid $(cat "$run/containerd.pid")), CRI at unix://$sock, log $logs/containerd.log"
      return 0
    fi
    kill -0 "$(cat "$run/containerd.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "containerd: did not come up; last log lines:" >&2; tail -30 "$logs/containerd.log" >&2; return 1
}

private_containerd_stop() {
  local pid
  pid=$(cat "$run/containerd.pid" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"; for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "containerd: stopped (pid $pid)"
  fi
  rm -f "$run/containerd.pid"
}
