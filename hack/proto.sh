#!/usr/bin/env bash
# Regenerates the Go code for every .proto file under proto/api, and proto/apidocs/docs.pb.go,
# the proto comments protoc-gen-go drops (the apiserver's OpenAPI descriptions). The generated
# files are committed; `make proto-check` fails when they are stale.
set -euo pipefail
cd "$(dirname "$0")/../proto"
export PATH="$(go env GOPATH)/bin:$PATH"
mkdir -p apidocs
find api apidocs -name '*.pb.go' -delete
protos=$(find api -name '*.proto' | sort)
protoc -I . \
  --go_out=. --go_opt=module=kubelab.io/proto \
  --go-grpc_out=. --go-grpc_opt=module=kubelab.io/proto \
  $protos
descriptors="$(mktemp)"
trap 'rm -f "$descriptors"' EXIT
protoc -I . --include_source_info --descriptor_set_out="$descriptors" $protos
go run ./internal/gendocs -in "$descriptors" -out apidocs/docs.pb.go
