package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/kube"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/watch"
)

// clientTransports returns the same admin clientset over both transports.
func clientTransports(t *testing.T, s *Server) map[string]*kube.Clientset {
	t.Helper()
	restCS, err := kube.NewForConfigFile(s.AdminKubeconfig(), kube.Options{UserAgent: "client-test", QPS: 1000, Burst: 1000})
	if err != nil {
		t.Fatalf("REST clientset: %v", err)
	}
	grpcCS, err := kube.NewForConfigFile(s.AdminKubeconfig(), kube.Options{UserAgent: "client-test", QPS: 1000, Burst: 1000, GRPC: true, GRPCAddress: s.GRPCAddr()})
	if err != nil {
		t.Fatalf("gRPC clientset: %v", err)
	}
	t.Cleanup(func() { _ = restCS.Close(); _ = grpcCS.Close() })
	return map[string]*kube.Clientset{"rest": restCS, "grpc": grpcCS}
}

// clientEnv is what the steps of TestClientTransports share.
type clientEnv struct {
	cs       *kube.Clientset
	pods     *kube.PodClient
	name     string // the pod's name
	selector string
	created  *corev1.Pod
	events   chan watch.Event
	stop     func()
}

// TestClientTransports runs the same operations through the REST and the gRPC transport
// against a real apiserver.
func TestClientTransports(t *testing.T) {
	s := testServer(t)
	steps := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, e *clientEnv)
	}{
		{"watch from an empty list", func(t *testing.T, ctx context.Context, e *clientEnv) {
			list, err := e.pods.List(ctx, transport.ListOptions{LabelSelector: e.selector})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.GetItems()) != 0 || list.GetMetadata().GetResourceVersion() == "" {
				t.Fatalf("list = %v", list)
			}
			w, err := e.pods.Watch(ctx, transport.ListOptions{LabelSelector: e.selector, ResourceVersion: list.GetMetadata().GetResourceVersion()})
			if err != nil {
				t.Fatal(err)
			}
			e.stop = w.Stop
			go func() {
				defer close(e.events)
				for ev := range w.ResultChan() {
					e.events <- ev
				}
			}()
		}},
		{"create", func(t *testing.T, ctx context.Context, e *clientEnv) {
			pod := &corev1.Pod{
				Metadata: &metav1.ObjectMeta{Name: e.name, Labels: map[string]string{"transport": e.selector[len("transport="):]}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "nginx:1.14.2"}}},
			}
			created, err := e.pods.Create(ctx, pod)
			if err != nil {
				t.Fatal(err)
			}
			if created.GetKind() != "Pod" || created.GetMetadata().GetUid() == "" || created.GetMetadata().GetNamespace() != "default" {
				t.Fatalf("created %v", created)
			}
			if pod.GetMetadata().GetNamespace() != "" || pod.GetKind() != "" {
				t.Error("Create modified its argument")
			}
			e.created = created
			if _, err := e.pods.Create(ctx, pod); !apierrors.IsAlreadyExists(err) {
				t.Fatalf("second create: %v, want AlreadyExists", err)
			}
		}},
		{"create invalid", func(t *testing.T, ctx context.Context, e *clientEnv) {
			_, err := e.pods.Create(ctx, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: e.name + "-invalid"}, Spec: &corev1.PodSpec{}})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v, want Invalid", err)
			}
		}},
		{"get", func(t *testing.T, ctx context.Context, e *clientEnv) {
			got, err := e.pods.Get(ctx, e.name)
			if err != nil {
				t.Fatal(err)
			}
			if got.GetMetadata().GetResourceVersion() != e.created.GetMetadata().GetResourceVersion() || got.GetSpec().GetContainers()[0].GetImage() != "nginx:1.14.2" {
				t.Fatalf("got %v", got)
			}
		}},
		{"list with label selector", func(t *testing.T, ctx context.Context, e *clientEnv) {
			for sel, want := range map[string]int{e.selector: 1, e.selector + ",other=x": 0} {
				list, err := e.pods.List(ctx, transport.ListOptions{LabelSelector: sel})
				if err != nil {
					t.Fatal(err)
				}
				if len(list.GetItems()) != want {
					t.Errorf("%s: %d items, want %d", sel, len(list.GetItems()), want)
				}
			}
			all, err := e.cs.Pods("").List(ctx, transport.ListOptions{LabelSelector: e.selector})
			if err != nil || len(all.GetItems()) != 1 {
				t.Fatalf("all namespaces: %v %v", all, err)
			}
		}},
		{"update, then stale update conflicts", func(t *testing.T, ctx context.Context, e *clientEnv) {
			update := proto.Clone(e.created).(*corev1.Pod)
			update.Metadata.Annotations = map[string]string{"touched": "yes"}
			updated, err := e.pods.Update(ctx, update)
			if err != nil {
				t.Fatal(err)
			}
			if updated.GetMetadata().GetAnnotations()["touched"] != "yes" {
				t.Fatal("update lost the annotation")
			}
			if _, err := e.pods.Update(ctx, update); !apierrors.IsConflict(err) {
				t.Fatalf("stale update: %v, want Conflict", err)
			}
		}},
		{"RetryOnConflict loses no increment", func(t *testing.T, ctx context.Context, e *clientEnv) {
			const writers = 20
			backoff := retry.Backoff{Steps: 100, Duration: time.Millisecond, Factor: 1.2, Jitter: 1, Cap: 20 * time.Millisecond}
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- retry.RetryOnConflict(backoff, func() error {
						pod, err := e.pods.Get(ctx, e.name)
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(pod.GetMetadata().GetAnnotations()["counter"])
						if pod.Metadata.Annotations == nil {
							pod.Metadata.Annotations = map[string]string{}
						}
						pod.Metadata.Annotations["counter"] = strconv.Itoa(n + 1)
						_, err = e.pods.Update(ctx, pod)
						return err
					})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("writer: %v", err)
				}
			}
			pod, err := e.pods.Get(ctx, e.name)
			if err != nil {
				t.Fatal(err)
			}
			if got := pod.GetMetadata().GetAnnotations()["counter"]; got != strconv.Itoa(writers) {
				t.Fatalf("counter = %s, want %d", got, writers)
			}
		}},
		{"bind", func(t *testing.T, ctx context.Context, e *clientEnv) {
			err := e.cs.Bind(ctx, "default", &corev1.Binding{
				Metadata: &metav1.ObjectMeta{Name: e.name},
				Target:   &corev1.ObjectReference{Kind: "Node", Name: "node-1"},
			})
			if err != nil {
				t.Fatal(err)
			}
			pod, err := e.pods.Get(ctx, e.name)
			if err != nil || pod.GetSpec().GetNodeName() != "node-1" {
				t.Fatalf("after bind: %v %v", pod.GetSpec(), err)
			}
		}},
		{"update status", func(t *testing.T, ctx context.Context, e *clientEnv) {
			pod, err := e.pods.Get(ctx, e.name)
			if err != nil {
				t.Fatal(err)
			}
			pod.Status = &corev1.PodStatus{Phase: "Running"}
			pod.Spec.Containers[0].Image = "nginx:ignored"
			out, err := e.pods.UpdateStatus(ctx, pod)
			if err != nil {
				t.Fatal(err)
			}
			if out.GetStatus().GetPhase() != "Running" || out.GetSpec().GetContainers()[0].GetImage() != "nginx:1.14.2" {
				t.Fatalf("after status update: phase %q image %q", out.GetStatus().GetPhase(), out.GetSpec().GetContainers()[0].GetImage())
			}
		}},
		{"patch", func(t *testing.T, ctx context.Context, e *clientEnv) {
			out, err := e.pods.Patch(ctx, e.name, transport.MergePatch, []byte(`{"metadata":{"labels":{"patched":"yes"}}}`))
			if err != nil {
				t.Fatal(err)
			}
			if out.GetMetadata().GetLabels()["patched"] != "yes" || out.GetMetadata().GetAnnotations()["counter"] != "20" {
				t.Fatalf("after merge patch: %v", out.GetMetadata())
			}
			out, err = e.pods.Patch(ctx, e.name, transport.StrategicMerge, []byte(`{"status":{"message":"patched"}}`), "status")
			if err != nil {
				t.Fatal(err)
			}
			if out.GetStatus().GetMessage() != "patched" || out.GetStatus().GetPhase() != "Running" {
				t.Fatalf("after status patch: %v", out.GetStatus())
			}
			out, err = e.pods.Patch(ctx, e.name, transport.JSONPatch, []byte(`[{"op":"remove","path":"/metadata/labels/patched"}]`))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := out.GetMetadata().GetLabels()["patched"]; ok {
				t.Fatal("JSON patch did not remove the label")
			}
			if _, err := e.pods.Patch(ctx, e.name, transport.JSONPatch, []byte(`not json`)); !apierrors.IsBadRequest(err) {
				t.Fatalf("malformed patch: %v, want BadRequest", err)
			}
			if _, err := e.pods.Patch(ctx, "missing", transport.MergePatch, []byte(`{}`)); !apierrors.IsNotFound(err) {
				t.Fatalf("patch of a missing pod: %v, want NotFound", err)
			}
		}},
		{"delete", func(t *testing.T, ctx context.Context, e *clientEnv) {
			// A running, bound pod waits for its grace period: the pending object comes back.
			pending, err := e.pods.Delete(ctx, e.name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if pending == nil || pending.GetMetadata().GetDeletionTimestamp() == nil {
				t.Fatalf("graceful delete returned %v, want the pending pod", pending)
			}
			zero := int64(0)
			gone, err := e.pods.Delete(ctx, e.name, &metav1.DeleteOptions{GracePeriodSeconds: &zero})
			if err != nil {
				t.Fatal(err)
			}
			if gone != nil {
				t.Fatalf("immediate delete returned %v, want nil", gone)
			}
		}},
		{"not found", func(t *testing.T, ctx context.Context, e *clientEnv) {
			if _, err := e.pods.Get(ctx, e.name); !apierrors.IsNotFound(err) {
				t.Fatalf("get after delete: %v, want NotFound", err)
			}
			if _, err := e.pods.Delete(ctx, e.name, nil); !apierrors.IsNotFound(err) {
				t.Fatalf("delete after delete: %v, want NotFound", err)
			}
			if _, err := e.cs.Nodes().Get(ctx, "no-such-node"); !apierrors.IsNotFound(err) {
				t.Fatalf("get node: %v, want NotFound", err)
			}
		}},
		{"watch saw ADDED, MODIFIED, DELETED", func(t *testing.T, ctx context.Context, e *clientEnv) {
			var types []watch.EventType
			timeout := time.After(10 * time.Second)
			for done := false; !done; {
				select {
				case ev, ok := <-e.events:
					if !ok {
						t.Fatalf("watch ended early after %v", types)
					}
					if ev.Type == watch.Error {
						t.Fatalf("watch error: %v", ev.Status)
					}
					pod, isPod := ev.Object.(*corev1.Pod)
					if !isPod || pod.GetMetadata().GetName() != e.name {
						t.Fatalf("event object %v", ev.Object)
					}
					types = append(types, ev.Type)
					done = ev.Type == watch.Deleted
				case <-timeout:
					t.Fatalf("no DELETED event; saw %v", types)
				}
			}
			if types[0] != watch.Added || len(types) < 3 {
				t.Fatalf("events %v", types)
			}
			for _, ty := range types[1 : len(types)-1] {
				if ty != watch.Modified {
					t.Fatalf("events %v", types)
				}
			}
			e.stop()
			for range e.events { // Stop closes the channel
			}
		}},
		{"refused watch", func(t *testing.T, ctx context.Context, e *clientEnv) {
			if _, err := e.pods.Watch(ctx, transport.ListOptions{ResourceVersion: "not-a-number"}); !apierrors.IsBadRequest(err) {
				t.Fatalf("got %v, want BadRequest", err)
			}
		}},
	}
	for name, cs := range clientTransports(t, s) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			e := &clientEnv{cs: cs, pods: cs.Pods("default"), name: "client-" + name, selector: "transport=" + name, events: make(chan watch.Event, 200)}
			defer func() {
				if e.stop != nil {
					e.stop()
				}
			}()
			for _, step := range steps {
				if !t.Run(step.name, func(t *testing.T) { step.run(t, ctx, e) }) {
					t.FailNow()
				}
			}
		})
	}
}

