package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestStorageAdmission: DefaultStorageClass gives a claim that names no class the default
// class (the newest of several), leaves "" and named classes alone; StorageObjectInUseProtection
// puts the protection finalizers on new pvcPath and volumes, so a deleted claim stays,
// Terminating, until the protection controller lets it go.
func TestStorageAdmission(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)

	// No default class yet: the claim stays without one.
	pvc := c.post(pvcPath, claimJSON("early", "-")).must(t, http.StatusCreated).json(t)
	if _, ok := pvc["spec"].(map[string]any)["storageClassName"]; ok {
		t.Errorf("claim without a default class got one: %v", pvc["spec"])
	}
	if fin := dig(pvc, "metadata", "finalizers"); fmt.Sprint(fin) != "[kubernetes.io/pvc-protection]" {
		t.Errorf("claim finalizers = %v", fin)
	}
	pv := c.post(persistentVolumes, hostPathPVJSON("pv1")).must(t, http.StatusCreated).json(t)
	if fin := dig(pv, "metadata", "finalizers"); fmt.Sprint(fin) != "[kubernetes.io/pv-protection]" {
		t.Errorf("volume finalizers = %v", fin)
	}

	defaultClass := func(name string) string {
		return `{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"` + name +
			`","annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},"provisioner":"rancher.io/local-path"}`
	}
	c.post(storageClasses, defaultClass("standard")).must(t, http.StatusCreated)
	eventually(t, "the default class in the cache", func() bool {
		got := c.post(pvcPath, claimJSON("probe-"+fmt.Sprint(time.Now().UnixNano()), "-")).must(t, http.StatusCreated).json(t)
		return dig(got, "spec", "storageClassName") == "standard"
	})
	for _, tc := range []struct{ name, class, want string }{{"no-class", "", ""}, {"manual", "manual", "manual"}} {
		got := c.post(pvcPath, claimJSON(tc.name, tc.class)).must(t, http.StatusCreated).json(t)
		if dig(got, "spec", "storageClassName") != tc.want {
			t.Errorf("claim with class %q got %v", tc.class, dig(got, "spec", "storageClassName"))
		}
	}
	// Of two defaults, the newer wins (creation timestamps are seconds: wait for the next).
	created := dig(c.get(storageClasses+"/standard").must(t, http.StatusOK).json(t), "metadata", "creationTimestamp")
	eventually(t, "a newer second", func() bool { return time.Now().UTC().Format(time.RFC3339) != created })
	c.post(storageClasses, defaultClass("fast")).must(t, http.StatusCreated)
	eventually(t, "the newer default class", func() bool {
		got := c.post(pvcPath, claimJSON("probe-"+fmt.Sprint(time.Now().UnixNano()), "-")).must(t, http.StatusCreated).json(t)
		return dig(got, "spec", "storageClassName") == "fast"
	})

	// A deleted claim waits for its finalizer.
	c.del(pvcPath+"/early").must(t, http.StatusOK)
	got := c.get(pvcPath+"/early").must(t, http.StatusOK).json(t)
	if dig(got, "metadata", "deletionTimestamp") == nil {
		t.Errorf("deleted claim = %v", got["metadata"])
	}
	c.do("PATCH", pvcPath+"/early", "application/merge-patch+json", `{"metadata":{"finalizers":null}}`).must(t, http.StatusOK)
	eventually(t, "the claim gone", func() bool { return c.get(pvcPath+"/early").code == http.StatusNotFound })
}
