// Package controllertest holds what the controllers' tests share: waiting for a condition
// without sleeping as an assertion, reading what event handlers queued, a fake event
// recorder, and a client with the controller-manager's identity.
package controllertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/cache"
	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
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

// Fake is an apiserver-less cluster for a controller's unit tests: an in-memory transport
// holding the test's objects, a clientset and a shared informer factory over it.
type Fake struct {
	Transport *cachetest.Transport
	Client    *kube.Clientset
	Informers *informers.SharedInformerFactory
	// Ctx ends when the test does.
	Ctx context.Context
}

// NewFake stores objs in a new fake. Build the controller on f.Informers, then call Start.
func NewFake(tb testing.TB, objs ...runtime.Object) *Fake {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	tb.Cleanup(cancel)
	tr := cachetest.New()
	for _, o := range objs {
		tr.AddObject(o)
	}
	return &Fake{Transport: tr, Client: kube.New(tr), Ctx: ctx,
		Informers: informers.NewSharedInformerFactory(tr, 0, informers.WithLogger(slog.New(slog.DiscardHandler)))}
}

// Start runs the informers until the test ends and waits for synced (the informers' and the
// controller's handler registrations), so the controller's caches hold every stored object.
func (f *Fake) Start(tb testing.TB, synced ...func() bool) {
	tb.Helper()
	f.Informers.Start(f.Ctx)
	tb.Cleanup(f.Informers.Shutdown)
	if !cache.WaitForCacheSync(f.Ctx, synced...) {
		tb.Fatal("caches did not sync")
	}
}

// CACert is a new self-signed CA certificate, PEM encoded, named cn: a bundle for the
// root-ca-cert-publisher to publish.
func CACert(tb testing.TB, cn string) []byte {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Event is one Event a controller recorded, as Recorder keeps it.
type Event struct {
	// Object is the involved object's "namespace/name".
	Object                string
	Type, Reason, Message string
}

// Recorder is a fake event recorder: it keeps what controllers record, in order, so a unit
// test can compare the Events a sync produced. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []Event
	all    []Event // every event ever recorded, for WaitFor
}

// Eventf records an event, formatted as the real recorder formats it.
func (r *Recorder) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	m := obj.GetMetadata()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := Event{Object: m.GetNamespace() + "/" + m.GetName(), Type: eventType, Reason: reason, Message: fmt.Sprintf(format, args...)}
	r.events = append(r.events, e)
	r.all = append(r.all, e)
}

// WaitFor waits until an event of reason has been recorded on object ("namespace/name",
// "/name" for a cluster-scoped one), taken or not, and returns the first such event.
func (r *Recorder) WaitFor(t testing.TB, object, reason string) Event {
	t.Helper()
	var found Event
	Eventually(t, "event "+reason+" on "+object, func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.all {
			if e.Object == object && e.Reason == reason {
				found = e
				return true, ""
			}
		}
		return false, fmt.Sprint(r.all)
	})
	return found
}

// Take returns the events recorded since the last Take and forgets them.
func (r *Recorder) Take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// Subsets renders the subsets of ep, one string each: "ready IPs | not-ready IPs |
// name:port,…", for tests to compare Endpoints at a glance.
func Subsets(ep *corev1.Endpoints) []string {
	var out []string
	for _, s := range ep.GetSubsets() {
		var r, nr, ps []string
		for _, a := range s.GetAddresses() {
			r = append(r, a.GetIp())
		}
		for _, a := range s.GetNotReadyAddresses() {
			nr = append(nr, a.GetIp())
		}
		for _, p := range s.GetPorts() {
			ps = append(ps, fmt.Sprintf("%s:%d", p.GetName(), p.GetPort()))
		}
		out = append(out, strings.Join(r, ",")+" | "+strings.Join(nr, ",")+" | "+strings.Join(ps, ","))
	}
	return out
}
