package statefulset

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/runtime"
)

var claimGVK = runtime.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}

// withData gives the set a claim template "data" (labelled tier=db) whose volume the pod
// template also defines (an emptyDir the claim must replace), and the retention policy.
func withData(whenDeleted, whenScaled string) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		tmpl := &corev1.PersistentVolumeClaim{
			Metadata: &metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "db"}},
			Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce},
				Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}}}},
		}
		defaults.PersistentVolumeClaim(tmpl)
		s.Spec.VolumeClaimTemplates = []*corev1.PersistentVolumeClaim{tmpl}
		s.Spec.Template.Spec.Volumes = []*corev1.Volume{
			{Name: "data", EmptyDir: &corev1.EmptyDirVolumeSource{}},
			{Name: "config", EmptyDir: &corev1.EmptyDirVolumeSource{}},
		}
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: whenDeleted, WhenScaled: whenScaled}
	}
}

const (
	retain = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	del    = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
)

func parallel(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }

func (f *fixture) claim(name string) *corev1.PersistentVolumeClaim {
	f.t.Helper()
	c, err := f.cs.PersistentVolumeClaims("default").Get(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) claimNames() []string {
	var out []string
	for _, o := range f.tr.Objects(claimGVK) {
		out = append(out, o.GetMetadata().GetName())
	}
	slices.Sort(out)
	return out
}

// owners is "Kind/name/uid controller" of each of claim's owner references.
func owners(c *corev1.PersistentVolumeClaim) []string {
	var out []string
	for _, r := range c.GetMetadata().GetOwnerReferences() {
		s := r.GetApiVersion() + " " + r.GetKind() + "/" + r.GetName() + "/" + r.GetUid()
		if r.GetController() && r.GetBlockOwnerDeletion() {
			s += " controller"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestClaimsAreMadeForEachPod(t *testing.T) {
	f := newFixture(t, newSet(2, parallel, withData(retain, retain)))
	got := f.sync()
	expect(t, "first sync", got, "create controllerrevisions default/", "create persistentvolumeclaims default/", "create persistentvolumeclaims default/",
		"create pods default/", "create pods default/", "update statefulsets default/web/status")
	expect(t, "claims", f.claimNames(), "data-web-0", "data-web-1")
	c := f.claim("data-web-0")
	if l := c.GetMetadata().GetLabels(); len(l) != 2 || l["tier"] != "db" || l["app"] != "nginx" {
		t.Errorf("claim labels = %v, want the template's and the selector's", l)
	}
	if q := c.GetSpec().GetResources().GetRequests()[corev1.ResourceStorage].GetString_(); q != "1Gi" || len(c.GetMetadata().GetOwnerReferences()) != 0 {
		t.Errorf("claim = %v", c)
	}
	vols := f.pod("web-1").GetSpec().GetVolumes()
	if len(vols) != 2 || vols[0].GetName() != "data" || vols[0].GetPersistentVolumeClaim().GetClaimName() != "data-web-1" ||
		vols[0].GetEmptyDir() != nil || vols[1].GetName() != "config" || vols[1].GetEmptyDir() == nil {
		t.Errorf("web-1 volumes = %v, want data from claim data-web-1 (not the template's emptyDir), then config", vols)
	}
	msgs := f.messages()
	for _, want := range []string{"Normal SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success",
		"Normal SuccessfulCreate create Claim data-web-1 Pod web-1 in StatefulSet web success",
		"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful"} {
		if !slices.Contains(msgs, want) {
			t.Errorf("events %q lack %q", msgs, want)
		}
	}

	// A deleted pod comes back on the claim it had; nothing else is written.
	f.ready("web-0", "web-1")
	f.sync()
	controllertest.Remove(t, f.tr.Transport, f.inf, f.pod("web-0"))
	expect(t, "web-0 gone", f.sync(), "create pods default/", "update statefulsets default/web/status")
	expect(t, "claims", f.claimNames(), "data-web-0", "data-web-1")
	if v := f.pod("web-0").GetSpec().GetVolumes()[0]; v.GetPersistentVolumeClaim().GetClaimName() != "data-web-0" {
		t.Errorf("web-0 again mounts %v", v)
	}
}

func TestRestartedControllerMakesNoClaimTwice(t *testing.T) {
	f := newFixture(t, newSet(1, withData(retain, retain)))
	f.sync()
	// A cache that missed the claim and the pod: the claim's create fails AlreadyExists,
	// no pod is made without it, and nothing is duplicated.
	f.refresh()
	if err := f.inf.PersistentVolumeClaims().Informer().GetIndexer().Replace(nil); err != nil {
		t.Fatal(err)
	}
	if err := f.inf.Pods().Informer().GetIndexer().Replace(nil); err != nil {
		t.Fatal(err)
	}
	f.messages()
	err := f.c.sync(context.Background(), "default/web")
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("sync on a stale cache: %v, want AlreadyExists", err)
	}
	expect(t, "claims", f.claimNames(), "data-web-0")
	expect(t, "pods", f.podNames(), "web-0")
	// Once the cache has caught up, only the status (now counting web-0) is written.
	expect(t, "caught up", f.sync(), "update statefulsets default/web/status")
	expect(t, "claims", f.claimNames(), "data-web-0")
}

func TestClaimBeingDeletedBlocksThePod(t *testing.T) {
	f := newFixture(t, newSet(1, withData(retain, retain)), &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: "data-web-0", Namespace: "default", DeletionTimestamp: controller.NewTime(epoch), Finalizers: []string{"kubernetes.io/pvc-protection"}},
	})
	f.refresh()
	err := f.c.sync(context.Background(), "default/web")
	if err == nil || !strings.Contains(err.Error(), "pvc data-web-0 is being deleted") {
		t.Fatalf("sync: %v, want the claim being deleted", err)
	}
	expect(t, "pods", f.podNames())
	if msgs := f.messages(); !slices.ContainsFunc(msgs, func(m string) bool {
		return strings.HasPrefix(m, "Warning FailedCreate create Pod web-0 in StatefulSet web failed error: pvc data-web-0 is being deleted")
	}) {
		t.Errorf("events = %q", msgs)
	}
}

func TestWhenDeletedDeleteMakesClaimsOwnedByTheSet(t *testing.T) {
	f := newFixture(t, newSet(1, withData(del, retain)))
	f.sync()
	if got := owners(f.claim("data-web-0")); !slices.Equal(got, []string{"apps/v1 StatefulSet/web/set-uid controller"}) {
		t.Fatalf("owners = %q, want the set as controller", got)
	}
	// Scaling down leaves the set's claim alone: whenScaled is Retain.
	f.ready("web-0")
	f.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(0) })
	expect(t, "scale down", f.sync(), "delete pods default/web-0", "update statefulsets default/web/status")
}

