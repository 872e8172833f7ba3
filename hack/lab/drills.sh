#!/usr/bin/env bash
# make lab-drills: fault drills on a running lab (make lab first). Each drill reports PASS/FAIL
# with timings; the script exits non-zero if any failed. Every drill restores what it broke.
#   1 node-2 stopped        -> NotReady after the grace period (20 s in the lab), its pods evicted
#                              (toleration 30 s in the lab) and recreated on the other nodes; node-2 back
#   2 etcd-2 stopped        -> writes continue; restarted -> catches up (etcdctl endpoint status)
#   3 leading controller-manager / scheduler killed (SIGKILL) -> the standby holds the Lease
#                              within the lease duration (15 s) + retry period
#   4 apiserver restarted   -> no other component restarts; their watches resume (a new pod is
#                              scheduled and runs; the Deployment follows a scale)
#   5 Service cluster IP    -> a ClusterIP Service of the seed Deployment answers nginx's page on
#                              every node (the node proxy's rules, endpoints on all three nodes);
#                              kill -9 of node-1's proxy: restarted, same answers, one jump per
#                              built-in chain; the Service deleted -> its rules go from every node
#   6 cluster DNS           -> from a seed pod, kubernetes.default.svc.cluster.local and a Service's
#                              short name resolve to their cluster IPs through kube-dns (10.96.0.10,
#                              the proxy's rules); one DNS pod killed -> names still resolve
#   7 StatefulSet names     -> a StatefulSet behind a headless Service: its pods come up in
#                              order as web-sts-0, web-sts-1, and each one's stable name
#                              (web-sts-N.web-sts.default.svc.cluster.local) resolves to its pod
#                              IP; web-sts-0 deleted -> made again under its name, which follows
#   8 volumes               -> a StatefulSet of 3 with a volumeClaimTemplate on the default class
#                              (local-path, WaitForFirstConsumer), the leading controller-manager
#                              killed (SIGKILL) as it is applied: 3 claims, 3 volumes (none
#                              twice), each pinned to its pod's node; a page written into vol-0's
#                              volume is still there after vol-0 is made again; claims deleted ->
#                              their volumes and directories go (helper pods on the nodes)
# Env: DRILLS="1 2 3 4 5 6 7 8" to pick; DRILL_TIMEOUT (120 s per wait).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
T=${DRILL_TIMEOUT:-120}
fails=0; results=()
pass() { say "PASS: $*"; results+=("PASS  $*"); }
fail() { say "FAIL: $*"; results+=("FAIL  $*"); fails=$((fails+1)); }
# until_ok TIMEOUT CMD...: poll every second; prints elapsed seconds; fails on timeout.
until_ok() {
  local t=$1; shift; local s; s=$(now)
  while ! "$@" >/dev/null 2>&1; do
    (( $(echo "$(now) - $s > $t" | bc) )) && { since "$s"; return 1; }
    sleep 1
  done
  since "$s"
}
node_status() { k get node "$1" --no-headers 2>/dev/null | awk '{print $2}'; }
is_status() { [ "$(node_status "$1")" = "$2" ]; }
holder() { k get lease -n kube-system "$1" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
etcdctl_() { docker exec "$1" etcdctl --endpoints "https://$1:2379" --cacert /etc/kubelab/pki/ca.crt \
  --cert /etc/kubelab/pki/etcd-client.crt --key /etc/kubelab/pki/etcd-client.key "${@:2}"; }
ep_status() {  # name -> "revision raftIndex leader?"
  etcdctl_ "$1" endpoint status -w json 2>/dev/null | jq -r '.[0].Status | "rev=\(.header.revision) raft_index=\(.raftIndex) leader=\(.leader == .header.member_id)"'
}

k get --raw /healthz >/dev/null 2>&1 || { say "the lab is not answering; run make lab first"; exit 1; }
drills=${DRILLS:-1 2 3 4 5 6 7 8}

# ---- 1: node down ---------------------------------------------------------------------
drill1() {
  say "== drill 1: stop node-2"
  local before; before=$(k get pods -l app=example -o wide --no-headers 2>/dev/null | awk '$7=="node-2" {print $1}')
  say "pods on node-2 before: ${before:-none}"
  docker stop -t 2 node-2 >/dev/null
  local t
  if t=$(until_ok "$T" is_status node-2 NotReady); then pass "node-2 NotReady ${t} s after it stopped"; else fail "node-2 still $(node_status node-2) after ${t} s"; fi
  ok_elsewhere() {
    local n; n=$(k get pods -l app=example -o wide --no-headers 2>/dev/null | awk '$3=="Running" && $7!="node-2"' | wc -l)
    [ "$n" -ge 3 ]
  }
  if [ -z "$before" ]; then
    say "(no seed pods were on node-2: nothing to evict)"
  elif t=$(until_ok "$T" ok_elsewhere); then
    pass "3 seed pods Running on other nodes ${t} s after NotReady"
  else
    fail "seed pods not recreated elsewhere within ${t} s"
  fi
  k get pods -l app=example -o wide 2>/dev/null | sed 's/^/lab:   /'
  docker start node-2 >/dev/null
  if t=$(until_ok "$T" is_status node-2 Ready); then pass "node-2 Ready again ${t} s after restart"; else fail "node-2 not Ready after restart"; fi
}

# ---- 2: etcd member down ----------------------------------------------------------------
drill2() {
  say "== drill 2: stop etcd-2"
  for m in etcd-1 etcd-2 etcd-3; do say "  $m: $(ep_status $m)"; done
  docker stop -t 5 etcd-2 >/dev/null
  local ok=0 i
  for i in $(seq 5); do
    k annotate namespace default "kubelab.io/drill-etcd=$i-$(date +%s)" --overwrite >/dev/null 2>&1 && ok=$((ok+1))
  done
  if [ $ok = 5 ]; then pass "5/5 writes with etcd-2 down"; else fail "$ok/5 writes with etcd-2 down"; fi
  docker start etcd-2 >/dev/null
  caught_up() {
    local r1 r2; r1=$(ep_status etcd-1 | sed 's/ raft.*//'); r2=$(ep_status etcd-2 | sed 's/ raft.*//')
    [ -n "$r2" ] && [ "$r1" = "$r2" ]
  }
  local t
  if t=$(until_ok 60 caught_up); then pass "etcd-2 caught up ${t} s after restart"; else fail "etcd-2 did not catch up within ${t} s"; fi
  for m in etcd-1 etcd-2 etcd-3; do say "  $m: $(ep_status $m)"; done
}

# ---- 3: leader failover -----------------------------------------------------------------
failover() {  # lease
  local lease=$1 h c t
  h=$(holder "$lease"); c=${h%%_*}
  [ -n "$h" ] || { fail "$lease: no Lease holder"; return; }
  say "$lease held by $h; docker kill $c"
  docker kill -s KILL "$c" >/dev/null
  new_holder() { local x; x=$(holder "$lease"); [ -n "$x" ] && [ "$x" != "$h" ]; }
  if t=$(until_ok 45 new_holder); then pass "$lease: $(holder "$lease") took over ${t} s after the leader was killed (lease 15 s)"
  else fail "$lease: still held by $(holder "$lease") after ${t} s"; fi
  docker start "$c" >/dev/null 2>&1 || true
}
drill3() {
  say "== drill 3: kill the leading controller-manager and scheduler"
  failover kube-controller-manager
  failover kube-scheduler
}

# ---- 4: apiserver restart -----------------------------------------------------------------
drill4() {
  say "== drill 4: restart the apiserver"
  local comps="controller-manager-1 controller-manager-2 scheduler-1 scheduler-2 node-1 node-2 node-3"
  local c b a
  declare -A started=()
  for c in $comps; do started[$c]=$(docker inspect -f '{{.State.StartedAt}}' "$c"); done
  docker restart -t 5 apiserver >/dev/null
  local t
  api() { k get --raw /healthz | grep -q ok; }
  if t=$(until_ok 60 api); then pass "apiserver answering ${t} s after restart"; else fail "apiserver down"; return; fi
  k delete pod drill-watch --ignore-not-found --wait=false >/dev/null 2>&1
  k apply -f - >/dev/null <<'POD'
apiVersion: v1
kind: Pod
metadata: {name: drill-watch, labels: {app: drill-watch}}
spec:
  containers: [{name: nginx, image: "nginx:1.14.2"}]
POD
  running() { [ "$(k get pod drill-watch -o jsonpath='{.status.phase}')" = Running ]; }
  if t=$(until_ok 60 running); then pass "a pod created after the restart was scheduled and Running in ${t} s (scheduler + kubelet watches)"
  else fail "pod created after the restart: $(k get pod drill-watch --no-headers -o wide 2>&1)"; fi
  k delete pod drill-watch --wait=false >/dev/null 2>&1
  if k get deployment example-deployment >/dev/null 2>&1; then
    k scale deployment example-deployment --replicas 4 >/dev/null
    four() { [ "$(k get pods -l app=example --no-headers | awk '$3=="Running"' | wc -l)" -ge 4 ]; }
    if t=$(until_ok 60 four); then pass "Deployment scaled to 4 Running pods in ${t} s (controller-manager watches)"
    else fail "Deployment did not reach 4 Running pods"; fi
    k scale deployment example-deployment --replicas 3 >/dev/null
  fi
  local restarted=""
  for c in $comps; do
    a=$(docker inspect -f '{{.State.StartedAt}}' "$c"); [ "$a" = "${started[$c]}" ] || restarted="$restarted $c"
  done
  if [ -z "$restarted" ]; then pass "no component restarted with the apiserver"; else
    fail "restarted:$restarted"
    for c in $restarted; do
      say "  $c: restarts=$(docker inspect -f '{{.RestartCount}}' "$c"); first panic/fatal line in its log:"
      docker logs "$c" 2>&1 | grep -m1 -A8 -E '^(panic|fatal error)|level=ERROR' | sed 's/^/lab:     /'
    done
  fi
}

# ---- 5: a Service's cluster IP, through the node proxies ----------------------------------
drill5() {
  say "== drill 5: a ClusterIP Service of the seed Deployment, from every node"
  k apply -f - >/dev/null <<'SVC'
apiVersion: v1
kind: Service
metadata: {name: example-drill}
spec:
  selector: {app: example}
  ports: [{port: 80, targetPort: 80}]
SVC
  local ip t n
  ip=$(k get service example-drill -o jsonpath='{.spec.clusterIP}' 2>/dev/null)
  [ -n "$ip" ] || { fail "service example-drill got no cluster IP"; return; }
  ready_eps() {
    [ "$(k get endpointslices -l kubernetes.io/service-name=example-drill \
      -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}' 2>/dev/null | grep -c .)" -ge 3 ]
  }
  if t=$(until_ok "$T" ready_eps); then pass "example-drill ($ip): 3 ready endpoints in its EndpointSlices ${t} s after create"
  else fail "example-drill: fewer than 3 ready endpoints"; fi
  # Six GETs per node: with three endpoints spread over the nodes, most nodes reach both a
  # local pod and one across the pod-CIDR routes.
  answers() {
    local i
    for i in 1 2 3 4 5 6; do
      docker exec "$1" curl -s --max-time 3 "http://$ip/" 2>/dev/null | grep -q 'Welcome to nginx!' || return 1
    done
  }
  for n in node-1 node-2 node-3; do
    if t=$(until_ok 60 answers "$n"); then pass "GET http://$ip/ from $n: nginx's page, 6 of 6 (${t} s)"
    else fail "GET http://$ip/ from $n: no answer; rules: $(docker exec "$n" iptables-save -t nat 2>/dev/null | grep -c 'default/example-drill') lines"; fi
  done
  # Crash-only: kill -9 node-1's proxy; node.sh restarts it and it rewrites the same rules.
  local pid; pid=$(docker exec node-1 cat /run/kubelab/proxy.pid 2>/dev/null)
  if [ -n "$pid" ] && docker exec node-1 kill -9 "$pid"; then
    restarted() { local p; p=$(docker exec node-1 cat /run/kubelab/proxy.pid 2>/dev/null); [ -n "$p" ] && [ "$p" != "$pid" ]; }
    if t=$(until_ok 30 restarted); then pass "node-1's proxy killed (-9) and restarted ${t} s later"; else fail "node-1's proxy not restarted"; fi
    sleep 2
    if answers node-1; then pass "GET http://$ip/ from node-1 after the proxy's restart: 6 of 6"; else fail "node-1: no answer after the proxy's restart"; fi
    n=$(docker exec node-1 iptables-save -t nat | grep -c -- '-A PREROUTING .*-j KUBE-SERVICES')
    if [ "$n" = 1 ]; then pass "node-1: one PREROUTING jump to KUBE-SERVICES after the restart"; else fail "node-1: $n PREROUTING jumps to KUBE-SERVICES"; fi
  else
    fail "node-1 has no proxy to kill (pid file: '${pid}')"
  fi
  k delete service example-drill >/dev/null
  gone() { local n; for n in node-1 node-2 node-3; do ! docker exec "$n" iptables-save -t nat | grep -q 'default/example-drill' || return 1; done; }
  if t=$(until_ok 60 gone); then pass "service deleted: its rules gone from all three nodes ${t} s later"; else fail "service deleted: rules left on a node"; fi
}

drill6() {
  echo
  say "== drill 6: cluster DNS from a pod, through kube-dns's cluster IP"
  k apply -f - >/dev/null <<'SVC'
apiVersion: v1
kind: Service
metadata: {name: example-dns}
spec:
  selector: {app: example}
  ports: [{port: 80, targetPort: 80}]
SVC
  local pod svc_ip t
  pod=$(k get pods -l app=example -o jsonpath='{.items[0].metadata.name}' 2>/dev/null)
  svc_ip=$(k get service example-dns -o jsonpath='{.spec.clusterIP}' 2>/dev/null)
  [ -n "$pod" ] && [ -n "$svc_ip" ] || { fail "no seed pod or example-dns has no cluster IP"; return; }
  # resolves NAME WANT: kubelab-tool in the nginx image resolves NAME with the pod's resolv.conf.
  resolves() { k exec "$pod" -- kubelab-tool lookup "$1" 2>/dev/null | grep -qx "$2"; }
  if t=$(until_ok 60 resolves kubernetes.default.svc.cluster.local 10.96.0.1); then
    pass "$pod resolves kubernetes.default.svc.cluster.local to 10.96.0.1 (${t} s)"
  else fail "$pod: kubernetes.default.svc.cluster.local did not resolve to 10.96.0.1"; fi
  if t=$(until_ok 60 resolves example-dns "$svc_ip"); then pass "$pod resolves example-dns (search path) to $svc_ip (${t} s)"
  else fail "$pod: example-dns did not resolve to $svc_ip"; fi
  local victim; victim=$(k -n kube-system get pods -l k8s-app=kube-dns -o jsonpath='{.items[0].metadata.name}' 2>/dev/null)
  if [ -n "$victim" ] && k -n kube-system delete pod "$victim" --wait=false >/dev/null 2>&1; then
    local ok=1 i
    for i in 1 2 3 4 5; do resolves example-dns "$svc_ip" || ok=0; done
    if [ $ok = 1 ]; then pass "DNS pod $victim deleted: example-dns still resolves, 5 of 5"; else fail "DNS pod $victim deleted: lookups failed"; fi
  else
    fail "no DNS pod to delete"
  fi
  k delete service example-dns >/dev/null
}

drill7() {
  echo
  say "== drill 7: a StatefulSet's stable names, through the headless Service and cluster DNS"
  k apply -f - >/dev/null <<'STS'
apiVersion: v1
kind: Service
metadata: {name: web-sts}
spec:
  clusterIP: None
  selector: {app: web-sts}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web-sts}
spec:
  serviceName: web-sts
  replicas: 2
  selector: {matchLabels: {app: web-sts}}
  template:
    metadata: {labels: {app: web-sts}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports: [{name: http, containerPort: 80}]
        readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
STS
  local t pod
  ready() { [ "$(k get statefulset web-sts -o jsonpath='{.status.readyReplicas}' 2>/dev/null)" = 2 ]; }
  if t=$(until_ok "$T" ready); then pass "StatefulSet web-sts: 2 of 2 ready ${t} s after create"
  else
    fail "StatefulSet web-sts: not ready: $(k get pods -l app=web-sts --no-headers 2>&1 | tr '\n' ';')"
    k delete statefulset web-sts >/dev/null 2>&1; k delete service web-sts >/dev/null 2>&1
    return
  fi
  local first second
  first=$(k get pod web-sts-0 -o jsonpath='{.metadata.creationTimestamp}'); second=$(k get pod web-sts-1 -o jsonpath='{.metadata.creationTimestamp}')
  if [[ ! "$second" < "$first" ]]; then pass "web-sts-0 made before web-sts-1 ($first, $second)"; else fail "web-sts-1 ($second) made before web-sts-0 ($first)"; fi
  pod=$(k get pods -l app=example -o jsonpath='{.items[0].metadata.name}' 2>/dev/null)
  # names_resolve: each pod's stable name answers its current pod IP, from a seed pod.
  names_resolve() {
    local n ip
    for n in 0 1; do
      ip=$(k get pod "web-sts-$n" -o jsonpath='{.status.podIP}' 2>/dev/null)
      [ -n "$ip" ] && k exec "$pod" -- kubelab-tool lookup "web-sts-$n.web-sts.default.svc.cluster.local" 2>/dev/null | grep -qx "$ip" || return 1
    done
  }
  if t=$(until_ok 60 names_resolve); then pass "web-sts-0/1.web-sts.default.svc.cluster.local resolve to their pod IPs from $pod (${t} s)"
  else fail "the StatefulSet's pod names did not resolve to their pod IPs"; fi
  local uid; uid=$(k get pod web-sts-0 -o jsonpath='{.metadata.uid}')
  k delete pod web-sts-0 --wait=false >/dev/null
  remade() {
    [ "$(k get pod web-sts-0 -o jsonpath='{.metadata.uid}' 2>/dev/null)" != "$uid" ] &&
      [ "$(k get statefulset web-sts -o jsonpath='{.status.readyReplicas}' 2>/dev/null)" = 2 ]
  }
  if t=$(until_ok "$T" remade); then pass "web-sts-0 deleted: made again under its name and ready ${t} s later"
  else fail "web-sts-0 was not made again"; fi
  if t=$(until_ok 60 names_resolve); then pass "web-sts-0's name follows its new pod IP (${t} s)"
  else fail "web-sts-0's name did not follow its new pod"; fi
  k delete statefulset web-sts >/dev/null; k delete service web-sts >/dev/null
  gone() { [ -z "$(k get pods -l app=web-sts --no-headers 2>/dev/null)" ]; }
  until_ok 60 gone >/dev/null || say "web-sts pods still terminating"
}

# ---- 8: persistent volumes, provisioned across a controller-manager crash -------------------
drill8() {
  echo
  say "== drill 8: a StatefulSet's volumes on the default class, the controller-manager killed"
  local h c t
  h=$(holder kube-controller-manager); c=${h%%_*}
  k apply -f - >/dev/null <<'STS'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: vol}
spec:
  serviceName: vol
  replicas: 3
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: vol}}
  template:
    metadata: {labels: {app: vol}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        volumeMounts: [{name: data, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 16Mi}}
STS
  if [ -n "$c" ]; then say "controller-manager lease held by $h; docker kill $c"; docker kill -s KILL "$c" >/dev/null; fi
  ready() { [ "$(k get statefulset vol -o jsonpath='{.status.readyReplicas}' 2>/dev/null)" = 3 ]; }
  if t=$(until_ok "$T" ready); then pass "StatefulSet vol: 3 of 3 ready on their claims ${t} s after create (controller-manager killed)"
  else
    fail "StatefulSet vol not ready: $(k get pods,pvc -l app=vol --no-headers 2>&1 | tr '\n' ';')"
  fi
  [ -n "$c" ] && docker start "$c" >/dev/null 2>&1
  local claims pvs pinned=0 n node pv
  claims=$(k get pvc --no-headers 2>/dev/null | awk '$1 ~ /^data-vol-/ && $2 == "Bound"' | wc -l)
  pvs=$(k get pv --no-headers 2>/dev/null | awk '$6 ~ /^default\/data-vol-/' | wc -l)
  for n in 0 1 2; do
    node=$(k get pod "vol-$n" -o jsonpath='{.spec.nodeName}' 2>/dev/null)
    pv=$(k get pvc "data-vol-$n" -o jsonpath='{.spec.volumeName}' 2>/dev/null)
    [ -n "$node" ] && [ "$(k get pv "$pv" -o jsonpath='{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}' 2>/dev/null)" = "$node" ] && pinned=$((pinned + 1))
  done
  if [ "$claims" = 3 ] && [ "$pvs" = 3 ] && [ "$pinned" = 3 ]; then pass "3 claims Bound to 3 volumes, none made twice, each pinned to its pod's node"
  else fail "claims Bound: $claims, volumes: $pvs, pinned to their pod's node: $pinned (want 3, 3, 3)"; fi
  local page="kept by data-vol-0 $(date +%s)" uid node0
  uid=$(k get pod vol-0 -o jsonpath='{.metadata.uid}'); node0=$(k get pod vol-0 -o jsonpath='{.spec.nodeName}')
  k exec vol-0 -- kubelab-tool write /usr/share/nginx/html/index.html "$page" >/dev/null 2>&1
  k delete pod vol-0 --wait=false >/dev/null
  kept() {
    [ "$(k get pod vol-0 -o jsonpath='{.metadata.uid} {.status.phase}' 2>/dev/null)" != "$uid Running" ] &&
      [ "$(k get pod vol-0 -o jsonpath='{.status.phase} {.spec.nodeName}' 2>/dev/null)" = "Running $node0" ] &&
      [ "$(k exec vol-0 -- kubelab-tool cat /usr/share/nginx/html/index.html 2>/dev/null)" = "$page" ]
  }
  if t=$(until_ok "$T" kept); then pass "vol-0 made again on $node0, where its volume is, ${t} s later, its volume's page kept"
  else fail "vol-0's page was not kept: $(k get pod vol-0 -o wide --no-headers 2>&1)"; fi
  k delete statefulset vol >/dev/null 2>&1
  gone_pods() { [ -z "$(k get pods -l app=vol --no-headers 2>/dev/null)" ]; }
  until_ok 60 gone_pods >/dev/null || say "vol pods still terminating"
  k delete pvc data-vol-0 data-vol-1 data-vol-2 --wait=false >/dev/null 2>&1
  gone_pvs() { [ -z "$(k get pv --no-headers 2>/dev/null | awk '$6 ~ /^default\/data-vol-/')" ]; }
  if t=$(until_ok "$T" gone_pvs); then pass "claims deleted: their 3 volumes removed from the nodes and gone ${t} s later"
  else fail "volumes left after their claims were deleted: $(k get pv --no-headers 2>&1 | tr '\n' ';')"; fi
}

for d in $drills; do "drill$d"; done
echo; say "drill results:"; printf 'lab:   %s\n' "${results[@]}"
exit $((fails > 0))
