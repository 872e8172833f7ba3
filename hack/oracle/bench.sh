#!/usr/bin/env bash
# Reference point for kubelab's create throughput: upstream kube-apiserver v1.34.2 and kubelab's
# bin/apiserver, each on a fresh Debian etcd (/usr/bin/etcd, fsync on) on this machine, driven
# by the same out-of-process load generator (apiload: Pod creates over one keep-alive HTTP/2
# connection, and raw etcd puts of the same-sized protobuf value against that etcd while the
# apiserver runs), at 1, 10 and 50 concurrent clients. Prints one table and the create/put
# ratios, and the CPU time the apiserver and etcd processes used per operation (from /proc).
# Both apiservers run at their default settings.
#
#   hack/oracle/bench.sh                 (about 3 minutes after the builds)
#   DURATION=5s CLIENTS=1,10,50 AUTH=cert|token SERVERS="upstream kubelab" hack/oracle/bench.sh
#
# AUTH=cert (default): both servers are called with an admin client certificate (group
# system:masters), as kubelab's own bench does; AUTH=token: with a static bearer token in
# system:masters (--token-auth-file on both).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
duration="${DURATION:-5s}"
clients="${CLIENTS:-1,10,50}"
auth="${AUTH:-cert}"
servers="${SERVERS:-upstream kubelab}"

echo "oracle bench: $(date -u +%FT%TZ), $(nproc) cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- binaries -------------------------------------------------------------------------
if [ ! -x /usr/bin/etcd ]; then
  echo "installing Debian's etcd-server"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
fi
"$here/build.sh" | sed 's/^/  /'
echo "kubelab: make build ($(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- apiserver proto || echo ', with uncommitted changes in apiserver/ or proto/'))"
make -C "$root" build >/dev/null
apiload="$here/bin/apiload"
kube_apiserver="$here/bin/kube-apiserver"
kubelab_apiserver="$root/bin/apiserver"

# --- scratch, processes, cleanup ------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/oracle-bench.XXXXXX")"
etcd_pid="" api_pid=""
stop() { # stop PID: TERM, wait, then KILL if it lingers
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$api_pid"; api_pid=""
  stop "$etcd_pid"; etcd_pid=""
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for WHAT PID LOG CMD...: until CMD succeeds, the process lives, 60 s
  local what="$1" pid="$2" log="$3"; shift 3
  for _ in $(seq 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "$what exited:" >&2; tail -30 "$log" >&2; exit 1; fi
    sleep 0.1
  done
  echo "$what not ready after 60 s:" >&2; tail -30 "$log" >&2; exit 1
}

etcd_port="$(free_port)"
etcd_peer="$(free_port)"
etcd_url="http://127.0.0.1:$etcd_port"
start_etcd() { # a fresh etcd: new data dir, fsync on (etcd's default)
  local dir="$work/etcd-$1"
  rm -rf "$dir"
  /usr/bin/etcd --name oracle --data-dir "$dir" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "oracle=http://127.0.0.1:$etcd_peer" --initial-cluster-state new \
    --log-level warn >"$work/etcd-$1.log" 2>&1 &
  etcd_pid=$!
  wait_for etcd "$etcd_pid" "$work/etcd-$1.log" curl -fsS --max-time 1 "$etcd_url/health"
}

# --- credentials for upstream: CA, serving cert, admin client cert, token, SA key pair -------
token="oracle-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pki="$work/upstream-pki"
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=oracle-ca" -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >serving.ext
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile serving.ext -out apiserver.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kubernetes-admin" -keyout admin.key -out admin.csr 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out admin.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  printf '%s,oracle-admin,oracle-admin-uid,"system:masters"\n' "$token" >tokens.csv
)

rows="$work/rows.txt"
: >"$rows"
run_load() { # run_load LABEL URL CREDENTIAL-FLAGS...
  local label="$1" url="$2"; shift 2
  sleep 5 # let the server's start-up work (bootstrap controllers, caches) settle
  echo "$label: load average before the load: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$apiload" -label "$label" -server "$url" -etcd "$etcd_url" -clients "$clients" -duration "$duration" \
    -server-pid "$api_pid" -etcd-pid "$etcd_pid" "$@" |
    tee -a "$work/apiload.out" | grep -v '^ROW' | sed 's/^/  /'
  grep '^ROW' "$work/apiload.out" >>"$rows" || true
  : >"$work/apiload.out"
}