func TestWhenScaledDeleteMakesTheClaimOwnedByItsPod(t *testing.T) {
	f := newFixture(t, newSet(2, parallel, withData(retain, del)))
	f.sync()
	f.ready("web-0", "web-1")
	f.sync()
	if got := owners(f.claim("data-web-1")); len(got) != 0 {
		t.Fatalf("owners of an in-range claim = %q, want none", got)
	}
	f.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(1) })
	expect(t, "scale down", f.sync(), "delete pods default/web-1", "update persistentvolumeclaims default/data-web-1", "update statefulsets default/web/status")
	if got := owners(f.claim("data-web-1")); !slices.Equal(got, []string{"v1 Pod/web-1/uid-web-1 controller"}) {
		t.Fatalf("owners = %q, want pod web-1 as controller", got)
	}
	if got := owners(f.claim("data-web-0")); len(got) != 0 {
		t.Fatalf("owners of web-0's claim = %q, want none", got)
	}

	// Scaled up again before the garbage collector took the claim: web-1 waits for it.
	f.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(2) })
	expect(t, "stale claim", f.sync(), "update statefulsets default/web/status")
	expect(t, "pods", f.podNames(), "web-0")
	controllertest.Remove(t, f.tr.Transport, f.inf, f.claim("data-web-1"))
	expect(t, "claim collected", f.sync(), "create persistentvolumeclaims default/", "create pods default/")
}

