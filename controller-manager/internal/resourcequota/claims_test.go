package resourcequota

import (
	"slices"
	"testing"

	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func claim(ns, name, storage, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{Kind: "PersistentVolumeClaim", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name, Uid: "uid-" + name},
		Spec: &corev1.PersistentVolumeClaimSpec{StorageClassName: &class,
			Resources: &corev1.VolumeResourceRequirements{Requests: quantities("storage", storage)}}}
}

// The recompute counts the claims of the namespace, a claim held by its finalizer
// included: its room comes back only once it is really gone.
func TestSyncCountsClaims(t *testing.T) {
	held := claim("team", "held", "2Gi", "gold")
	held.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 1_800_000_000}
	held.Metadata.Finalizers = []string{"kubernetes.io/pvc-protection"}
	// Charged for 3 claims and 6Gi; two claims are left, one of them being deleted.
	q := resourceQuota("team", "storage",
		quantities("persistentvolumeclaims", "5", "requests.storage", "10Gi", "gold.storageclass.storage.k8s.io/requests.storage", "5Gi"),
		quantities("persistentvolumeclaims", "3", "requests.storage", "6Gi", "gold.storageclass.storage.k8s.io/requests.storage", "4Gi"))
	c, api, ctx := fixture(t, q, claim("team", "data", "1Gi", "silver"), held, claim("other", "elsewhere", "1Gi", "gold"))
	got := syncThenRead(ctx, t, c, api, "team", "storage")
	if used(got, "persistentvolumeclaims") != "2" || used(got, "requests.storage") != "3Gi" ||
		used(got, "gold.storageclass.storage.k8s.io/requests.storage") != "2Gi" {
		t.Errorf("status.used = %v, want persistentvolumeclaims=2, requests.storage=3Gi, gold storage 2Gi", got.GetStatus().GetUsed())
	}
	want := []string{"get resourcequotas team/storage", "list pods team", "list persistentvolumeclaims team", "update resourcequotas team/storage/status"}
	if !slices.Equal(api.Actions(), want) {
		t.Errorf("actions = %q, want %q", api.Actions(), want)
	}
}

// A quota that caps nothing of claims (or has scopes, which no claim matches) does not
// list them.
func TestSyncListsClaimsOnlyForQuotasThatTrackThem(t *testing.T) {
	scoped := resourceQuota("team", "scoped", quantities("pods", "5", "gold.storageclass.storage.k8s.io/requests.storage", "5Gi"), nil)
	scoped.Spec.Scopes = []string{"NotTerminating"}
	c, api, ctx := fixture(t, resourceQuota("team", "compute", quantities("pods", "5"), nil), scoped, claim("team", "data", "1Gi", "gold"))
	syncThenRead(ctx, t, c, api, "team", "compute")
	got := syncThenRead(ctx, t, c, api, "team", "scoped")
	if v := used(got, "gold.storageclass.storage.k8s.io/requests.storage"); v != "0" {
		t.Errorf("scoped quota's gold storage used = %q, want 0", v)
	}
	if slices.Contains(api.Actions(), "list persistentvolumeclaims team") {
		t.Errorf("actions = %q: claims listed for quotas that do not track them", api.Actions())
	}
}

func TestClaimEventsEnqueueTheirNamespace(t *testing.T) {
	c, _, _ := fixture(t,
		resourceQuota("team", "storage", quantities("requests.storage", "5Gi"), nil),
		resourceQuota("other", "q", quantities("requests.storage", "5Gi"), nil))
	update := func(edit func(*corev1.PersistentVolumeClaim), rv string) func() {
		return func() {
			oldClaim, newClaim := claim("team", "data", "1Gi", "gold"), claim("team", "data", "1Gi", "gold")
			oldClaim.Metadata.ResourceVersion, newClaim.Metadata.ResourceVersion = "1", rv
			edit(newClaim)
			c.updateClaim(oldClaim, newClaim)
		}
	}
	team := []string{"team/storage"}
	for _, tc := range []struct {
		name  string
		event func()
		want  []string
	}{
		{"claim deleted", func() { c.deleteObject(claim("team", "data", "1Gi", "gold")) }, team},
		{"claim bound: counts the same", update(func(p *corev1.PersistentVolumeClaim) {
			p.Spec.VolumeName = "pv-1"
			p.Status = &corev1.PersistentVolumeClaimStatus{Phase: "Bound", Capacity: quantities("storage", "2Gi")}
		}, "2"), nil},
		{"claim marked for deletion: still holds its room", update(func(p *corev1.PersistentVolumeClaim) {
			p.Metadata.DeletionTimestamp = &metav1.Time{Seconds: 1_800_000_000}
		}, "2"), nil},
		{"claim storage changed", update(func(p *corev1.PersistentVolumeClaim) {
			p.Spec.Resources.Requests = quantities("storage", "2Gi")
		}, "2"), team},
		{"claim class changed", update(func(p *corev1.PersistentVolumeClaim) {
			p.Metadata.Annotations = map[string]string{"volume.beta.kubernetes.io/storage-class": "silver"}
		}, "2"), team},
		{"claim resync", update(func(p *corev1.PersistentVolumeClaim) {
			p.Spec.Resources.Requests = quantities("storage", "2Gi")
		}, "1"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.event()
			if got := controllertest.DrainQueue(c.queue); !slices.Equal(got, tc.want) {
				t.Errorf("queued %q, want %q", got, tc.want)
			}
		})
	}
}