# --- (a) upstream kube-apiserver ------------------------------------------------------
if [[ " $servers " == *" upstream "* ]]; then
  start_etcd upstream
  port="$(free_port)"
  echo "upstream: $("$kube_apiserver" --version) on etcd $etcd_url ($(/usr/bin/etcd --version | head -1))"
  "$kube_apiserver" \
    --etcd-servers "$etcd_url" \
    --bind-address 127.0.0.1 --secure-port "$port" \
    --cert-dir "$work/upstream-certs" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --token-auth-file "$pki/tokens.csv" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --disable-admission-plugins ServiceAccount \
    --authorization-mode RBAC \
    >"$work/upstream.log" 2>&1 &
  api_pid=$!
  wait_for kube-apiserver "$api_pid" "$work/upstream.log" \
    curl -fsS --max-time 2 --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$port/readyz"
  wait_for "namespace default" "$api_pid" "$work/upstream.log" \
    curl -fsS --max-time 2 --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$port/api/v1/namespaces/default"
  if [ "$auth" = token ]; then cred=(-token "$token"); else cred=(-cert "$pki/admin.crt" -key "$pki/admin.key"); fi
  run_load upstream "https://127.0.0.1:$port" -cacert "$pki/ca.crt" "${cred[@]}"
  stop "$api_pid"; api_pid=""
  stop "$etcd_pid"; etcd_pid=""
fi

# --- (b) kubelab's apiserver, on a fresh etcd ------------------------------------------
if [[ " $servers " == *" kubelab "* ]]; then
  start_etcd kubelab
  d="$work/kubelab"
  mkdir -p "$d"
  port="$(free_port)"
  grpc="$(free_port)"
  echo "kubelab: $kubelab_apiserver on etcd $etcd_url"
  extra=()
  if [ "$auth" = token ]; then extra=(--token-auth-file "$pki/tokens.csv"); fi
  "$kubelab_apiserver" --etcd-servers "$etcd_url" --cert-dir "$d/pki" --data-dir "$d" \
    --bind-address 127.0.0.1 --secure-port "$port" --grpc-port "$grpc" "${extra[@]}" \
    >"$work/kubelab.log" 2>&1 &
  api_pid=$!
  wait_for "kubelab apiserver" "$api_pid" "$work/kubelab.log" \
    curl -fsS --max-time 2 --cacert "$d/pki/ca.crt" "https://127.0.0.1:$port/readyz"
  # The admin credentials, from admin.kubeconfig (base64 *-data fields).
  kc="$d/pki/admin.kubeconfig"
  for f in certificate-authority client-certificate client-key; do
    sed -n "s/^ *$f-data: *//p" "$kc" | head -1 | base64 -d >"$d/admin-$f.pem"
  done
  if [ "$auth" = token ]; then cred=(-token "$token"); else cred=(-cert "$d/admin-client-certificate.pem" -key "$d/admin-client-key.pem"); fi
  run_load kubelab "https://127.0.0.1:$port" -cacert "$d/admin-certificate-authority.pem" "${cred[@]}"
  stop "$api_pid"; api_pid=""
  stop "$etcd_pid"; etcd_pid=""
fi

# --- the table --------------------------------------------------------------------------
echo
echo "Results ($auth auth; $duration per row; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| server | row | clients | ops/s | p50 ms | p99 ms | apiserver CPU ms/op | etcd CPU ms/op |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
awk '{printf "| %s | %s | %d | %.0f | %.2f | %.2f | %.3f | %.3f |\n", $2, ($3=="put" ? "raw etcd put" : "create"), $4, $6, $7, $8, $9, $10}' "$rows"
echo
echo "| server | clients | create/s | raw put/s | create/put |"
echo "|---|---:|---:|---:|---:|"
awk '{k=$2" "$4; if ($3=="put") put[k]=$6; else cr[k]=$6; if (!(k in seen)) {seen[k]=1; order[n++]=k}}
  END {for (i=0;i<n;i++) {k=order[i]; split(k,a," "); if ((k in put) && (k in cr)) printf "| %s | %d | %.0f | %.0f | %.2f |\n", a[1], a[2], cr[k], put[k], cr[k]/put[k]}}' "$rows"
