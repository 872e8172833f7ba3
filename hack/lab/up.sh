#!/usr/bin/env bash
# make lab: images (if needed) -> PKI -> docker-compose up -d -> 3 Ready nodes (with progress)
# -> the seed Deployment -> pods spread over the nodes -> one pod answering HTTP from another node.
# Env: LAB_API_PORT (16443), LAB_GRPC_PORT (16444), LAB_TIMEOUT (180 s per wait), LAB_NO_SEED=1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
timeout=${LAB_TIMEOUT:-180}

"$root/hack/lab/images.sh"
"$root/hack/lab/certs.sh" "$LAB_DIR" "https://127.0.0.1:$LAB_API_PORT" >/dev/null
t0=$(now)
dc up -d --remove-orphans
say "containers started in $(since "$t0") s"

# wait_for WHAT CMD...: poll CMD (which prints a progress string and succeeds when done).
wait_for() {
  local what=$1; shift; local start last="" lastt=0 msg="" tty=0; start=$(now); [ -t 1 ] && tty=1
  while true; do
    if msg=$("$@" 2>&1); then
      [ $tty = 1 ] && printf '\r\033[K'; say "$what: $msg ($(since "$start") s)"; return 0
    fi
    if (( $(echo "$(now) - $start > $timeout" | bc) )); then
      [ $tty = 1 ] && printf '\n'; say "TIMEOUT waiting for $what (last: $msg)"; dc ps; diagnose; return 1
    fi
    if [ $tty = 1 ]; then
      printf '\r\033[Klab: %s' "$what: ${msg:0:90} ($(since "$start") s)"
    elif [ "$msg" != "$last" ] || (( $(date +%s) - lastt >= 10 )); then
      say "$what: $msg ($(since "$start") s)"; last=$msg; lastt=$(date +%s)
    fi
    sleep 1
  done
}
# What a person needs to see when a wait times out.
diagnose() {
  k get nodes -o jsonpath='{range .items[*]}{.metadata.name}: podCIDR={.spec.podCIDR} Ready={.status.conditions[?(@.type=="Ready")].message}{"\n"}{end}' 2>/dev/null |
    sed 's/^/lab:   /; s/podCIDR= /podCIDR=<none: is the controller-manager'"'"'s nodeipam running?> /'
  k get pods -A -o wide 2>/dev/null | sed 's/^/lab:   /'
  for c in apiserver controller-manager-1 controller-manager-2 scheduler-1 scheduler-2 node-1; do
    echo "lab: --- docker logs $c (last 5)"; docker logs --tail 5 "$c" 2>&1 | sed 's/^/lab:   /'
  done
}
api_ready() { k get --raw /healthz 2>/dev/null | grep -q ok && echo ok || { echo "apiserver not answering"; return 1; }; }
nodes_ready() {
  local out n; out=$(k get nodes --no-headers 2>/dev/null || true)
  n=$(awk '$2=="Ready"' <<<"$out" | wc -l)
  echo "$n/3 Ready [$(awk '{printf "%s=%s ", $1, $2}' <<<"$out")]"
  [ "$n" -ge 3 ]
}
wait_for "apiserver" api_ready
wait_for "nodes" nodes_ready
say "3 nodes Ready $(since "$t0") s after docker-compose up"
k get nodes -o wide

# Cluster DNS, as kubeadm's CoreDNS addon (the kubelets name 10.96.0.10 in pods' resolv.conf).
k apply -f "$root/deploy/addons/dns.yaml" >/dev/null
dns_ready() {
  local out; out=$(k -n kube-system get deployment coredns -o jsonpath='{.status.readyReplicas}/{.spec.replicas}' 2>/dev/null || true)
  echo "coredns ${out:-?/?} ready"
  [ -n "$out" ] && [ "${out%/*}" = "${out#*/}" ]
}
wait_for "cluster DNS" dns_ready
say "cluster DNS: kube-dns $(k -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}') ($(since "$t0") s after docker-compose up)"

# The default StorageClass: kubelab.io/local-path volumes in each node's /var/lib/kubelab/local-path.
k apply -f "$root/deploy/addons/storage.yaml" >/dev/null
say "default StorageClass: $(k get storageclass --no-headers 2>/dev/null | awk '{print $1, $2, $3}' | tr '\n' ' ')"

[ "${LAB_NO_SEED:-}" = 1 ] && exit 0
k apply -f "$root/deploy/examples/nginx-deployment.yaml"
pods_running() {
  local out n; out=$(k get pods -l app=example --no-headers -o wide 2>/dev/null || true)
  n=$(awk '$3=="Running" && $2=="1/1"' <<<"$out" | wc -l)
  echo "$n/3 Running on $(awk '$3=="Running" {print $7}' <<<"$out" | sort -u | wc -l) nodes"
  [ "$n" -ge 3 ]
}
wait_for "seed pods" pods_running
k get pods -l app=example -o wide
spread=$(k get pods -l app=example -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | grep -c .)
[ "$spread" -ge 3 ] && say "the seed pods run on $spread different nodes" || say "WARNING: the seed pods run on only $spread node(s)"
# One pod's IP, asked from a node the pod is NOT on.
read -r pod ip on < <(k get pods -l app=example -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP} {.spec.nodeName}{"\n"}{end}' | head -1)
from=node-1; [ "$on" = node-1 ] && from=node-2
code=""
for _ in $(seq 20); do
  code=$(docker exec "$from" curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://$ip/" || true)
  [ "$code" = 200 ] && break; sleep 1
done
say "GET http://$ip/ (pod $pod on $on) from $from -> HTTP $code"
[ "$code" = 200 ] || { say "FAILED: the pod did not answer from another node"; exit 1; }
restarted=$(docker ps -a --filter "label=com.docker.compose.project=$LAB_PROJECT" -q | xargs docker inspect -f '{{.Name}} {{.RestartCount}}' | awk '$2>0 {printf "%s(%s) ", substr($1,2), $2}')
[ -z "$restarted" ] || say "WARNING: containers restarted (crash, restart policy): $restarted- see docker logs"
say "ready. export KUBECONFIG=$KUBECONFIG   (kubectl get nodes; make lab-drills; make lab-down)"
