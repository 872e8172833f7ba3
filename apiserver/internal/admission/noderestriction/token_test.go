package noderestriction

import (
	"context"
	"strings"
	"testing"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/request"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// TestTokenRequests: a kubelet's token must be bound, by uid, to a pod on its own node.
func TestTokenRequests(t *testing.T) {
	pods := map[string]*corev1.Pod{
		"web":     {Metadata: &metav1.ObjectMeta{Name: "web", Uid: "web-uid"}, Spec: &corev1.PodSpec{NodeName: "n1"}},
		"db":      {Metadata: &metav1.ObjectMeta{Name: "db", Uid: "db-uid"}, Spec: &corev1.PodSpec{NodeName: "n2"}},
		"pending": {Metadata: &metav1.ObjectMeta{Name: "pending", Uid: "pending-uid"}, Spec: &corev1.PodSpec{}},
	}
	p := New(func(_ context.Context, _, name string) (*corev1.Pod, error) {
		if pod, ok := pods[name]; ok {
			return pod, nil
		}
		return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "pods"}, name)
	})
	kubelet := &request.User{Name: "system:node:n1", Groups: []string{request.GroupNodes}}
	bound := func(kind, name, uid string) *authenticationv1.TokenRequest {
		return &authenticationv1.TokenRequest{Spec: &authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: kind, ApiVersion: "v1", Name: name, Uid: uid},
		}}
	}
	for _, tc := range []struct {
		name string
		user *request.User
		tr   *authenticationv1.TokenRequest
		want string // "" allowed; else a substring of the Forbidden message
	}{
		{"bound to a pod on its node", kubelet, bound("Pod", "web", "web-uid"), ""},
		{"not a kubelet", &request.User{Name: "alice"}, &authenticationv1.TokenRequest{}, ""},
		{"unbound", kubelet, &authenticationv1.TokenRequest{}, `serviceaccounts "sa" is forbidden: node requested token not bound to a pod`},
		{"bound to a secret", kubelet, bound("Secret", "s", "s-uid"), "node requested token not bound to a pod"},
		{"no uid", kubelet, bound("Pod", "web", ""), "node requested token with a pod binding without a uid"},
		{"pod elsewhere", kubelet, bound("Pod", "db", "db-uid"), "node requested token bound to a pod scheduled on a different node"},
		{"unscheduled pod", kubelet, bound("Pod", "pending", "pending-uid"), "node requested token bound to a pod scheduled on a different node"},
		{"recreated pod", kubelet, bound("Pod", "web", "old-uid"), "the UID in the bound object reference (old-uid) does not match the UID in record"},
		{"missing pod", kubelet, bound("Pod", "gone", "gone-uid"), `pods "gone" not found`},
	} {
		a := &admission.Attributes{
			Operation: admission.Create, Kind: runtime.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"},
			Resource: "serviceaccounts", Subresource: "token", Namespace: "ns", Name: "sa", Object: tc.tr, User: tc.user,
		}
		err := p.Validate(context.Background(), a)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
