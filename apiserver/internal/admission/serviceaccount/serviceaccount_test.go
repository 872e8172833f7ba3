package serviceaccount

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// accounts is a namespace's service accounts, by name.
type accounts map[string]*corev1.ServiceAccount

func (as accounts) get(_ context.Context, _, name string) (*corev1.ServiceAccount, error) {
	if sa, ok := as[name]; ok {
		return sa, nil
	}
	return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "serviceaccounts"}, name)
}

func fixedName(base string) string { return base + "abcde" }

func podCreate(pod *corev1.Pod) *admission.Attributes {
	return &admission.Attributes{
		Operation: admission.Create, Kind: runtime.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource: "pods", Namespace: "ns", Name: pod.GetMetadata().GetName(), Object: pod,
	}
}

func twoContainerPod() *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: &corev1.PodSpec{
		InitContainers: []*corev1.Container{{Name: "init", Image: "busybox"}},
		Containers:     []*corev1.Container{{Name: "web", Image: "nginx"}},
	}}
}

func admit(t *testing.T, p *Plugin, a *admission.Attributes) error {
	t.Helper()
	if err := p.Admit(context.Background(), a); err != nil {
		return err
	}
	return p.Validate(context.Background(), a)
}

func TestDefaultAccountAndTokenVolume(t *testing.T) {
	p := New(accounts{"default": {}}.get, fixedName)
	pod := twoContainerPod()
	if err := admit(t, p, podCreate(pod)); err != nil {
		t.Fatal(err)
	}
	spec := pod.Spec
	if spec.ServiceAccountName != "default" || spec.ServiceAccount != "default" {
		t.Errorf("serviceAccountName %q, serviceAccount %q; want default", spec.ServiceAccountName, spec.ServiceAccount)
	}
	if len(spec.Volumes) != 1 || !proto.Equal(spec.Volumes[0], TokenVolume("kube-api-access-abcde")) {
		t.Fatalf("volumes = %v, want the kube-api-access projected volume", spec.Volumes)
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		want := &corev1.VolumeMount{Name: "kube-api-access-abcde", ReadOnly: true, MountPath: TokenMountPath}
		if len(c.VolumeMounts) != 1 || !proto.Equal(c.VolumeMounts[0], want) {
			t.Errorf("container %s mounts %v, want %v", c.Name, c.VolumeMounts, want)
		}
	}
}

func TestMissingAccountIsForbidden(t *testing.T) {
	p := New(accounts{}.get, fixedName)
	err := admit(t, p, podCreate(twoContainerPod()))
	want := `pods "web" is forbidden: error looking up service account ns/default: serviceaccount "default" not found`
	if apierrors.CodeOf(err) != 403 || err.Error() != want {
		t.Errorf("err = %v (%d), want 403 %q", err, apierrors.CodeOf(err), want)
	}
}

func TestAutomountOptOut(t *testing.T) {
	off, on := proto.Bool(false), proto.Bool(true)
	cases := []struct {
		name       string
		sa, pod    *bool
		wantVolume bool
	}{
		{"default mounts", nil, nil, true},
		{"account opts out", off, nil, false},
		{"pod overrides the account", off, on, true},
		{"pod opts out", on, off, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := New(accounts{"robot": {AutomountServiceAccountToken: tc.sa}}.get, fixedName)
			pod := twoContainerPod()
			pod.Spec.ServiceAccountName = "robot"
			pod.Spec.AutomountServiceAccountToken = tc.pod
			if err := admit(t, p, podCreate(pod)); err != nil {
				t.Fatal(err)
			}
			if got := len(pod.Spec.Volumes) == 1; got != tc.wantVolume {
				t.Errorf("token volume mounted: %v, want %v", got, tc.wantVolume)
			}
		})
	}
}

func TestExistingMountsAndVolumeKept(t *testing.T) {
	p := New(accounts{"default": {}}.get, fixedName)
	pod := twoContainerPod()
	// The web container mounts its own volume at the token path; the pod already has a
	// token volume (read back from another cluster, say).
	pod.Spec.Volumes = []*corev1.Volume{TokenVolume("kube-api-access-zzzzz"), {Name: "own", EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	pod.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "own", MountPath: TokenMountPath}}
	if err := admit(t, p, podCreate(pod)); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Volumes) != 2 {
		t.Errorf("volumes = %d, want the 2 given", len(pod.Spec.Volumes))
	}
	if m := pod.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != "own" {
		t.Errorf("web mounts %v, want only its own", m)
	}
	if m := pod.Spec.InitContainers[0].VolumeMounts; len(m) != 1 || m[0].Name != "kube-api-access-zzzzz" {
		t.Errorf("init mounts %v, want the existing token volume", m)
	}
}

func TestImagePullSecretsCopied(t *testing.T) {
	sa := &corev1.ServiceAccount{ImagePullSecrets: []*corev1.LocalObjectReference{{Name: "registry"}}}
	p := New(accounts{"default": sa}.get, fixedName)
	pod := twoContainerPod()
	if err := admit(t, p, podCreate(pod)); err != nil {
		t.Fatal(err)
	}
	if s := pod.Spec.ImagePullSecrets; len(s) != 1 || s[0].Name != "registry" {
		t.Errorf("imagePullSecrets = %v", s)
	}
	pod = twoContainerPod()
	pod.Spec.ImagePullSecrets = []*corev1.LocalObjectReference{{Name: "mine"}}
	if err := admit(t, p, podCreate(pod)); err != nil {
		t.Fatal(err)
	}
	if s := pod.Spec.ImagePullSecrets; len(s) != 1 || s[0].Name != "mine" {
		t.Errorf("the pod's own imagePullSecrets were changed: %v", s)
	}
}

func TestMirrorPods(t *testing.T) {
	p := New(accounts{}.get, fixedName)
	pod := twoContainerPod()
	pod.Metadata.Annotations = map[string]string{mirrorPodAnnotation: "hash"}
	if err := admit(t, p, podCreate(pod)); err != nil {
		t.Fatalf("a plain mirror pod was refused: %v", err)
	}
	if pod.Spec.ServiceAccountName != "" || len(pod.Spec.Volumes) != 0 {
		t.Errorf("a mirror pod got an account or a token: %v", pod.Spec)
	}
	pod.Spec.ServiceAccountName = "default"
	if err := admit(t, p, podCreate(pod)); apierrors.CodeOf(err) != 403 || !strings.Contains(err.Error(), "a mirror pod may not reference service accounts") {
		t.Errorf("err = %v", err)
	}
}

func TestOnlyPodCreates(t *testing.T) {
	p := New(accounts{}.get, fixedName)
	a := podCreate(twoContainerPod())
	a.Subresource = "binding"
	if err := admit(t, p, a); err != nil {
		t.Errorf("pods/binding: %v", err)
	}
	a = podCreate(twoContainerPod())
	a.Resource, a.Object = "configmaps", &corev1.ConfigMap{}
	if err := admit(t, p, a); err != nil {
		t.Errorf("configmaps: %v", err)
	}
	if p.Handles(admission.Update) || p.Handles(admission.Delete) {
		t.Error("the plugin handles more than creates")
	}
}
