#!/usr/bin/env bash
# The benchmarks docs/benchmarks.md reports: apiserver create/get/list beside raw etcd
# put/get at 1, 10 and 50 clients (one `go test -bench` run, about a minute on 2 cores),
# then the apiserver's startup time.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME="${BENCHTIME:-2s}"
set -x
go test -run '^$' -bench BenchmarkAPIServer -benchtime "$BENCHTIME" ./apiserver/internal/server/
set +x
hack/startup-time.sh
