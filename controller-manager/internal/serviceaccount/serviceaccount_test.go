package serviceaccount

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var saGVK = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "ServiceAccount"}

func namespace(name, phase string) *corev1.Namespace {
	ns := &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: name, Uid: "uid-" + name}, Status: &corev1.NamespaceStatus{Phase: phase}}
	if phase == "Terminating" {
		ns.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 1}
	}
	return ns
}

func serviceAccount(ns, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Uid: "uid-" + ns + "-" + name}}
}

func fixture(t *testing.T, f *controllertest.Fake) *Controller {
	t.Helper()
	c, err := NewController(Config{Client: f.Client, Namespaces: f.Informers.Namespaces().Informer(),
		ServiceAccounts: f.Informers.ServiceAccounts().Informer(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	f.Start(t, c.synced...)
	return c
}

// accounts lists the stored service accounts as namespace/name (uid), uids telling a
// re-created account from one left alone.
func accounts(tr *cachetest.Transport) []string {
	var out []string
	for _, o := range tr.Objects(saGVK) {
		out = append(out, o.GetMetadata().GetNamespace()+"/"+o.GetMetadata().GetName()+" ("+o.GetMetadata().GetUid()+")")
	}
	return out
}

func TestSyncCreatesDefaultInActiveNamespaces(t *testing.T) {
	f := controllertest.NewFake(t, namespace("new", "Active"), namespace("has", "Active"), namespace("gone", "Terminating"),
		serviceAccount("has", "default"), serviceAccount("new", "builder"))
	c := fixture(t, f)
	for _, ns := range []string{"new", "has", "gone", "missing"} {
		if err := c.sync(f.Ctx, ns); err != nil {
			t.Fatalf("sync %s: %v", ns, err)
		}
	}
	want := []string{"has/default (uid-has-default)", "new/builder (uid-new-builder)", "new/default ()"}
	if got := accounts(f.Transport); !slices.Equal(got, want) {
		t.Errorf("service accounts = %q, want %q", got, want)
	}
}

// refuseCreates answers every create with err.
type refuseCreates struct {
	*cachetest.Transport
	err func(gr apierrors.GroupResource, name string) error
}

func (r refuseCreates) Create(_ context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	return nil, r.err(apierrors.GroupResource{Resource: ref.Mapping.Plural}, obj.GetMetadata().GetName())
}

// A create refused with AlreadyExists (another writer, or this controller before a restart,
// created the account after the cache was filled) or with NamespaceTerminating (the
// namespace began terminating since) is no failure; any other refusal is, to be retried.
func TestSyncRefusedCreates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     func(gr apierrors.GroupResource, name string) error
		wantErr bool
	}{
		{"already exists", func(gr apierrors.GroupResource, name string) error { return apierrors.NewAlreadyExists(gr, name) }, false},
		{"namespace terminating", func(gr apierrors.GroupResource, name string) error {
			return apierrors.NewNamespaceTerminating(gr, name, "new")
		}, false},
		{"forbidden", func(gr apierrors.GroupResource, name string) error {
			return apierrors.NewForbidden(gr, name, errors.New("exceeded quota"))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := controllertest.NewFake(t, namespace("new", "Active"))
			f.Client = kube.New(refuseCreates{f.Transport, tc.err})
			c := fixture(t, f)
			if err := c.sync(f.Ctx, "new"); (err != nil) != tc.wantErr {
				t.Fatalf("sync = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}

// TestHandlersEnqueueNamespaces: every namespace is queued from the initial list (so a
// restart looks at all of them), a namespace change queues it, and so does the deletion of
// its default service account, but not of another one.
func TestHandlersEnqueueNamespaces(t *testing.T) {
	f := controllertest.NewFake(t, namespace("a", "Active"), namespace("b", "Active"),
		serviceAccount("a", "builder"), serviceAccount("b", "default"))
	c := fixture(t, f)
	if got, want := controllertest.DrainQueue(c.queue), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("queued %q after the initial list, want %q", got, want)
	}
	// One informer delivers in order: had builder's deletion queued "a", it would be
	// there by the time "b" is.
	f.Transport.DeleteObject(serviceAccount("a", "builder"))
	f.Transport.DeleteObject(serviceAccount("b", "default"))
	queued := func(want ...string) {
		t.Helper()
		controllertest.Eventually(t, "a key queued", func() (bool, string) { return c.queue.Len() > 0, "" })
		if got := controllertest.DrainQueue(c.queue); !slices.Equal(got, want) {
			t.Fatalf("queued %q, want %q", got, want)
		}
	}
	queued("b")
	f.Transport.UpdateObject(namespace("a", "Terminating"))
	queued("a")
}
