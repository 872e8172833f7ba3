#!/usr/bin/env bash
# Measures how long bin/apiserver (embedded etcd included) takes from exec until /readyz
# answers 200 over HTTPS: a cold start on a fresh data dir (etcd bootstrap, CA and
# certificates generated, namespaces created), then warm restarts on the same dir.
# Polls every 20 ms with curl, so figures are to within ~20-30 ms.
#   hack/startup-time.sh [RUNS]     (RUNS warm restarts, default 3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-3}"
bin="$root/bin/apiserver"
[ -x "$bin" ] || make -C "$root" build >/dev/null

data="$(mktemp -d "${TMPDIR:-/tmp}/kubelab-startup.XXXXXX")"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_and_wait LABEL: starts the apiserver on $data, prints the time to ready, stops it.
start_and_wait() {
  local port grpc t0 t1
  port="$(free_port)"; grpc="$(free_port)"
  t0="$(now_ms)"
  "$bin" --data-dir "$data" --cert-dir "$data/pki" --bind-address 127.0.0.1 \
    --secure-port "$port" --grpc-port "$grpc" --log-level warn >>"$data/apiserver.log" 2>&1 &
  pid=$!
  until [ -f "$data/pki/ca.crt" ] &&
    curl -sf -o /dev/null --max-time 1 --cacert "$data/pki/ca.crt" "https://127.0.0.1:$port/readyz"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "apiserver exited:" >&2; tail -20 "$data/apiserver.log" >&2; exit 1
    fi
    if [ $(($(now_ms) - t0)) -gt 30000 ]; then echo "not ready after 30 s" >&2; exit 1; fi
    sleep 0.02
  done
  t1="$(now_ms)"
  printf '%-14s %5d ms\n' "$1" $((t1 - t0))
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

echo "apiserver startup, exec until /readyz = 200 ($(nproc) cores, data dir $data):"
start_and_wait "cold start"
for i in $(seq 1 "$runs"); do start_and_wait "warm restart $i"; done
