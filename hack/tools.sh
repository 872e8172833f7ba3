#!/usr/bin/env bash
# Installs what building and testing kubelab needs on a Debian machine, when it is missing:
# protoc and etcd from Debian, protoc-gen-go and protoc-gen-go-grpc at pinned versions (the
# generated code names them, so `make proto` must reproduce it byte for byte).
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.11
PROTOC_GEN_GO_GRPC_VERSION=v1.6.1

need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
command -v etcd >/dev/null || need_apt+=(etcd-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "hack/tools.sh: installing ${need_apt[*]} from Debian" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

gobin="$(go env GOPATH)/bin"
want() { [ -x "$gobin/$1" ] && go version -m "$gobin/$1" 2>/dev/null | grep -q "mod.*$2"; }
want protoc-gen-go "$PROTOC_GEN_GO_VERSION" ||
  GOWORK=off go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
want protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" ||
  GOWORK=off go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
