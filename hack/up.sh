#!/usr/bin/env bash
# Starts an apiserver on embedded etcd in DATA_DIR (in the background, logging to
# DATA_DIR/apiserver.log), waits until it serves, then creates the example Deployment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/.local}"
mkdir -p "$data"
kubeconfig="$data/pki/admin.kubeconfig"
kubectl="${KUBECTL:-kubectl}"

if [ -f "$data/apiserver.pid" ] && kill -0 "$(cat "$data/apiserver.pid")" 2>/dev/null; then
  echo "apiserver already running (pid $(cat "$data/apiserver.pid"))"
else
  "$root/bin/apiserver" --data-dir "$data" --cert-dir "$data/pki" >"$data/apiserver.log" 2>&1 &
  echo $! >"$data/apiserver.pid"
  printf 'starting apiserver (log: %s) ' "$data/apiserver.log"
  for _ in $(seq 1 100); do
    if [ -f "$kubeconfig" ] && "$kubectl" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; then
      break
    fi
    if ! kill -0 "$(cat "$data/apiserver.pid")" 2>/dev/null; then
      echo; echo "apiserver exited:"; tail -20 "$data/apiserver.log"; exit 1
    fi
    printf '.'; sleep 0.1
  done
  echo " ready"
fi

# kubectl's client-side validation needs OpenAPI, which kubelab does not serve yet: the
# server validates instead.
"$kubectl" --kubeconfig "$kubeconfig" apply --validate=false -f "$root/deploy/examples/nginx-deployment.yaml" 2>/dev/null ||
  "$kubectl" --kubeconfig "$kubeconfig" create --validate=false -f "$root/deploy/examples/nginx-deployment.yaml" 2>&1 | grep -v AlreadyExists || true
"$kubectl" --kubeconfig "$kubeconfig" get deployments -A
echo
echo "kubeconfig: $kubeconfig"
echo "try: kubectl --kubeconfig $kubeconfig get deployment example-deployment -o yaml"
