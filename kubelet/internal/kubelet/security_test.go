package kubelet

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func securityPod(psc *corev1.PodSecurityContext, csc *corev1.SecurityContext) (*corev1.Pod, *corev1.Container) {
	c := &corev1.Container{Name: "app", Image: "app:1", SecurityContext: csc}
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "shop", Uid: "u1"},
		Spec: &corev1.PodSpec{SecurityContext: psc, Containers: []*corev1.Container{c}}}, c
}

func TestVerifyRunAsNonRoot(t *testing.T) {
	const who = `(pod: "web_shop(u1)", container: app)`
	uid := func(v int64) imageUser { return imageUser{UID: proto.Int64(v)} }
	nonRoot := &corev1.PodSecurityContext{RunAsNonRoot: proto.Bool(true)}
	for _, tc := range []struct {
		name string
		psc  *corev1.PodSecurityContext
		csc  *corev1.SecurityContext
		img  imageUser
		want string // "" for allowed
	}{
		{"not asked, root image", nil, nil, uid(0), ""},
		{"asked false", &corev1.PodSecurityContext{RunAsNonRoot: proto.Bool(false)}, nil, uid(0), ""},
		{"image uid 1000", nonRoot, nil, uid(1000), ""},
		{"image runs as root", nonRoot, nil, uid(0), "container has runAsNonRoot and image will run as root " + who},
		{"image user by name", nonRoot, nil, imageUser{Username: "nginx"},
			"container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root " + who},
		{"image user root by name", nonRoot, nil, imageUser{Username: "root"},
			"container has runAsNonRoot and image has non-numeric user (root), cannot verify user is non-root " + who},
		{"pod runAsUser 0", &corev1.PodSecurityContext{RunAsNonRoot: proto.Bool(true), RunAsUser: proto.Int64(0)}, nil, uid(1000),
			"container's runAsUser breaks non-root policy " + who},
		{"container runAsUser 0 over pod's 1000", &corev1.PodSecurityContext{RunAsNonRoot: proto.Bool(true), RunAsUser: proto.Int64(1000)},
			&corev1.SecurityContext{RunAsUser: proto.Int64(0)}, uid(1000), "container's runAsUser breaks non-root policy " + who},
		{"runAsUser wins over a root image", nonRoot, &corev1.SecurityContext{RunAsUser: proto.Int64(101)}, uid(0), ""},
		{"runAsUser wins over a named user", nonRoot, &corev1.SecurityContext{RunAsUser: proto.Int64(101)}, imageUser{Username: "nginx"}, ""},
		{"container asks, pod does not", nil, &corev1.SecurityContext{RunAsNonRoot: proto.Bool(true)}, uid(0),
			"container has runAsNonRoot and image will run as root " + who},
		{"container allows what the pod asks", nonRoot, &corev1.SecurityContext{RunAsNonRoot: proto.Bool(false)}, uid(0), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, c := securityPod(tc.psc, tc.csc)
			err := verifyRunAsNonRoot(pod, c, tc.img)
			if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// The image's user is what the runtime reports: a uid, a name, or none (root).
func TestImageUserOf(t *testing.T) {
	f := krt.NewFake()
	f.SetImageUser("numeric:1", "101")
	f.SetImageUser("pair:1", "101:101")
	f.SetImageUser("named:1", "nginx")
	f.SetImageUser("rootname:1", "root")
	f.SetImageUser("root:1", "0")
	f.AddImage("unset:1")
	for image, want := range map[string]string{
		"numeric:1": "uid 101", "pair:1": "uid 101", "named:1": "name nginx", "rootname:1": "name root",
		"root:1": "uid 0", "unset:1": "uid 0", "absent:1": "uid 0",
	} {
		u, err := imageUserOf(context.Background(), f, image)
		if err != nil {
			t.Fatal(err)
		}
		got := "name " + u.Username
		if u.UID != nil {
			got = fmt.Sprintf("uid %d", *u.UID)
		}
		if got != want {
			t.Errorf("%s: %s, want %s", image, got, want)
		}
	}
}

// The fsGroup is every container's supplemental group, before the pod's others.
func TestContainerSecurityGroups(t *testing.T) {
	for _, tc := range []struct {
		psc  *corev1.PodSecurityContext
		want string
	}{
		{nil, "[]"},
		{&corev1.PodSecurityContext{SupplementalGroups: []int64{10, 20}}, "[10 20]"},
		{&corev1.PodSecurityContext{FsGroup: proto.Int64(2000)}, "[2000]"},
		{&corev1.PodSecurityContext{FsGroup: proto.Int64(2000), SupplementalGroups: []int64{10}}, "[2000 10]"},
	} {
		pod, c := securityPod(tc.psc, nil)
		if got := fmt.Sprint(containerSecurity(pod, c).GetSupplementalGroups()); got != tc.want {
			t.Errorf("%v: supplemental groups %s, want %s", tc.psc, got, tc.want)
		}
	}
}
