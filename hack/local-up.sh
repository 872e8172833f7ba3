#!/usr/bin/env bash
# A one-node kubelab cluster on this machine, every component a separate process (needs root):
# the local registry and kubelab's containerd (hack/node), a PKI with one identity per
# component (hack/pki.sh), the apiserver on embedded etcd, the controller-manager, the
# scheduler and the kubelet. Waits until the node is Ready, applies the cluster DNS addon
# (deploy/addons/dns.yaml, kube-dns at 10.96.0.10, the kubelet's --cluster-dns) and waits for
# it, applies the default StorageClass (deploy/addons/storage.yaml, volumes under
# $KUBELAB_DIR/local-path), then applies the seed Deployment
# (deploy/examples/nginx-deployment.yaml), waits for its 3 pods and curls each pod IP.
#
#   hack/local-up.sh          (make up)     re-runnable: what runs is reused, a component whose
#                                           binary changed is restarted
#   hack/local-down.sh        (make down)   stops it all and removes pods, bridge and IPAM state
#
# Data in $KUBELAB_DIR (default <repo>/.local): pki/, etcd/, kubelet/, local-path/ (volumes), logs/, run/ (pid files), env.
# Knobs (environment; the e2e test uses them to run a second cluster beside `make up`'s):
#   KUBELAB_DIR, KUBELAB_BIN (<repo>/bin; set = do not build), KUBELAB_NODE_NAME (hostname -s),
#   KUBELAB_API_PORT (6443), KUBELAB_GRPC_PORT (6444), KUBELAB_KUBELET_PORT (10250),
#   KUBELAB_KUBELET_HEALTHZ_PORT (10248), KUBELAB_CM_PORT (10257), KUBELAB_SCHEDULER_PORT (10259),
#   KUBELAB_CLUSTER_CIDR (10.244.0.0/16), KUBELAB_CNI_BRIDGE (kubelab0),
#   KUBELAB_CONTAINERD (shared: hack/node/containerd.sh, /run/kubelab/containerd/containerd.sock;
#                       private: a containerd of its own in $KUBELAB_DIR/containerd with its own
#                       CNI config dir), KUBELAB_APPLY (1: apply and check the seed Deployment),
#   KUBELAB_DNS (1 when $KUBELAB_BIN has the dns binary: the DNS addon and the kubelet's
#                --cluster-dns=$KUBELAB_DNS_IP (10.96.0.10) --cluster-domain=cluster.local; 0: neither),
#   KUBELAB_PROXY (1 for the shared containerd, i.e. make up: the node proxy runs on this host
#                 with the kubelet's identity, and the seed Deployment gets a Service whose
#                 cluster IP is curled; 0: no proxy), KUBELAB_PROXY_HEALTHZ_PORT (10256),
#                 KUBELAB_PROXY_METRICS_PORT (10249),
#   KUBELAB_TIMEOUT (180 s per wait).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/hack/local-env.sh"

[ "$(id -u)" = 0 ] || { echo "local-up: needs root (containerd, CNI, iptables); try: sudo make up" >&2; exit 1; }
began=$(date +%s.%N)
elapsed() { awk -v a="$began" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }
step() { printf '\n== %s (%s)\n' "$*" "$(elapsed)"; }

mkdir -p "$dir" "$logs" "$run"
write_env

