package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	servicev1 "kubelab.io/proto/api/service/v1"
	"kubelab.io/proto/apierrors"
)

// grpcClient dials the server's gRPC port trusting its CA, as test-user in system:masters,
// or with no client certificate when anonymous.
func grpcClient(t testing.TB, s *Server, anonymous bool) servicev1.ResourcesClient {
	t.Helper()
	cfg := &tls.Config{RootCAs: s.Bundle().CAPool, MinVersion: tls.VersionTLS12}
	if !anonymous {
		certPEM, keyPEM, err := s.Bundle().IssueClientCert("test-user", []string{"system:masters"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return servicev1.NewResourcesClient(conn)
}

func podsRef(name string) *servicev1.ResourceRef {
	return &servicev1.ResourceRef{Version: "v1", Resource: "pods", Namespace: "default", Name: name}
}

func mustPack(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func unpackPod(t *testing.T, a *anypb.Any) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	if err := a.UnmarshalTo(pod); err != nil {
		t.Fatalf("unpack pod: %v", err)
	}
	return pod
}

// wantCode fails unless err is a gRPC error with code, and returns the Status it carries.
func wantCode(t *testing.T, err error, code codes.Code) *metav1.Status {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("got code %v (%v), want %v", got, err, code)
	}
	return apierrors.StatusFromGRPC(err)
}

func TestGRPCResources(t *testing.T) {
	s := testServer(t)
	c := grpcClient(t, s, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const selector = "app=grpc-test"

	// Watch from the resourceVersion of an empty list, so every change below is seen.
	empty, err := c.List(ctx, &servicev1.ListRequest{Ref: podsRef(""), LabelSelector: selector})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	emptyList := &corev1.PodList{}
	if err := empty.GetList().UnmarshalTo(emptyList); err != nil {
		t.Fatal(err)
	}
	stream, err := c.Watch(ctx, &servicev1.WatchRequest{Ref: podsRef(""), LabelSelector: selector,
		ResourceVersion: emptyList.GetMetadata().GetResourceVersion()})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	events := make(chan *servicev1.WatchEvent, 100)
	go func() {
		defer close(events)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			events <- ev
		}
	}()

	// Create, with kind and apiVersion left for the server to fill.
	pod := &corev1.Pod{
		Metadata: &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "grpc-test"}},
		Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "nginx:1.14.2"}}},
	}
	created, err := c.Create(ctx, &servicev1.CreateRequest{Ref: podsRef(""), Object: mustPack(t, pod)})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	createdPod := unpackPod(t, created.GetObject())
	if createdPod.GetKind() != "Pod" || createdPod.GetMetadata().GetUid() == "" || createdPod.GetMetadata().GetNamespace() != "default" {
		t.Fatalf("created pod = %v", createdPod)
	}
	_, err = c.Create(ctx, &servicev1.CreateRequest{Ref: podsRef(""), Object: mustPack(t, pod)})
	if st := wantCode(t, err, codes.AlreadyExists); st.GetReason() != apierrors.ReasonAlreadyExists || st.GetCode() != 409 {
		t.Errorf("second create: status %v", st)
	}

	got, err := c.Get(ctx, &servicev1.GetRequest{Ref: podsRef("web")})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if rv := unpackPod(t, got.GetObject()).GetMetadata().GetResourceVersion(); rv != createdPod.GetMetadata().GetResourceVersion() {
		t.Errorf("get resourceVersion %s, created %s", rv, createdPod.GetMetadata().GetResourceVersion())
	}

	for sel, want := range map[string]int{selector: 1, "app=other": 0} {
		resp, err := c.List(ctx, &servicev1.ListRequest{Ref: podsRef(""), LabelSelector: sel})
		if err != nil {
			t.Fatalf("list %s: %v", sel, err)
		}
		list := &corev1.PodList{}
		if err := resp.GetList().UnmarshalTo(list); err != nil {
			t.Fatal(err)
		}
		if len(list.GetItems()) != want {
			t.Errorf("list %s: %d items, want %d", sel, len(list.GetItems()), want)
		}
	}

	// Update, then again from the stale resourceVersion: Aborted, with the Conflict Status.
	update := proto.Clone(createdPod).(*corev1.Pod)
	update.Metadata.Annotations = map[string]string{"touched": "yes"}
	updated, err := c.Update(ctx, &servicev1.UpdateRequest{Ref: podsRef("web"), Object: mustPack(t, update)})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if unpackPod(t, updated.GetObject()).GetMetadata().GetAnnotations()["touched"] != "yes" {
		t.Errorf("update lost the annotation")
	}
	_, err = c.Update(ctx, &servicev1.UpdateRequest{Ref: podsRef("web"), Object: mustPack(t, update)})
	st := wantCode(t, err, codes.Aborted)
	if st.GetReason() != apierrors.ReasonConflict || st.GetCode() != 409 || st.GetDetails().GetName() != "web" {
		t.Errorf("stale update: status %v", st)
	}
	if !apierrors.IsConflict(apierrors.FromGRPC(err)) {
		t.Errorf("FromGRPC(%v) is not a conflict", err)
	}

	// Bind.
	if _, err := c.Bind(ctx, &servicev1.BindRequest{Ref: podsRef("web"), Binding: &corev1.Binding{
		Metadata: &metav1.ObjectMeta{Name: "web"},
		Target:   &corev1.ObjectReference{Kind: "Node", Name: "node-1"},
	}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	got, err = c.Get(ctx, &servicev1.GetRequest{Ref: podsRef("web")})
	if err != nil {
		t.Fatal(err)
	}
	bound := unpackPod(t, got.GetObject())
	if bound.GetSpec().GetNodeName() != "node-1" {
		t.Fatalf("after bind nodeName = %q", bound.GetSpec().GetNodeName())
	}

	// UpdateStatus changes the status and nothing else.
	statusUpdate := proto.Clone(bound).(*corev1.Pod)
	statusUpdate.Status = &corev1.PodStatus{Phase: "Running"}
	statusUpdate.Spec.Containers[0].Image = "nginx:changed"
	statusUpdate.Metadata.Labels["extra"] = "label"
	resp, err := c.UpdateStatus(ctx, &servicev1.UpdateRequest{Ref: podsRef("web"), Object: mustPack(t, statusUpdate)})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	afterStatus := unpackPod(t, resp.GetObject())
	if afterStatus.GetStatus().GetPhase() != "Running" {
		t.Errorf("phase = %q, want Running", afterStatus.GetStatus().GetPhase())
	}
	if img := afterStatus.GetSpec().GetContainers()[0].GetImage(); img != "nginx:1.14.2" {
		t.Errorf("status update changed the image to %q", img)
	}
	if _, ok := afterStatus.GetMetadata().GetLabels()["extra"]; ok {
		t.Errorf("status update changed the labels")
	}

	// Delete at once.
	del, err := c.Delete(ctx, &servicev1.DeleteRequest{Ref: podsRef("web"), Options: &metav1.DeleteOptions{GracePeriodSeconds: proto.Int64(0)}})
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if !del.GetDeleted() || unpackPod(t, del.GetObject()).GetMetadata().GetName() != "web" {
		t.Errorf("delete = %v", del)
	}
	_, err = c.Get(ctx, &servicev1.GetRequest{Ref: podsRef("web")})
	if st := wantCode(t, err, codes.NotFound); st.GetReason() != apierrors.ReasonNotFound {
		t.Errorf("get after delete: status %v", st)
	}

	// The watch saw it all: ADDED, a MODIFIED per write (update, bind, status), DELETED.
	want := []string{"ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"}
	var seen []string
	timeout := time.After(10 * time.Second)
	for len(seen) < len(want) {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch ended after %v", seen)
			}
			if ev.GetType() == "ERROR" {
				t.Fatalf("watch error: %v", ev.GetStatus())
			}
			if p := unpackPod(t, ev.GetObject()); p.GetMetadata().GetName() != "web" {
				t.Errorf("%s event for %q", ev.GetType(), p.GetMetadata().GetName())
			}
			seen = append(seen, ev.GetType())
		case <-timeout:
			t.Fatalf("watch saw %v, want %v", seen, want)
		}
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("watch saw %v, want %v", seen, want)
		}
	}
}

