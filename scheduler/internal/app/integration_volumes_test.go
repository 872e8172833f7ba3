package app

import (
	"context"
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	tu "kubelab.io/scheduler/internal/testutil"
)

func ptrTo[T any](v T) *T { return &v }

func (c *cluster) createClaim(name, class, volume string) *corev1.PersistentVolumeClaim {
	c.t.Helper()
	pvc, err := c.cs.PersistentVolumeClaims("default").Create(context.Background(), &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: name},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, StorageClassName: ptrTo(class), VolumeName: volume,
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}}}})
	if err != nil {
		c.t.Fatal(err)
	}
	return pvc
}

// createBoundPV creates a hostPath PV pinned to node, bound to claim, and marks the claim
// Bound: what the provisioner and the binder of the controller-manager leave.
func (c *cluster) createBoundPV(name, node string, claim *corev1.PersistentVolumeClaim) {
	c.t.Helper()
	ctx := context.Background()
	storage := map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}
	if _, err := c.cs.PersistentVolumes().Create(ctx, &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: name},
		Spec: &corev1.PersistentVolumeSpec{Capacity: storage, AccessModes: []string{"ReadWriteOnce"}, StorageClassName: claim.GetSpec().GetStorageClassName(),
			HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelab/pv/" + name, Type: ptrTo("DirectoryOrCreate")},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
				MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: "In", Values: []string{node}}}}}}},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", ApiVersion: "v1", Namespace: "default",
				Name: claim.GetMetadata().GetName(), Uid: claim.GetMetadata().GetUid()}}}); err != nil {
		c.t.Fatal(err)
	}
	cur, err := c.cs.PersistentVolumeClaims("default").Get(ctx, claim.GetMetadata().GetName())
	if err != nil {
		c.t.Fatal(err)
	}
	cur.Spec.VolumeName = name
	if cur, err = c.cs.PersistentVolumeClaims("default").Update(ctx, cur); err != nil {
		c.t.Fatal(err)
	}
	cur.Status = &corev1.PersistentVolumeClaimStatus{Phase: "Bound", AccessModes: []string{"ReadWriteOnce"}, Capacity: storage}
	if _, err := c.cs.PersistentVolumeClaims("default").UpdateStatus(ctx, cur); err != nil {
		c.t.Fatal(err)
	}
}

func claimVolumePod(name, claim string) *corev1.Pod {
	p := tu.Pod(name).Obj()
	p.Spec.Volumes = []*corev1.Volume{{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
	return p
}

// A pod with a WaitForFirstConsumer claim gets its node written on the claim, and is bound
// to that node once the claim is; a pod whose bound PV is pinned to a node goes there only.
func TestVolumeBinding(t *testing.T) {
	c := newCluster(t)
	for _, n := range []string{"node-a", "node-b"} {
		c.createNode(tu.Node(n).Label("kubernetes.io/hostname", n).Obj())
	}
	ctx := context.Background()
	if _, err := c.cs.StorageClasses().Create(ctx, &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: "standard"},
		Provisioner: "kubelab.io/local-path", VolumeBindingMode: ptrTo("WaitForFirstConsumer"), ReclaimPolicy: ptrTo("Delete")}); err != nil {
		t.Fatal(err)
	}
	c.startScheduler()

	// Pinned: a claim already bound to a PV on node-b.
	pinned := c.createClaim("pinned", "manual", "")
	c.createBoundPV("pv-pinned", "node-b", pinned)
	c.createPod(claimVolumePod("on-b", "pinned"))
	if got := c.waitBound(20*time.Second, "on-b"); got["on-b"] != "node-b" {
		t.Fatalf("pod with a PV pinned to node-b bound to %q", got["on-b"])
	}

	// Provisioned: the scheduler picks a node and says so on the claim; the pod waits.
	claim := c.createClaim("www", "standard", "")
	c.createPod(claimVolumePod("web", "www"))
	var node string
	deadline := time.Now().Add(20 * time.Second)
	for node == "" {
		cur, err := c.cs.PersistentVolumeClaims("default").Get(ctx, "www")
		if err != nil {
			t.Fatal(err)
		}
		node = cur.GetMetadata().GetAnnotations()["volume.kubernetes.io/selected-node"]
		if time.Now().After(deadline) {
			t.Fatal("no selected-node annotation on the claim")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := c.pod("web").GetSpec().GetNodeName(); n != "" {
		t.Fatalf("pod bound to %s before its claim was", n)
	}
	// Play the provisioner and the binder on the selected node.
	c.createBoundPV("pvc-"+claim.GetMetadata().GetUid(), node, claim)
	if got := c.waitBound(20*time.Second, "web"); got["web"] != node {
		t.Fatalf("pod bound to %q, its claim's selected node is %q", got["web"], node)
	}
}
