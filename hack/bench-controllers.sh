#!/usr/bin/env bash
# The controller-manager benchmark docs/benchmarks.md reports: wall time from creating one
# 100-replica Deployment to 100 pods existing, and from creating 300 Deployments of 3
# replicas to 900 pods, with bin/apiserver and bin/controller-manager run as processes
# (test/e2e TestControllerManagerBenchmark; each scenario on a fresh apiserver).
#
#   hack/bench-controllers.sh                        # the binary's default flags (20 QPS, burst 30)
#   KUBELAB_BENCH_CM_FLAGS="--kube-api-qps=500 --kube-api-burst=1000" hack/bench-controllers.sh
#
# KUBELAB_BIN=DIR uses prebuilt binaries; otherwise the e2e suite builds them.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "loadavg before: $(cat /proc/loadavg)"
set -x
(cd test && KUBELAB_BENCH=1 go test ./e2e/ -run '^TestControllerManagerBenchmark$' -count=1 -timeout 20m -v) | grep -E '^(BENCH-CM|--- |=== RUN|ok|FAIL|PASS)|controllermanager_test.go'
set +x
echo "loadavg after: $(cat /proc/loadavg)"
