package quota

import (
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// claim is a claim asking for storage ("" for no request) of class (nil leaves
// spec.storageClassName unset).
func claim(storage string, class *string) *corev1.PersistentVolumeClaim {
	spec := &corev1.PersistentVolumeClaimSpec{StorageClassName: class, Resources: &corev1.VolumeResourceRequirements{}}
	if storage != "" {
		spec.Resources.Requests = quantities("storage", storage)
	}
	return &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "data"}, Spec: spec}
}

func class(name string) *string { return &name }

// every claim resource a quota can cap, for the classes gold and silver.
var allClaimHard = []string{
	"persistentvolumeclaims", "10", "count/persistentvolumeclaims", "10", "requests.storage", "10Gi",
	"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "10",
	"gold.storageclass.storage.k8s.io/requests.storage", "10Gi",
	"silver.storageclass.storage.k8s.io/persistentvolumeclaims", "10",
	"silver.storageclass.storage.k8s.io/requests.storage", "10Gi",
	"pods", "10", "services", "10",
}

func TestClaimUsage(t *testing.T) {
	annotated := claim("1Gi", class("silver"))
	annotated.Metadata.Annotations = map[string]string{"volume.beta.kubernetes.io/storage-class": "gold"}
	for _, tc := range []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		want string
	}{
		{"no class: the class-less resources only", claim("2Gi", nil),
			"count/persistentvolumeclaims=1,persistentvolumeclaims=1,requests.storage=2Gi"},
		{"empty class is no class", claim("2Gi", class("")),
			"count/persistentvolumeclaims=1,persistentvolumeclaims=1,requests.storage=2Gi"},
		{"a class is charged its per-class resources too", claim("500Mi", class("gold")),
			"count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1," +
				"gold.storageclass.storage.k8s.io/requests.storage=500Mi,persistentvolumeclaims=1,requests.storage=500Mi"},
		{"the beta annotation wins over the field", annotated,
			"count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1," +
				"gold.storageclass.storage.k8s.io/requests.storage=1Gi,persistentvolumeclaims=1,requests.storage=1Gi"},
		{"no storage request: counted, no storage", claim("", class("gold")),
			"count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1,persistentvolumeclaims=1"},
		{"a fractional byte rounds up to a whole one", claim("1500m", nil),
			"count/persistentvolumeclaims=1,persistentvolumeclaims=1,requests.storage=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(ClaimUsage(tc.pvc, list(t, allClaimHard...))); got != tc.want {
				t.Errorf("ClaimUsage =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
	// Only what hard tracks is reported.
	if got, want := render(ClaimUsage(claim("1Gi", class("gold")), list(t, "requests.storage", "5Gi", "pods", "3"))), "requests.storage=1Gi"; got != want {
		t.Errorf("ClaimUsage with hard requests.storage,pods = %q, want %q", got, want)
	}
}

func TestIsClaimResource(t *testing.T) {
	for name, want := range map[string]bool{
		"persistentvolumeclaims":                                  true,
		"count/persistentvolumeclaims":                            true,
		"requests.storage":                                        true,
		"gold.storageclass.storage.k8s.io/requests.storage":       true,
		"gold.storageclass.storage.k8s.io/persistentvolumeclaims": true,
		"storage":    false,
		"pods":       false,
		"count/pods": false,
		"gold.storageclass.storage.k8s.io/storage":       false,
		"gold.storageclass.storage.k8s.io/requests.cpu":  false,
		"example.com/requests.storage":                   false,
		"requests.ephemeral-storage":                     false,
		"count/persistentvolumeclaims.storage.k8s.io":    false,
		"gold.storageclass.storage.k8s.io/limits.memory": false,
	} {
		if got := IsClaimResource(name); got != want {
			t.Errorf("IsClaimResource(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestTracksClaim(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec *corev1.ResourceQuotaSpec
		want bool
	}{
		{"claim count", &corev1.ResourceQuotaSpec{Hard: quantities("persistentvolumeclaims", "1")}, true},
		{"per-class storage", &corev1.ResourceQuotaSpec{Hard: quantities("gold.storageclass.storage.k8s.io/requests.storage", "1Gi")}, true},
		{"pods only", &corev1.ResourceQuotaSpec{Hard: quantities("pods", "1", "requests.cpu", "1")}, false},
		// No pod scope matches a claim (upstream with VolumeAttributesClass off).
		{"scoped", &corev1.ResourceQuotaSpec{Hard: quantities("pods", "1", "gold.storageclass.storage.k8s.io/requests.storage", "1Gi"),
			Scopes: []string{ScopeNotTerminating}}, false},
		{"VolumeAttributesClass scope", &corev1.ResourceQuotaSpec{Hard: quantities("requests.storage", "1Gi"),
			Scopes: []string{ScopeVolumeAttributesClass}}, false},
	} {
		if got := TracksClaim(tc.spec); got != tc.want {
			t.Errorf("%s: TracksClaim = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Recompute adds the claims of the namespace to its pods, a claim being deleted (held by
// its finalizer) included; a scoped quota counts its pods only.
func TestRecomputeCountsClaims(t *testing.T) {
	terminating := claim("3Gi", class("gold"))
	terminating.Metadata.DeletionTimestamp = &metav1.Time{Seconds: now.Unix()}
	terminating.Metadata.Finalizers = []string{"kubernetes.io/pvc-protection"}
	claims := []*corev1.PersistentVolumeClaim{claim("1Gi", class("gold")), claim("2Gi", nil), terminating}
	pods := []*corev1.Pod{pod("Running", container(nil, nil))}

	spec := &corev1.ResourceQuotaSpec{Hard: quantities("pods", "5", "persistentvolumeclaims", "5", "requests.storage", "10Gi",
		"gold.storageclass.storage.k8s.io/requests.storage", "5Gi", "silver.storageclass.storage.k8s.io/persistentvolumeclaims", "1")}
	st, err := Recompute(spec, pods, claims, now)
	if err != nil {
		t.Fatal(err)
	}
	want := "gold.storageclass.storage.k8s.io/requests.storage=4Gi,persistentvolumeclaims=3,pods=1,requests.storage=6Gi," +
		"silver.storageclass.storage.k8s.io/persistentvolumeclaims=0"
	if got := render(list(t, flatten(st.GetUsed())...)); got != want {
		t.Errorf("status.used =\n %s\nwant\n %s", got, want)
	}

	scoped := &corev1.ResourceQuotaSpec{Hard: quantities("pods", "5", "gold.storageclass.storage.k8s.io/requests.storage", "5Gi"),
		Scopes: []string{ScopeNotTerminating}}
	st, err = Recompute(scoped, pods, claims, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(list(t, flatten(st.GetUsed())...)), "gold.storageclass.storage.k8s.io/requests.storage=0,pods=1"; got != want {
		t.Errorf("scoped status.used = %q, want %q", got, want)
	}
}

func flatten(m map[string]*metav1.Quantity) []string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k, v.GetString_())
	}
	return kv
}
