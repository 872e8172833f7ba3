package rootcacertpublisher

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
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

var cmGVK = runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "ConfigMap"}

func namespace(name, phase string) *corev1.Namespace {
	ns := &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: name}, Status: &corev1.NamespaceStatus{Phase: phase}}
	if phase == "Terminating" {
		ns.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 1}
	}
	return ns
}

func configMap(ns, name string, data map[string]string, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations}, Data: data}
}

func fixture(t *testing.T, ca []byte, objs ...runtime.Object) (*Publisher, *controllertest.Fake) {
	t.Helper()
	f := controllertest.NewFake(t, objs...)
	return publisherOn(t, f, ca), f
}

// publisherOn starts a publisher on f, whose Client the test may have replaced.
func publisherOn(t *testing.T, f *controllertest.Fake, ca []byte) *Publisher {
	t.Helper()
	p, err := NewPublisher(Config{Client: f.Client, Namespaces: f.Informers.Namespaces().Informer(),
		ConfigMaps: f.Informers.ConfigMaps().Informer(), RootCA: ca, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.queue.ShutDown)
	f.Start(t, p.synced...)
	return p
}

// published is every stored kube-root-ca.crt by namespace.
func published(tr *cachetest.Transport) map[string]*corev1.ConfigMap {
	out := map[string]*corev1.ConfigMap{}
	for _, o := range tr.Objects(cmGVK) {
		if o.GetMetadata().GetName() == ConfigMapName {
			out[o.GetMetadata().GetNamespace()] = o.(*corev1.ConfigMap)
		}
	}
	return out
}

func TestSync(t *testing.T) {
	ca := controllertest.CACert(t, "cluster-ca")
	good := map[string]string{DataKey: string(ca)}
	described := map[string]string{DescriptionAnnotation: Description}
	p, f := fixture(t, ca,
		namespace("new", "Active"), namespace("edited", "Active"), namespace("undescribed", "Active"), namespace("fine", "Active"),
		namespace("gone", "Terminating"),
		configMap("edited", ConfigMapName, map[string]string{DataKey: "tampered", "extra": "x"}, map[string]string{"team": "a", DescriptionAnnotation: Description}),
		configMap("undescribed", ConfigMapName, good, nil),
		configMap("fine", ConfigMapName, good, described),
		configMap("new", "other", map[string]string{"k": "v"}, nil))
	fineRV := published(f.Transport)["fine"].GetMetadata().GetResourceVersion()
	for _, ns := range []string{"new", "edited", "undescribed", "fine", "gone", "missing"} {
		if err := p.sync(f.Ctx, ns); err != nil {
			t.Fatalf("sync %s: %v", ns, err)
		}
	}
	got := published(f.Transport)
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"edited", "fine", "new", "undescribed"}) {
		t.Fatalf("published in %q; want every active namespace and no other", keys)
	}
	for ns, cm := range got {
		if !maps.Equal(cm.GetData(), good) || cm.GetMetadata().GetAnnotations()[DescriptionAnnotation] != Description {
			t.Errorf("%s: data %q, annotations %q", ns, cm.GetData(), cm.GetMetadata().GetAnnotations())
		}
	}
	if got["edited"].GetMetadata().GetAnnotations()["team"] != "a" {
		t.Errorf("edited: another annotation was dropped: %q", got["edited"].GetMetadata().GetAnnotations())
	}
	if rv := got["fine"].GetMetadata().GetResourceVersion(); rv != fineRV {
		t.Errorf("fine was rewritten (resourceVersion %s, was %s)", rv, fineRV)
	}
	if other := f.Transport.Objects(cmGVK); len(other) != 5 {
		t.Errorf("%d configmaps stored, want the 4 published and new/other", len(other))
	}
}

// TestHandlersEnqueueNamespaces: the initial list queues every namespace; a change to or
// the deletion of a kube-root-ca.crt queues its namespace, other ConfigMaps queue nothing.
func TestHandlersEnqueueNamespaces(t *testing.T) {
	ca := controllertest.CACert(t, "cluster-ca")
	p, f := fixture(t, ca, namespace("a", "Active"), namespace("b", "Active"),
		configMap("a", "other", nil, nil), configMap("b", ConfigMapName, map[string]string{DataKey: string(ca)}, nil))
	if got, want := controllertest.DrainQueue(p.queue), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("queued %q after the initial list, want %q", got, want)
	}
	queued := func(want ...string) {
		t.Helper()
		controllertest.Eventually(t, "a key queued", func() (bool, string) { return p.queue.Len() > 0, "" })
		if got := controllertest.DrainQueue(p.queue); !slices.Equal(got, want) {
			t.Fatalf("queued %q, want %q", got, want)
		}
	}
	// One informer delivers in order: had the change to a/other queued "a", it would be
	// there by the time "b" is.
	f.Transport.UpdateObject(configMap("a", "other", map[string]string{"k": "v"}, nil))
	f.Transport.UpdateObject(configMap("b", ConfigMapName, map[string]string{DataKey: "tampered"}, nil))
	queued("b")
	f.Transport.DeleteObject(configMap("b", ConfigMapName, nil, nil))
	queued("b")
	f.Transport.UpdateObject(namespace("a", "Terminating"))
	queued("a")
}

// refuseCreates answers every create with err.
type refuseCreates struct {
	*cachetest.Transport
	err error
}

func (r refuseCreates) Create(context.Context, transport.Ref, runtime.Object) (runtime.Object, error) {
	return nil, r.err
}

// A create refused because the namespace is gone or terminating (the cache was behind) is
// dropped, as upstream: nothing is to be published there. Any other refusal is retried.
func TestSyncRefusedCreates(t *testing.T) {
	cms := apierrors.GroupResource{Resource: "configmaps"}
	for _, tc := range []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"namespace terminating", apierrors.NewNamespaceTerminating(cms, ConfigMapName, "new"), false},
		{"namespace gone", apierrors.NewNotFound(apierrors.GroupResource{Resource: "namespaces"}, "new"), false},
		{"already exists", apierrors.NewAlreadyExists(cms, ConfigMapName), false},
		{"forbidden", apierrors.NewForbidden(cms, ConfigMapName, errors.New("exceeded quota")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := controllertest.NewFake(t, namespace("new", "Active"))
			f.Client = kube.New(refuseCreates{f.Transport, tc.err})
			p := publisherOn(t, f, controllertest.CACert(t, "cluster-ca"))
			if err := p.sync(f.Ctx, "new"); (err != nil) != tc.wantErr {
				t.Fatalf("sync = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}

func TestNewRefusesABadBundle(t *testing.T) {
	for _, tc := range []struct {
		name, bundle, want string
	}{
		{"empty", "", "holds no PEM certificate"},
		{"a key", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", `holds a "EC PRIVATE KEY" PEM block`},
		{"garbage certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := controllertest.NewFake(t)
			_, err := NewPublisher(Config{Client: f.Client, Namespaces: f.Informers.Namespaces().Informer(),
				ConfigMaps: f.Informers.ConfigMaps().Informer(), RootCA: []byte(tc.bundle)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewPublisher error = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