// TestClientGRPCIdentity checks NewGRPC with a certificate of its own, and that a caller
// without one is refused as REST would refuse it.
func TestClientGRPCIdentity(t *testing.T) {
	s := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	certPEM, keyPEM, err := s.Bundle().IssueClientCert("client-test", []string{"system:masters"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kube.NewGRPC(s.GRPCAddr(), &tls.Config{RootCAs: s.Bundle().CAPool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.Namespaces().Get(ctx, "default"); err != nil {
		t.Fatalf("get namespace: %v", err)
	}
	anon, err := kube.NewGRPC(s.GRPCAddr(), &tls.Config{RootCAs: s.Bundle().CAPool, MinVersion: tls.VersionTLS12}, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.Namespaces().Get(ctx, "default"); !apierrors.IsUnauthorized(err) && !apierrors.IsForbidden(err) {
		t.Fatalf("anonymous get: %v, want Unauthorized or Forbidden", err)
	}
}

// TestClientGRPCPatchRefusals checks what the gRPC Patch rpc refuses: an unsupported patch
// type (415) and fields the schema lacks (strict, 400).
func TestClientGRPCPatchRefusals(t *testing.T) {
	s := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := clientTransports(t, s)["grpc"]
	lease := cs.Leases("default")
	holder := "me"
	if _, err := lease.Create(ctx, leaseObject("l1", holder)); err != nil {
		t.Fatal(err)
	}
	_, err := lease.Patch(ctx, "l1", transport.PatchType("application/apply-patch+yaml"), []byte(`{}`))
	if apierrors.CodeOf(err) != 415 {
		t.Fatalf("apply patch: %v, want 415", err)
	}
	_, err = lease.Patch(ctx, "l1", transport.MergePatch, []byte(`{"spec":{"noSuchField":1}}`))
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("unknown field: %v, want BadRequest", err)
	}
	out, err := lease.Patch(ctx, "l1", transport.MergePatch, []byte(`{"spec":{"holderIdentity":"you"}}`))
	if err != nil || out.GetSpec().GetHolderIdentity() != "you" {
		t.Fatalf("patch lease: %v %v", out, err)
	}
	if got := fmt.Sprint(out.GetKind(), " ", out.GetApiVersion()); got != "Lease coordination.k8s.io/v1" {
		t.Fatalf("kind/apiVersion %q", got)
	}
}

func leaseObject(name, holder string) *coordinationv1.Lease {
	return &coordinationv1.Lease{Metadata: &metav1.ObjectMeta{Name: name}, Spec: &coordinationv1.LeaseSpec{HolderIdentity: &holder}}
}
