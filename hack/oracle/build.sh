#!/usr/bin/env bash
# Builds upstream kube-apiserver v1.34.2 (k8s.io/kubernetes/cmd/kube-apiserver, from the Go
# module proxy) and the apiload load generator into hack/oracle/bin/. Idempotent: a binary
# that is already there is kept (FORCE=1 rebuilds). This module is outside go.work and
# upstream Kubernetes is never a dependency of kubelab's own modules.
#   hack/oracle/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export GOWORK=off
bin="$here/bin"
mkdir -p "$bin"
version=v1.34.2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34 -X k8s.io/component-base/version.gitTreeState=clean"

echo "oracle: go $(go env GOVERSION), GOPROXY=$(go env GOPROXY), $(nproc) cores"
if ! curl -fsS -o /dev/null --max-time 15 "https://proxy.golang.org/k8s.io/kubernetes/@v/$version.info" 2>/dev/null; then
  echo "oracle: warning: the Go module proxy did not answer; relying on the module cache" >&2
fi

echo "oracle: go mod download (k8s.io/kubernetes $version and its dependencies; first time: minutes)"
t0=$SECONDS
go mod download -x 2>&1 | grep -c '^# get' | sed 's/^/oracle:   modules fetched: /' || true
go mod verify >/dev/null
echo "oracle:   done in $((SECONDS - t0)) s"

if [ -x "$bin/kube-apiserver" ] && [ -z "${FORCE:-}" ]; then
  echo "oracle: $bin/kube-apiserver exists ($("$bin/kube-apiserver" --version)); FORCE=1 to rebuild"
else
  echo "oracle: building kube-apiserver $version (-p 2; first time: several minutes)"
  t0=$SECONDS
  go build -p 2 -trimpath -ldflags "$ldflags" -o "$bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  echo "oracle:   built in $((SECONDS - t0)) s: $("$bin/kube-apiserver" --version)"
fi

echo "oracle: building apiload"
go build -p 2 -o "$bin/apiload" ./cmd/apiload
echo "oracle: ok: $bin/kube-apiserver, $bin/apiload"