func TestRetainLeavesClaimsAloneAndAPolicyChangeUpdatesThem(t *testing.T) {
	f := newFixture(t, newSet(2, parallel, withData(retain, retain)))
	f.sync()
	f.ready("web-0", "web-1")
	f.sync()
	f.edit(func(s *appsv1.StatefulSet) { s.Spec.Replicas = proto.Int32(1) })
	expect(t, "scale down", f.sync(), "delete pods default/web-1", "update statefulsets default/web/status")
	if got := owners(f.claim("data-web-1")); len(got) != 0 {
		t.Fatalf("owners = %q, want none", got)
	}

	// whenDeleted Delete: the live pod's claim gets the set as owner (the pod is written
	// too, as upstream's UpdateStatefulPod does).
	f.edit(func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = del
	})
	expect(t, "policy changed", f.sync(), "update persistentvolumeclaims default/data-web-0", "update pods default/web-0", "update statefulsets default/web/status")
	if got := owners(f.claim("data-web-0")); !slices.Equal(got, []string{"apps/v1 StatefulSet/web/set-uid controller"}) {
		t.Fatalf("owners = %q", got)
	}
	// And back to Retain: the reference goes.
	f.edit(func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = retain
	})
	expect(t, "policy reverted", f.sync(), "update persistentvolumeclaims default/data-web-0", "update pods default/web-0", "update statefulsets default/web/status")
	if got := owners(f.claim("data-web-0")); len(got) != 0 {
		t.Fatalf("owners = %q, want none", got)
	}
	expect(t, "steady", f.sync())
}

func TestIsClaimOwnerUpToDate(t *testing.T) {
	set := newSet(1, withData(del, del))
	in := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web-0", Uid: "pod-0"}}
	out := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web-1", Uid: "pod-1"}}
	setRef := controller.NewControllerRef(set, Kind)
	ref := func(pod *corev1.Pod) *metav1.OwnerReference { return controller.NewControllerRef(pod, podKind) }
	nonController := proto.Clone(setRef).(*metav1.OwnerReference)
	nonController.Controller = nil
	staleSet := proto.Clone(setRef).(*metav1.OwnerReference)
	staleSet.Uid = "old"
	other := &metav1.OwnerReference{ApiVersion: "v1", Kind: "ConfigMap", Name: "x", Uid: "x", Controller: proto.Bool(true)}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		refs []*metav1.OwnerReference
		want bool
	}{
		{"in range, owned by the set", in, []*metav1.OwnerReference{setRef}, true},
		{"in range, no owner", in, nil, false},
		{"in range, owned by its pod too", in, []*metav1.OwnerReference{setRef, ref(in)}, false},
		{"scaled down, owned by its pod", out, []*metav1.OwnerReference{ref(out)}, true},
		{"scaled down, still the set's", out, []*metav1.OwnerReference{setRef}, false},
		{"not as controller", in, []*metav1.OwnerReference{nonController}, false},
		{"stale set ref: not ours to touch", in, []*metav1.OwnerReference{staleSet}, true},
		{"another controller alone: left to it", in, []*metav1.OwnerReference{other}, true},
		{"another controller beside ours: ours must go", in, []*metav1.OwnerReference{other, setRef}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "data-" + tc.pod.Metadata.Name, OwnerReferences: tc.refs}}
			if got := isClaimOwnerUpToDate(c, set, tc.pod); got != tc.want {
				t.Fatalf("up to date = %v, want %v", got, tc.want)
			}
			if tc.want {
				return
			}
			updateClaimOwnerRefs(c, set, tc.pod)
			if !isClaimOwnerUpToDate(c, set, tc.pod) {
				t.Fatalf("after updateClaimOwnerRefs, refs %v are still not up to date", c.GetMetadata().GetOwnerReferences())
			}
		})
	}
}
