package kube

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/transport"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// fakeTransport records refs and answers from a map.
type fakeTransport struct {
	refs    []transport.Ref
	objects map[string]runtime.Object
	pending bool
}

func (f *fakeTransport) Get(_ context.Context, ref transport.Ref) (runtime.Object, error) {
	f.refs = append(f.refs, ref)
	if o, ok := f.objects[ref.Name]; ok {
		return o, nil
	}
	return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: ref.Mapping.Plural}, ref.Name)
}
func (f *fakeTransport) List(_ context.Context, ref transport.Ref, _ transport.ListOptions) (runtime.ListObject, error) {
	f.refs = append(f.refs, ref)
	return &corev1.NodeList{}, nil
}
func (f *fakeTransport) Watch(context.Context, transport.Ref, transport.ListOptions) (watch.Interface, error) {
	return nil, nil
}
func (f *fakeTransport) Create(_ context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	f.refs = append(f.refs, ref)
	return obj, nil
}
func (f *fakeTransport) Update(_ context.Context, ref transport.Ref, obj runtime.Object, sub string) (runtime.Object, error) {
	f.refs = append(f.refs, ref)
	return obj, nil
}
func (f *fakeTransport) Patch(_ context.Context, ref transport.Ref, _ transport.PatchType, _ []byte, _ string) (runtime.Object, error) {
	f.refs = append(f.refs, ref)
	return &corev1.Node{}, nil // a transport breaking its contract
}
func (f *fakeTransport) Delete(_ context.Context, ref transport.Ref, _ *metav1.DeleteOptions) (runtime.Object, error) {
	f.refs = append(f.refs, ref)
	if f.pending {
		return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: ref.Name}}, nil
	}
	return nil, nil
}
func (f *fakeTransport) Bind(_ context.Context, ref transport.Ref, _ *corev1.Binding) error {
	f.refs = append(f.refs, ref)
	return nil
}

func (f *fakeTransport) CreateSubresource(_ context.Context, ref transport.Ref, sub string, obj runtime.Object) (runtime.Object, error) {
	ref.Name += "/" + sub
	f.refs = append(f.refs, ref)
	tr := proto.Clone(obj).(*authenticationv1.TokenRequest)
	tr.Status = &authenticationv1.TokenRequestStatus{Token: "t0k"}
	return tr, nil
}

// TestCreateToken asks for the token subresource of the named service account and does
// not modify the request.
func TestCreateToken(t *testing.T) {
	ft := &fakeTransport{}
	req := &authenticationv1.TokenRequest{Spec: &authenticationv1.TokenRequestSpec{Audiences: []string{"api"}}}
	out, err := New(ft).CreateToken(context.Background(), "ci", "build", req)
	if err != nil {
		t.Fatal(err)
	}
	if out.GetStatus().GetToken() != "t0k" || req.GetStatus() != nil {
		t.Fatalf("got %v; request now %v", out, req)
	}
	if len(ft.refs) != 1 || ft.refs[0].Mapping.Plural != "serviceaccounts" || ft.refs[0].Namespace != "ci" || ft.refs[0].Name != "build/token" {
		t.Fatalf("refs %v", ft.refs)
	}
}

func TestTypedClients(t *testing.T) {
	ft := &fakeTransport{objects: map[string]runtime.Object{"p": &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}}}}
	cs := New(ft)
	ctx := context.Background()
	pod, err := cs.Pods("ns").Get(ctx, "p")
	if err != nil || pod.GetMetadata().GetName() != "p" {
		t.Fatalf("get: %v %v", pod, err)
	}
	if _, err := cs.Pods("ns").Get(ctx, "missing"); !apierrors.IsNotFound(err) {
		t.Fatalf("got %v, want NotFound", err)
	}
	if _, err := cs.Nodes().List(ctx, transport.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Pods("ns").Update(ctx, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "u"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Pods("ns").Patch(ctx, "p", transport.MergePatch, []byte(`{}`)); err == nil {
		t.Fatal("a Node returned for a pod patch was accepted")
	}
	if got, err := cs.Pods("ns").Delete(ctx, "gone", nil); err != nil || got != nil {
		t.Fatalf("delete: %v %v, want nil, nil", got, err)
	}
	ft.pending = true
	if got, err := cs.Pods("ns").Delete(ctx, "slow", nil); err != nil || got.GetMetadata().GetName() != "slow" {
		t.Fatalf("pending delete: %v %v", got, err)
	}
	if err := cs.Bind(ctx, "ns", &corev1.Binding{Metadata: &metav1.ObjectMeta{Name: "p"}, Target: &corev1.ObjectReference{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ConfigMaps("ns").Get(ctx, "cm"); !apierrors.IsNotFound(err) {
		t.Fatalf("configmap: got %v, want NotFound", err)
	}
	if _, err := cs.Secrets("ns").Get(ctx, "s"); !apierrors.IsNotFound(err) {
		t.Fatalf("secret: got %v, want NotFound", err)
	}
	want := []string{"pods ns p", "pods ns missing", "nodes  ", "pods ns u", "pods ns p", "pods ns gone", "pods ns slow", "pods ns p", "configmaps ns cm", "secrets ns s"}
	if len(ft.refs) != len(want) {
		t.Fatalf("refs %v", ft.refs)
	}
	for i, r := range ft.refs {
		if got := r.Mapping.Plural + " " + r.Namespace + " " + r.Name; got != want[i] {
			t.Errorf("call %d: ref %q, want %q", i, got, want[i])
		}
	}
	if cs.Transport() != ft {
		t.Error("Transport() is not the transport")
	}
}

func TestGRPCAddress(t *testing.T) {
	cfg := &kubeconfig.RESTConfig{Host: "https://10.0.0.1:6443"}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "10.0.0.1:6444"},
		{Options{GRPCPort: 7000}, "10.0.0.1:7000"},
		{Options{GRPCAddress: "api.internal:9"}, "api.internal:9"},
	} {
		got, err := GRPCAddress(cfg, tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %q %v, want %q", tc.opts, got, err, tc.want)
		}
	}
	if got, _ := GRPCAddress(&kubeconfig.RESTConfig{Host: "https://[::1]:6443"}, Options{}); got != "[::1]:6444" {
		t.Errorf("IPv6: got %q", got)
	}
	if _, err := GRPCAddress(&kubeconfig.RESTConfig{Host: "::"}, Options{}); err == nil {
		t.Error("a hostless server gave an address")
	}
}
