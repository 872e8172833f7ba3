#!/usr/bin/env bash
# Regenerates the Go code for every .proto file under proto/api. The generated files are
# committed; `make proto-check` fails when they are stale.
set -euo pipefail
cd "$(dirname "$0")/../proto"
export PATH="$(go env GOPATH)/bin:$PATH"
find api -name '*.pb.go' -delete
protoc -I . \
  --go_out=. --go_opt=module=kubelab.io/proto \
  --go-grpc_out=. --go-grpc_opt=module=kubelab.io/proto \
  $(find api -name '*.proto' | sort)
