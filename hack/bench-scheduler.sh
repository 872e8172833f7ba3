#!/usr/bin/env bash
# The scheduler benchmark docs/benchmarks.md reports: pods scheduled per second end to end
# through the apiserver, and per-pod create→binding latency (p50/p90/p99/max).
#
# For each node count, test/e2e's TestSchedulerBenchmark starts bin/apiserver (embedded
# etcd, fsync on, fresh data dir) and bin/scheduler as real processes, creates that many
# Node objects (no kubelets), then creates PODS pods over gRPC from CLIENTS goroutines while
# a watch records each binding; then it stops the scheduler and times the same number of
# creates alone, for context; and last how fast a fresh scheduler drains those pods when it
# starts with all of them queued. Binaries and the test are built once into a temp dir.
#
#   hack/bench-scheduler.sh                  # 5000 pods onto 1000, then 5000 nodes
#   NODES=5000 RUNS=3 hack/bench-scheduler.sh
#   PROFILE=/tmp/prof hack/bench-scheduler.sh   # + a CPU profile of the scheduler per run
#                                               #   (go tool pprof -top /tmp/prof/scheduler-5000nodes.pprof)
# Env: NODES (comma-separated, default 1000,5000), PODS (5000), CLIENTS (16), RUNS (1),
#      PROFILE (dir), PROFILE_SECONDS (5), LOG_LEVEL (the scheduler's, default info).
set -euo pipefail
cd "$(dirname "$0")/../test"
export KUBELAB_SCHED_BENCH=1
export KUBELAB_SCHED_BENCH_NODES="${NODES:-1000,5000}"
export KUBELAB_SCHED_BENCH_PODS="${PODS:-5000}"
export KUBELAB_SCHED_BENCH_CLIENTS="${CLIENTS:-16}"
export KUBELAB_SCHED_BENCH_LOG_LEVEL="${LOG_LEVEL:-}"
export KUBELAB_SCHED_BENCH_PROFILE_SECONDS="${PROFILE_SECONDS:-5}"
if [ -n "${PROFILE:-}" ]; then
  mkdir -p "$PROFILE"
  KUBELAB_SCHED_BENCH_PROFILE="$(cd "$PROFILE" && pwd)"
  export KUBELAB_SCHED_BENCH_PROFILE
fi
# Build once, so every run measures the same code even while the tree changes.
work="$(mktemp -d "${TMPDIR:-/tmp}/bench-scheduler.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd .. && go build -o "$work/bin/" ./apiserver/cmd/apiserver ./scheduler/cmd/scheduler)
go test -c -o "$work/e2e.test" ./e2e/
export KUBELAB_BIN="$work/bin"
for run in $(seq "${RUNS:-1}"); do
  echo "# run $run ($(cut -d' ' -f1-3 /proc/loadavg) load): e2e.test -test.run '^TestSchedulerBenchmark\$' (nodes $KUBELAB_SCHED_BENCH_NODES, pods $KUBELAB_SCHED_BENCH_PODS, clients $KUBELAB_SCHED_BENCH_CLIENTS)" >&2
  if ! (cd e2e && "$work/e2e.test" -test.run '^TestSchedulerBenchmark$' -test.count=1 -test.v -test.timeout 60m >"$work/out" 2>&1); then
    cat "$work/out" >&2
    exit 1
  fi
  grep '^BENCH ' "$work/out"
done
