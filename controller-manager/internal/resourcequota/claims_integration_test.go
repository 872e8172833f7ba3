package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"kubelab.io/client/kube"
	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

func createClaim(cs *kube.Clientset, name, storage string) error {
	pvc := &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: name},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"},
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{"storage": {String_: storage}}}}}
	_, err := cs.PersistentVolumeClaims("team").Create(context.Background(), pvc)
	return err
}

// claimRefused checks that creating claim name is refused with 403 and message want.
func claimRefused(t *testing.T, cs *kube.Clientset, name, storage, want string) {
	t.Helper()
	err := createClaim(cs, name, storage)
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("create claim %s over the quota: %v (code %d); want 403 %q", name, err, apierrors.CodeOf(err), want)
	}
}

// usedReaches waits until the quota team/name's status.used is want (name=value pairs).
func usedReaches(t *testing.T, cs *kube.Clientset, name string, want ...string) {
	t.Helper()
	controllertest.Eventually(t, "status.used of "+name, func() (bool, string) {
		q, err := cs.ResourceQuotas("team").Get(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for k, v := range q.GetStatus().GetUsed() {
			got = append(got, k+"="+v.GetString_())
		}
		slices.Sort(got)
		return slices.Equal(got, want), "status.used = " + render(q.GetStatus().GetUsed())
	})
}

// A claim's room comes back when the claim is really gone: not while its pvc-protection
// finalizer holds it, but once that is removed and the claim is deleted.
func TestIntegrationDeletedClaimsGiveRoomBack(t *testing.T) {
	cs, queue := startController(t, time.Hour)
	ctx := context.Background()
	q := &corev1.ResourceQuota{Metadata: &metav1.ObjectMeta{Name: "storage"},
		Spec: &corev1.ResourceQuotaSpec{Hard: map[string]*metav1.Quantity{
			"persistentvolumeclaims": {String_: "1"}, "requests.storage": {String_: "1Gi"}}}}
	synced := queue.synced.Load()
	if _, err := cs.ResourceQuotas("team").Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	usedReaches(t, cs, "storage", "persistentvolumeclaims=0", "requests.storage=0")
	// Admission gave the new quota its first usage; the controller's own first sync of it
	// must be over before a claim is created. A sync that lists the claims between the
	// claim's admission (which charges it) and its write would count it out again, and
	// nothing but the next resync (an hour here; 5 minutes in Kubernetes, where the same
	// window exists) would count it back in.
	controllertest.Eventually(t, "the controller's first sync of quota storage", func() (bool, string) {
		n := queue.synced.Load()
		return n > synced, fmt.Sprintf("%d syncs", n-synced)
	})
	// The admission plugin lists quotas from the watch cache: wait until it sees this one.
	controllertest.Eventually(t, "the quota to refuse a claim too big", func() (bool, string) {
		err := createClaim(cs, "big", "2Gi")
		if err == nil {
			t.Fatal("claim big (2Gi) was admitted over requests.storage=1Gi")
		}
		return apierrors.IsForbidden(err), err.Error()
	})
	claimRefused(t, cs, "big", "2Gi",
		`persistentvolumeclaims "big" is forbidden: exceeded quota: storage, requested: requests.storage=2Gi, used: requests.storage=0, limited: requests.storage=1Gi`)

	if err := createClaim(cs, "data", "1Gi"); err != nil {
		t.Fatal(err)
	}
	usedReaches(t, cs, "storage", "persistentvolumeclaims=1", "requests.storage=1Gi")
	claimRefused(t, cs, "more", "1Mi",
		`persistentvolumeclaims "more" is forbidden: exceeded quota: storage, requested: persistentvolumeclaims=1,requests.storage=1Mi, used: persistentvolumeclaims=1,requests.storage=1Gi, limited: persistentvolumeclaims=1,requests.storage=1Gi`)

	// Deleting it leaves it terminating behind kubernetes.io/pvc-protection: it still
	// holds its room, even after a recompute (run here by hand: nothing about the claim
	// changed that would make the controller run one).
	if _, err := cs.PersistentVolumeClaims("team").Delete(ctx, "data", nil); err != nil {
		t.Fatal(err)
	}
	pvc, err := cs.PersistentVolumeClaims("team").Get(ctx, "data")
	if err != nil {
		t.Fatalf("claim data gone at once (%v); want it held by its finalizer", err)
	}
	if !slices.Contains(pvc.GetMetadata().GetFinalizers(), "kubernetes.io/pvc-protection") {
		t.Fatalf("claim data finalizers = %v, want kubernetes.io/pvc-protection", pvc.GetMetadata().GetFinalizers())
	}
	if err := (&Controller{client: cs, log: slog.New(slog.DiscardHandler)}).sync(ctx, "team/storage"); err != nil {
		t.Fatal(err)
	}
	usedReaches(t, cs, "storage", "persistentvolumeclaims=1", "requests.storage=1Gi")

	// No pvc-protection controller runs here: drop the finalizer by hand, as it would for a
	// claim no pod uses. The claim goes, and its delete event gives the room back.
	pvc.Metadata.Finalizers = nil
	if _, err := cs.PersistentVolumeClaims("team").Update(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	usedReaches(t, cs, "storage", "persistentvolumeclaims=0", "requests.storage=0")
	if err := createClaim(cs, "again", "1Gi"); err != nil {
		t.Fatalf("create claim again after the room came back: %v", err)
	}
}