# ---- dependencies and binaries ----
step "dependencies"
need=()
for c in containerd runc iptables ip skopeo openssl curl; do command -v "$c" >/dev/null || need+=("$c"); done
[ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || need+=(cni-plugins)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
if [ ${#need[@]} -gt 0 ]; then
  echo "missing: ${need[*]}"
  "$root/hack/install-deps.sh" --node
else
  echo "all present"
fi

if [ -z "${KUBELAB_BIN:-}" ]; then
  step "build"
  command -v go >/dev/null || { echo "local-up: go is missing (https://go.dev/dl, or set KUBELAB_BIN to prebuilt binaries)" >&2; exit 1; }
  make -s -C "$root" build >/dev/null
  (cd "$root" && go build -o "$bin/" ./test/cmd/kubelab-cri)
  echo "bin/: apiserver controller-manager scheduler kubelet proxy dns kubelab-cri"
fi
needed=(apiserver controller-manager scheduler kubelet kubelab-cri)
[ "$node_proxy" = 1 ] && needed+=(proxy)
for b in "${needed[@]}"; do
  [ -x "$bin/$b" ] || { echo "local-up: $bin/$b is missing (make build)" >&2; exit 1; }
done

# ---- node runtime: images, registry, containerd ----
step "images and registry"
"$root/hack/node/build-images.sh"
"$root/hack/node/registry.sh" start
"$root/hack/node/registry.sh" push

step "containerd ($containerd_mode)"
if [ "$containerd_mode" = shared ]; then
  "$root/hack/node/containerd.sh" start
else
  private_containerd_start
fi

# ---- PKI ----
step "PKI"
"$root/hack/pki.sh" "$pki" "https://127.0.0.1:$api_port" "$node"

# ---- control plane and node ----
step "apiserver, controller-manager, scheduler, kubelet"
kubelet_dns=()
[ "$cluster_dns" = 1 ] && kubelet_dns=(--cluster-dns "$cluster_dns_ip" --cluster-domain "$cluster_domain")
start_proc apiserver --data-dir "$dir" --cert-dir "$pki/apiserver" \
  --secure-port "$api_port" --grpc-port "$grpc_port" --advertise-address "$host_ip"
printf 'apiserver: waiting for /readyz '
for i in $(seq $((timeout * 10))); do
  if curl -fsS -o /dev/null --max-time 1 --cacert "$pki/ca.crt" --cert "$pki/certs/admin.crt" --key "$pki/certs/admin.key" \
       "https://127.0.0.1:$api_port/readyz" 2>/dev/null; then
    echo " ready"; break
  fi
  alive apiserver || { echo; echo "apiserver exited; last log lines:"; tail -20 "$logs/apiserver.log"; exit 1; }
  [ $((i % 5)) = 0 ] && printf '.'
  sleep 0.1
  [ "$i" = $((timeout * 10)) ] && { echo; echo "apiserver not ready after ${timeout}s; see $logs/apiserver.log" >&2; exit 1; }
done

kc="$pki/kubeconfigs"
start_proc controller-manager --kubeconfig "$kc/controller-manager.kubeconfig" --grpc-address "127.0.0.1:$grpc_port" \
  --leader-elect --cluster-cidr "$cluster_cidr" --bind-address 127.0.0.1 --secure-port "$cm_port"
start_proc scheduler --kubeconfig "$kc/scheduler.kubeconfig" --grpc-address "127.0.0.1:$grpc_port" \
  --leader-elect --bind-address 127.0.0.1 --secure-port "$sched_port"
start_proc kubelet --kubeconfig "$kc/kubelet-$node.kubeconfig" --grpc-address "127.0.0.1:$grpc_port" \
  --hostname-override "$node" --node-ip "$host_ip" --container-runtime-endpoint "unix://$sock" \
  --cni-bridge "$bridge" --cni-conf-dir "$cni_conf_dir" --root-dir "$dir/kubelet" --pod-log-dir "$pod_logs" \
  --port "$kubelet_port" --healthz-port "$kubelet_healthz_port" \
  --tls-cert-file "$pki/certs/kubelet-$node-serving.crt" --tls-private-key-file "$pki/certs/kubelet-$node-serving.key" \
  --client-ca-file "$pki/ca.crt" "${kubelet_dns[@]}"
if [ "$node_proxy" = 1 ]; then
  start_proc proxy --kubeconfig "$kc/kubelet-$node.kubeconfig" --grpc-address "127.0.0.1:$grpc_port" \
    --hostname-override "$node" --cluster-cidr "$cluster_cidr" \
    --healthz-bind-address "127.0.0.1:$proxy_healthz_port" --metrics-bind-address "127.0.0.1:$proxy_metrics_port"
fi

step "node $node"
# Ready, with a pod CIDR, and a Lease renewed by this kubelet (not a Ready left in etcd by the last run).
since=$(cat "$run/kubelet.since" 2>/dev/null || echo 0)
last=""
for i in $(seq $((timeout * 2))); do
  st=$(kc get node "$node" -o jsonpath='{range .status.conditions[?(@.type=="Ready")]}{.status} {.reason}{end} podCIDR={.spec.podCIDR}' 2>/dev/null || true)
  renew=$(kc -n kube-node-lease get lease "$node" -o jsonpath='{.spec.renewTime}' 2>/dev/null || true)
  fresh=no; [ -n "$renew" ] && [[ ! "${renew:0:19}" < "${since:0:19}" ]] && fresh=yes
  if [ "$st" != "$last" ]; then [ -n "$last" ] && echo; printf 'node %s: %s ' "$node" "${st:-not registered yet}"; last=$st; fi
  case "$fresh $st" in "yes True"*podCIDR=?*) echo; break ;; esac
  for p in apiserver controller-manager scheduler kubelet $([ "$node_proxy" = 1 ] && echo proxy); do
    alive "$p" || { echo; echo "$p exited; last log lines:"; tail -20 "$logs/$p.log"; exit 1; }
  done
  printf '.'
  sleep 0.5
  [ "$i" = $((timeout * 2)) ] && { echo; echo "node not Ready after ${timeout}s; see $logs/kubelet.log" >&2; exit 1; }
done
kc get nodes -o wide

if [ "$cluster_dns" = 1 ]; then
  step "cluster DNS (deploy/addons/dns.yaml)"
  addon=$(cat "$root/deploy/addons/dns.yaml")
  if ! alive proxy; then
    # No node proxy carries the kubernetes Service's cluster IP to the apiserver: the DNS
    # pods are pointed at the apiserver's own address instead (their container env wins over
    # the kubelet's service variables). Pods still reach kube-dns only through a proxy.
    echo "no node proxy runs: the DNS pods reach the apiserver at $host_ip:$api_port; pods reach $cluster_dns_ip only through a proxy"
    addon=$(awk -v h="$host_ip" -v p="$api_port" '{ print }
      /^        args: \[--cluster-domain=/ { print "        env:\n        - {name: KUBERNETES_SERVICE_HOST, value: \"" h "\"}\n        - {name: KUBERNETES_SERVICE_PORT, value: \"" p "\"}" }' <<< "$addon")
  fi
  kc apply -f - <<< "$addon"
  kc -n kube-system rollout status deployment/coredns --timeout "${timeout}s" ||
    { kc -n kube-system get pods -o wide; exit 1; }
  kc -n kube-system get service kube-dns
fi

step "default StorageClass (deploy/addons/storage.yaml)"
# The class's volumes live with the cluster's data ($dir/local-path): make clean removes them,
# and a second cluster beside this one (the e2e tests') keeps its own.
{ cat "$root/deploy/addons/storage.yaml"; printf 'parameters:\n  path: %s\n' "$dir/local-path"; } | kc apply -f -

if [ "$apply" = 1 ]; then
  step "seed Deployment"
  manifest="$root/deploy/examples/nginx-deployment.yaml"
  kc apply -f "$manifest"
  kc rollout status deployment/example-deployment --timeout "${timeout}s"
  # The Deployment's and pods' statuses may be left from the last run (make down keeps etcd,
  # and removes the containers): wait until every replica is Ready with a container that
  # runs in containerd now, and answers HTTP 200 on its own pod IP.
  want=$(kc get deployment example-deployment -o jsonpath='{.spec.replicas}')
  printf 'pods: waiting until %s run in containerd and answer HTTP 200 on their IPs ' "$want"
  for i in $(seq $((timeout * 2))); do
    running=" $("$bin/kubelab-cri" -endpoint "unix://$sock" ls 2>/dev/null | awk '$1 == "container" && $5 == "CONTAINER_RUNNING" { printf "%s ", $2 }')"
    rows=$(kc get pods -l app=example -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}/{.status.podIP}/{.status.containerStatuses[0].containerID}{" "}{end}' 2>/dev/null || true)
    n=0 ok=0 seen=" "
    for r in $rows; do
      n=$((n + 1))
      IFS=/ read -r ready ip cid <<< "$r"
      cid=${cid#containerd:}; cid=${cid#//}
      case "$seen" in *" $ip "*) continue ;; esac
      seen="$seen$ip "
      [ "$ready" = True ] && [ -n "$ip" ] && [ -n "$cid" ] && [[ $running == *" $cid "* ]] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ip/" || true)" = 200 ] && ok=$((ok + 1))
    done
    [ "$n" = "$want" ] && [ "$ok" = "$want" ] && { echo " ok"; break; }
    printf '%s/%s ' "$ok" "$want"
    sleep 0.5
    [ "$i" = $((timeout * 2)) ] && { echo; echo "local-up: $ok of $want pods answered after ${timeout}s" >&2; kc get pods -o wide; exit 1; }
  done
  kc get pods -o wide
  step "HTTP GET of each pod IP"
  for ip in $(kc get pods -l app=example -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}'); do
    echo "http://$ip/ -> $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$ip/" || true)"
  done
  if [ "$node_proxy" = 1 ]; then
    step "Service example: its cluster IP, through the node proxy"
    kc expose deployment example-deployment --name example --port 80 --dry-run=client -o yaml | kc apply -f -
    svc_ip=$(kc get service example -o jsonpath='{.spec.clusterIP}')
    printf 'http://%s/ ' "$svc_ip"
    for i in $(seq $((timeout * 2))); do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$svc_ip/" || true)
      [ "$code" = 200 ] && { echo "-> 200"; break; }
      printf '.'
      sleep 0.5
      [ "$i" = $((timeout * 2)) ] && { echo; echo "local-up: the Service's cluster IP did not answer after ${timeout}s; see $logs/proxy.log" >&2; exit 1; }
    done
  fi
fi

step "up"
cat <<EOF
kubelab is running: node $node, apiserver https://127.0.0.1:$api_port, logs in $logs/
  export KUBECONFIG=$pki/admin.kubeconfig
  $kubectl get nodes,deployments,pods -o wide
  $kubectl scale deployment example-deployment --replicas 5
  $bin/kubelab-cri -endpoint unix://$sock ls          # what runs in containerd, over CRI
  curl http://\$($kubectl get service example -o jsonpath='{.spec.clusterIP}')/   # a Service, through the node proxy
Identities: $kc/{admin,controller-manager,scheduler,kubelet-$node}.kubeconfig
Stop: make down   (data stays in $dir; make clean removes it)
EOF
