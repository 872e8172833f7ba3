// Package controllertest holds what the controllers' tests share: waiting for a condition
// without sleeping as an assertion, reading what event handlers queued, and a client with the
// controller-manager's identity.
package controllertest

import (
	"slices"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
)

// Wait is how long Eventually polls before it gives up. It only guards against a hang: a
// passing test returns as soon as its condition holds.
const Wait = 30 * time.Second

// Eventually polls cond every 50ms until it holds, and fails the test with what and cond's
// last word if it has not within Wait.
func Eventually(tb testing.TB, what string, cond func() (ok bool, last string)) {
	tb.Helper()
	deadline := time.Now().Add(Wait)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s: not reached within %v; last: %s", what, Wait, last)
}

// DrainQueue takes every key waiting in queue (marking each done) and returns them sorted:
// what a controller's event handlers queued. Keys still delayed are left.
func DrainQueue(queue workqueue.Interface[string]) []string {
	var keys []string
	for queue.Len() > 0 {
		k, _ := queue.Get()
		queue.Done(k)
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ControllerManagerClient is a gRPC clientset of srv as the controller-manager's identity,
// so a controller under test works with exactly what the bootstrap RBAC role grants it.
// It is closed when the test ends.
func ControllerManagerClient(tb testing.TB, srv *apiservertest.Server, userAgent string) *kube.Clientset {
	tb.Helper()
	cs, err := kube.NewForConfigFile(srv.UserKubeconfig("system:kube-controller-manager"),
		kube.Options{GRPC: true, GRPCAddress: srv.GRPCAddr(), QPS: -1, UserAgent: userAgent})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cs.Close() })
	return cs
}
