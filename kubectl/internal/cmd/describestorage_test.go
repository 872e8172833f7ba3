package cmd

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
)

// TestDescribeStorageEvents: describe of a claim, a volume and a class shows their events
// (a cluster-scoped object's are in default), a claim's conditions, and as Used By the
// pods that mount it and the pod that owns it, each once; compared with the stock
// kubectl where it is installed (the testdata/describe-storage.txtar goldens pin the rest).
func TestDescribeStorageEvents(t *testing.T) {
	h := newRolloutHarness(t)
	cs, ctx := h.cs, h.ctx
	owner, err := cs.Pods("default").Create(ctx, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "owner", Namespace: "default"},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Pods("default").Create(ctx, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "user", Namespace: "default"},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []*corev1.Volume{{Name: "v", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "eph"}}}}}); err != nil {
		t.Fatal(err)
	}
	claim, err := cs.PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		Metadata: &metav1.ObjectMeta{Name: "eph", Namespace: "default",
			OwnerReferences: []*metav1.OwnerReference{{ApiVersion: "v1", Kind: "Pod", Name: "owner", Uid: owner.GetMetadata().GetUid(), Controller: proto.Bool(true)}}},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce}, VolumeName: "pv-ev",
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hourAgo := &metav1.Time{Seconds: time.Now().Add(-time.Hour).Unix()}
	claim.Status = &corev1.PersistentVolumeClaimStatus{Phase: "Bound", AccessModes: []string{corev1.ReadWriteOnce},
		Capacity:   map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "2Gi"}},
		Conditions: []*corev1.PersistentVolumeClaimCondition{{Type: "Resizing", Status: "True", LastTransitionTime: &metav1.Time{Seconds: 1767225600}, Reason: "Grow", Message: "to 2Gi"}}}
	if _, err := cs.PersistentVolumeClaims("default").UpdateStatus(ctx, claim); err != nil {
		t.Fatal(err)
	}
	pv, err := cs.PersistentVolumes().Create(ctx, &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: "pv-ev"},
		Spec: &corev1.PersistentVolumeSpec{Capacity: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "2Gi"}}, AccessModes: []string{corev1.ReadWriteOnce},
			HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/pv-ev"}}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := cs.StorageClasses().Create(ctx, &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: "sc-ev"}, Provisioner: "kubelab.io/local-path"})
	if err != nil {
		t.Fatal(err)
	}
	for i, ref := range []*corev1.ObjectReference{
		{ApiVersion: "v1", Kind: "PersistentVolumeClaim", Name: "eph", Namespace: "default", Uid: claim.GetMetadata().GetUid()},
		{ApiVersion: "v1", Kind: "PersistentVolume", Name: "pv-ev", Uid: pv.GetMetadata().GetUid()},
		{ApiVersion: "storage.k8s.io/v1", Kind: "StorageClass", Name: "sc-ev", Uid: sc.GetMetadata().GetUid()},
	} {
		if _, err := cs.Events("default").Create(ctx, &corev1.Event{
			Metadata: &metav1.ObjectMeta{Name: "ev." + itoa(int64(i)), Namespace: "default"}, InvolvedObject: ref,
			Reason: "ProvisioningSucceeded", Message: "volume " + ref.Name + " ready", Type: "Normal",
			Source: &corev1.EventSource{Component: "persistentvolume-controller"}, Count: 1, FirstTimestamp: hourAgo, LastTimestamp: hourAgo,
		}); err != nil {
			t.Fatal(err)
		}
	}
	event := "Events:\n  Type    Reason                 Age   From                         Message\n  ----    ------                 ----  ----                         -------\n  Normal  ProvisioningSucceeded  60m   persistentvolume-controller  volume "
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"describe", "pvc", "eph"}, []string{"\nCapacity:      2Gi\n", "\nUsed By:       owner\n               user\n",
			"\nConditions:\n  Type       Status  LastProbeTime                     LastTransitionTime                Reason  Message\n" +
				"  ----       ------  -----------------                 ------------------                ------  -------\n" +
				"  Resizing   True    Mon, 01 Jan 0001 00:00:00 +0000   Thu, 01 Jan 2026 00:00:00 +0000   Grow    to 2Gi\n",
			event + "eph ready\n"}},
		{[]string{"describe", "pv", "pv-ev"}, []string{"\nNode Affinity:   <none>\n", event + "pv-ev ready\n"}},
		{[]string{"describe", "sc", "sc-ev"}, []string{"\nIsDefaultClass:        No\n", event + "sc-ev ready\n"}},
	} {
		got := h.sameAsStock(tc.args...)
		for _, want := range tc.want {
			if !strings.Contains(got, want) {
				t.Errorf("kubectl %s: no %q in\n%s", strings.Join(tc.args, " "), want, got)
			}
		}
	}
}

// TestDescribePodEphemeralVolume: a pod's ephemeral volume is described as the stock
// kubectl does, its claim template printed as a claim (class, labels, annotations, mode).
func TestDescribePodEphemeralVolume(t *testing.T) {
	h := newRolloutHarness(t)
	tmpl := &corev1.PersistentVolumeClaimTemplate{
		Metadata: &metav1.ObjectMeta{Labels: map[string]string{"type": "scratch", "tier": "db"}, Annotations: map[string]string{"note": "per pod"}},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce}, StorageClassName: proto.String("standard"),
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{corev1.ResourceStorage: {String_: "1Gi"}}}},
	}
	if _, err := h.cs.Pods("default").Create(h.ctx, &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "eph", Namespace: "default"},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []*corev1.Volume{{Name: "scratch", Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: tmpl}},
				{Name: "bare", Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: tmpl.Spec}}}}}}); err != nil {
		t.Fatal(err)
	}
	got := h.sameAsStock("describe", "pod", "eph")
	want := "\n  scratch:\n" +
		"    Type:          EphemeralVolume (an inline specification for a volume that gets created and deleted with the pod)\n" +
		"    StorageClass:  standard\n" +
		"    Volume:        \n" +
		"    Labels:            tier=db\n" +
		"                       type=scratch\n" +
		"    Annotations:       note: per pod\n" +
		"    Capacity:      \n" +
		"    Access Modes:  \n" +
		"    VolumeMode:    Filesystem\n"
	// kubectl's nested writer indents a map's value (and <none>) once more.
	for _, want := range []string{want, "\n    Labels:            <none>\n    Annotations:       <none>\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
}
