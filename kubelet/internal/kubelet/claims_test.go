package kubelet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// fakeClaims serves claims and PVs from maps.
type fakeClaims struct {
	pvcs map[string]*corev1.PersistentVolumeClaim // by namespace/name
	pvs  map[string]*corev1.PersistentVolume
}

func (f fakeClaims) PersistentVolumeClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if c, ok := f.pvcs[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "persistentvolumeclaims"}, name)
}

func (f fakeClaims) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	if pv, ok := f.pvs[name]; ok {
		return pv, nil
	}
	return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "persistentvolumes"}, name)
}

func boundClaim(name, pv string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "claim-uid"},
		Spec: &corev1.PersistentVolumeClaimSpec{VolumeName: pv}, Status: &corev1.PersistentVolumeClaimStatus{Phase: "Bound"}}
}

func claimedPV(name, claim string, spec *corev1.PersistentVolumeSpec) *corev1.PersistentVolume {
	spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: claim, Uid: "claim-uid"}
	return &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: name}, Spec: spec}
}

func TestClaimVolumes(t *testing.T) {
	dir := t.TempDir()
	created := filepath.Join(dir, "pvc-1_default_data")
	local := filepath.Join(dir, "disk")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	claims := fakeClaims{
		pvcs: map[string]*corev1.PersistentVolumeClaim{
			"default/host":    boundClaim("host", "pv-host"),
			"default/local":   boundClaim("local", "pv-local"),
			"default/pending": {Metadata: &metav1.ObjectMeta{Name: "pending", Namespace: "default"}, Spec: &corev1.PersistentVolumeClaimSpec{}, Status: &corev1.PersistentVolumeClaimStatus{Phase: "Pending"}},
			"default/nopv":    boundClaim("nopv", "pv-gone"),
			"default/stolen":  boundClaim("stolen", "pv-host"),
			"default/gone":    boundClaim("gone", "pv-nolocal"),
			"default/nfs":     boundClaim("nfs", "pv-nfs"),
			"default/byname":  boundClaim("byname", "pv-byname"),
			"default/deleting": {Metadata: &metav1.ObjectMeta{Name: "deleting", Namespace: "default", DeletionTimestamp: &metav1.Time{Seconds: 1}},
				Spec: &corev1.PersistentVolumeClaimSpec{VolumeName: "pv-host"}, Status: &corev1.PersistentVolumeClaimStatus{Phase: "Bound"}},
		},
		pvs: map[string]*corev1.PersistentVolume{
			"pv-host":    claimedPV("pv-host", "host", &corev1.PersistentVolumeSpec{HostPath: &corev1.HostPathVolumeSource{Path: created, Type: ptrTo("DirectoryOrCreate")}}),
			"pv-local":   claimedPV("pv-local", "local", &corev1.PersistentVolumeSpec{Local: &corev1.LocalVolumeSource{Path: local}}),
			"pv-nolocal": claimedPV("pv-nolocal", "gone", &corev1.PersistentVolumeSpec{Local: &corev1.LocalVolumeSource{Path: filepath.Join(dir, "missing")}}),
			"pv-nfs":     claimedPV("pv-nfs", "nfs", &corev1.PersistentVolumeSpec{}),
			// Pre-bound by name only: not yet bound to this claim by the binder.
			"pv-byname": {Metadata: &metav1.ObjectMeta{Name: "pv-byname"}, Spec: &corev1.PersistentVolumeSpec{
				HostPath: &corev1.HostPathVolumeSource{Path: created}, ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: "byname"}}},
		},
	}
	claimVol := func(claim string, ro bool) *corev1.Volume {
		return &corev1.Volume{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: ro}}
	}
	const unprocessed = `Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process volumes=[data]: error processing PVC default/`
	for _, tc := range []struct {
		name, claim string
		ro          bool
		want        hostVolume
		wantErr     string
	}{
		{name: "bound hostPath PV, created as DirectoryOrCreate", claim: "host", want: hostVolume{Path: created}},
		{name: "read-only as the pod's volume says", claim: "host", ro: true, want: hostVolume{Path: created, ReadOnly: true}},
		{name: "bound local PV", claim: "local", want: hostVolume{Path: local}},
		{name: "missing claim", claim: "none", wantErr: unprocessed + `none: failed to fetch PVC from API server: persistentvolumeclaims "none" not found`},
		{name: "unbound claim", claim: "pending", wantErr: unprocessed + `pending: PVC is not bound`},
		{name: "claim being deleted", claim: "deleting", wantErr: unprocessed + `deleting: can't start pod because PVC is being deleted`},
		{name: "missing PV", claim: "nopv", wantErr: unprocessed + `nopv: failed to fetch PV pv-gone from API server: persistentvolumes "pv-gone" not found`},
		{name: "PV bound to another claim", claim: "stolen", wantErr: unprocessed + `stolen: PV pv-host is not bound to this PVC (claimRef default/host)`},
		{name: "PV's claimRef without the claim's uid", claim: "byname", wantErr: unprocessed + `byname: PV pv-byname is not bound to this PVC (claimRef default/byname)`},
		{name: "local path missing", claim: "gone", wantErr: `MountVolume.SetUp failed for volume "pv-nolocal" : path "` + filepath.Join(dir, "missing") + `" does not exist`},
		{name: "no source this kubelet mounts", claim: "nfs", wantErr: `MountVolume.SetUp failed for volume "pv-nfs" : no volume plugin matched`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vols, err := setUpVolumes(context.Background(), volumeContext{Root: t.TempDir(), Claims: claims}, volumePod(claimVol(tc.claim, tc.ro)))
			if tc.wantErr != "" {
				var ce *podConfigError
				if err == nil || errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want a retried %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if vols["data"] != tc.want {
				t.Fatalf("volume %+v, want %+v", vols["data"], tc.want)
			}
			if fi, err := os.Stat(tc.want.Path); err != nil || !fi.IsDir() {
				t.Fatalf("%s: %v", tc.want.Path, err)
			}
		})
	}
}