func TestGRPCErrors(t *testing.T) {
	s := testServer(t)
	c := grpcClient(t, s, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A Deployment sent to pods.
	d := &appsv1.Deployment{Metadata: &metav1.ObjectMeta{Name: "d"}}
	_, err := c.Create(ctx, &servicev1.CreateRequest{Ref: podsRef(""), Object: mustPack(t, d)})
	if st := wantCode(t, err, codes.InvalidArgument); st.GetReason() != apierrors.ReasonBadRequest || st.GetCode() != 400 {
		t.Errorf("wrong kind: status %v", st)
	}
	// A Pod whose apiVersion contradicts its packed type.
	pod := &corev1.Pod{Kind: "Pod", ApiVersion: "apps/v1", Metadata: &metav1.ObjectMeta{Name: "p"}}
	_, err = c.Create(ctx, &servicev1.CreateRequest{Ref: podsRef(""), Object: mustPack(t, pod)})
	wantCode(t, err, codes.InvalidArgument)
	// No object at all.
	_, err = c.Create(ctx, &servicev1.CreateRequest{Ref: podsRef("")})
	wantCode(t, err, codes.InvalidArgument)
	// An invalid pod: 422 Invalid travels as InvalidArgument with its causes.
	_, err = c.Create(ctx, &servicev1.CreateRequest{Ref: podsRef(""), Object: mustPack(t, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}})})
	if st := wantCode(t, err, codes.InvalidArgument); st.GetReason() != apierrors.ReasonInvalid || len(st.GetDetails().GetCauses()) == 0 {
		t.Errorf("invalid pod: status %v", st)
	}
	// An unknown resource.
	_, err = c.Get(ctx, &servicev1.GetRequest{Ref: &servicev1.ResourceRef{Version: "v1", Resource: "widgets", Name: "w"}})
	wantCode(t, err, codes.NotFound)
	// A list that names an object.
	_, err = c.List(ctx, &servicev1.ListRequest{Ref: podsRef("web")})
	wantCode(t, err, codes.InvalidArgument)
	// Binding is served on pods only.
	_, err = c.Bind(ctx, &servicev1.BindRequest{Ref: &servicev1.ResourceRef{Version: "v1", Resource: "nodes", Name: "n"}, Binding: &corev1.Binding{}})
	wantCode(t, err, codes.NotFound)

	// No client certificate: every call, unary or stream, is Unauthenticated.
	anon := grpcClient(t, s, true)
	_, err = anon.Get(ctx, &servicev1.GetRequest{Ref: podsRef("web")})
	if st := wantCode(t, err, codes.Unauthenticated); st.GetReason() != apierrors.ReasonUnauthorized || st.GetCode() != 401 {
		t.Errorf("anonymous: status %v", st)
	}
	stream, err := anon.Watch(ctx, &servicev1.WatchRequest{Ref: podsRef("")})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unauthenticated)
}

// TestGRPCWatchEnds checks that a watch ends with its timeout, cleanly, and that Close
// does not wait for open watches.
func TestGRPCWatchEnds(t *testing.T) {
	s := testServer(t)
	c := grpcClient(t, s, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	stream, err := c.Watch(ctx, &servicev1.WatchRequest{Ref: podsRef(""), TimeoutSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("watch ended with %v, want a clean end", err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("1s watch lasted %v", d)
	}

	if _, err := c.Watch(ctx, &servicev1.WatchRequest{Ref: podsRef("")}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	s.Close()
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Close took %v with a watch open", d)
	}
}
