#!/usr/bin/env bash
# The benchmarks docs/benchmarks.md reports: apiserver create/get/list beside raw etcd
# put/get at 1, 10 and 50 clients (one `go test -bench` run, about a minute on 2 cores),
# then the apiserver's startup time.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME="${BENCHTIME:-2s}"
set -x
go test -run '^$' -bench 'BenchmarkAPIServer|BenchmarkHTTPSFloor' -benchtime "$BENCHTIME" ./apiserver/internal/server/
set +x
hack/startup-time.sh

# Every other scripted benchmark, each documented in docs/benchmarks.md. `make bench`
# runs them all; each can also run alone.
hack/bench-controllers.sh
hack/bench-scheduler.sh
echo "kubelet pod start-up: cd kubelet && KUBELAB_BENCH=1 go test -run TestBenchPodStartup -count=1 -v ."