// An ephemeral volume of pod p is the claim p-<volume>, mounted as a claim volume once
// the kubelet has checked the pod controls it.
func TestEphemeralClaimVolume(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pvc-1")
	owned := func(c *corev1.PersistentVolumeClaim, uid string) *corev1.PersistentVolumeClaim {
		yes := true
		c.Metadata.OwnerReferences = []*metav1.OwnerReference{{ApiVersion: "v1", Kind: "Pod", Name: "p", Uid: uid, Controller: &yes}}
		return c
	}
	pending := &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "p-data", Namespace: "default"},
		Spec: &corev1.PersistentVolumeClaimSpec{}, Status: &corev1.PersistentVolumeClaimStatus{Phase: "Pending"}}
	pv := claimedPV("pv-1", "p-data", &corev1.PersistentVolumeSpec{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptrTo("DirectoryOrCreate")}})
	const unprocessed = `Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process volumes=[data]: `
	for _, tc := range []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim // p-data, if any
		wantErr string
	}{
		{"the pod's bound claim", owned(boundClaim("p-data", "pv-1"), "uid-1"), ""},
		{"not made yet", nil, unprocessed + `error processing PVC default/p-data: failed to fetch PVC from API server: persistentvolumeclaims "p-data" not found`},
		{"the pod's claim, unbound", owned(pending, "uid-1"), unprocessed + `error processing PVC default/p-data: PVC is not bound`},
		{"a namesake with no owner", boundClaim("p-data", "pv-1"), unprocessed + `PVC default/p-data was not created for pod default/p (pod is not owner)`},
		{"an earlier pod's", owned(boundClaim("p-data", "pv-1"), "uid-0"), unprocessed + `PVC default/p-data was not created for pod default/p (pod is not owner)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := fakeClaims{pvcs: map[string]*corev1.PersistentVolumeClaim{}, pvs: map[string]*corev1.PersistentVolume{"pv-1": pv}}
			if tc.claim != nil {
				claims.pvcs["default/p-data"] = tc.claim
			}
			vol := &corev1.Volume{Name: "data", Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}
			vols, err := setUpVolumes(context.Background(), volumeContext{Root: t.TempDir(), Claims: claims}, volumePod(vol))
			if tc.wantErr != "" {
				var ce *podConfigError
				if err == nil || errors.As(err, &ce) || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want a retried %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := (hostVolume{Path: dir}); vols["data"] != want {
				t.Fatalf("volume %+v, want %+v", vols["data"], want)
			}
		})
	}
}

// A pod's claim volume resolves through the apiserver once: later set-ups (a container
// restarted, the kubelet restarted) use the record in the pod's directory, so they need
// neither the apiserver nor a claim that is not being deleted. Another pod, or the pod's
// directory removed, resolves again.
func TestClaimVolumeRecorded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pvc-1_default_data")
	claims := fakeClaims{
		pvcs: map[string]*corev1.PersistentVolumeClaim{"default/host": boundClaim("host", "pv-host")},
		pvs: map[string]*corev1.PersistentVolume{"pv-host": claimedPV("pv-host", "host",
			&corev1.PersistentVolumeSpec{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptrTo("DirectoryOrCreate")}})},
	}
	pod := volumePod(&corev1.Volume{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "host"}})
	root := t.TempDir()
	vols, err := setUpVolumes(context.Background(), volumeContext{Root: root, Claims: claims}, pod)
	if err != nil || vols["data"].Path != path {
		t.Fatalf("first set-up: %v, %v", vols, err)
	}
	// The apiserver gone (no getter), or the claim being deleted: the record answers.
	for name, g := range map[string]claimGetter{
		"no apiserver": nil,
		"claim being deleted": fakeClaims{pvcs: map[string]*corev1.PersistentVolumeClaim{"default/host": {
			Metadata: &metav1.ObjectMeta{Name: "host", Namespace: "default", Uid: "claim-uid", DeletionTimestamp: &metav1.Time{Seconds: 1}},
			Spec:     &corev1.PersistentVolumeClaimSpec{VolumeName: "pv-host"}, Status: &corev1.PersistentVolumeClaimStatus{Phase: "Bound"}}}, pvs: claims.pvs},
	} {
		vols, err := setUpVolumes(context.Background(), volumeContext{Root: root, Claims: g}, pod)
		if err != nil || vols["data"].Path != path {
			t.Errorf("%s: set-up again: %v, %v; want the recorded %s", name, vols, err, path)
		}
	}
	// A new pod (another uid) has no record: without an apiserver it cannot mount.
	other := volumePod(&corev1.Volume{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "host"}})
	other.Metadata.Uid = "another-uid"
	if _, err := setUpVolumes(context.Background(), volumeContext{Root: root, Claims: nil}, other); err == nil {
		t.Error("another pod mounted the claim from the first pod's record")
	}
	// The pod's directory removed with the pod: its record goes too.
	if err := removePodDir(root, pod.GetMetadata().GetUid()); err != nil {
		t.Fatal(err)
	}
	if _, err := setUpVolumes(context.Background(), volumeContext{Root: root, Claims: nil}, pod); err == nil {
		t.Error("a removed pod directory's record still answered")
	}
}
