package server

import (
	"fmt"
	"net/http"
	"testing"
)

// sizedClaim is a claim asking for storage of class ("" leaves the class unset).
func sizedClaim(name, storage, class string) string {
	c := ""
	if class != "" {
		c = fmt.Sprintf(`,"storageClassName":%q`, class)
	}
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":%q},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":%q}}%s}}`, name, storage, c)
}

// refusedWith posts body to path, wants a 403 and compares its message with want.
func refusedWith(t *testing.T, c *apiClient, path, body, want string) {
	t.Helper()
	r := c.post(path, body).must(t, http.StatusForbidden).json(t)
	if msg := str(r["message"]); msg != want {
		t.Errorf("message = %q\nwant      %q", msg, want)
	}
	if r["reason"] != "Forbidden" {
		t.Errorf("reason = %v, want Forbidden", r["reason"])
	}
}

// A quota of claims and storage charges each claim create and refuses, with upstream's
// message, the one that does not fit: by storage or by count.
func TestResourceQuotaChargesClaims(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"vols"}}`).must(t, 201)
	claims, quotas := "/api/v1/namespaces/vols/persistentvolumeclaims", "/api/v1/namespaces/vols/resourcequotas"
	c.post(quotas, quotaJSON("claims", `"persistentvolumeclaims":"1","requests.storage":"1Gi","pods":"5"`, "")).must(t, 201)
	eventually(t, "the quota to be seen", func() bool {
		return len(c.get(quotas+"?resourceVersion=0").must(t, 200).json(t)["items"].([]any)) == 1
	})

	refusedWith(t, c, claims, sizedClaim("big", "2Gi", ""),
		`persistentvolumeclaims "big" is forbidden: exceeded quota: claims, requested: requests.storage=2Gi, used: requests.storage=0, limited: requests.storage=1Gi`)
	c.post(claims, sizedClaim("first", "512Mi", "")).must(t, 201)
	used := dig(c.get(quotas+"/claims").must(t, 200).json(t), "status", "used")
	if dig(used, "persistentvolumeclaims") != "1" || dig(used, "requests.storage") != "512Mi" || dig(used, "pods") != "0" {
		t.Errorf("used after the first claim = %v, want persistentvolumeclaims=1, requests.storage=512Mi, pods=0", used)
	}
	refusedWith(t, c, claims, sizedClaim("second", "512Mi", ""),
		`persistentvolumeclaims "second" is forbidden: exceeded quota: claims, requested: persistentvolumeclaims=1, used: persistentvolumeclaims=1, limited: persistentvolumeclaims=1`)
	// Pods are no claims: the claim count does not hold them back.
	c.post("/api/v1/namespaces/vols/pods", scopedPod("web", "", -1)).must(t, 201)
}

// Per-class limits charge only the claims of that class; a quota made after its claims
// starts from their usage; a scoped quota counts no claims.
func TestResourceQuotaClaimsByStorageClass(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"tiers"}}`).must(t, 201)
	claims, quotas := "/api/v1/namespaces/tiers/persistentvolumeclaims", "/api/v1/namespaces/tiers/resourcequotas"
	c.post(claims, sizedClaim("g1", "1Gi", "gold")).must(t, 201)
	c.post(claims, sizedClaim("s1", "3Gi", "silver")).must(t, 201)

	const goldStorage, goldClaims = "gold.storageclass.storage.k8s.io/requests.storage", "gold.storageclass.storage.k8s.io/persistentvolumeclaims"
	v := c.post(quotas, quotaJSON("gold", fmt.Sprintf(`%q:"2Gi",%q:"5","requests.storage":"10Gi"`, goldStorage, goldClaims), "")).must(t, 201).json(t)
	used := dig(v, "status", "used")
	if dig(used, goldStorage) != "1Gi" || dig(used, goldClaims) != "1" || dig(used, "requests.storage") != "4Gi" {
		t.Errorf("used on create = %v, want gold storage 1Gi, gold claims 1, requests.storage 4Gi", used)
	}
	v = c.post(quotas, quotaJSON("scoped", fmt.Sprintf(`%q:"1Gi","pods":"3"`, goldStorage), `"NotTerminating"`)).must(t, 201).json(t)
	if got := dig(v, "status", "used", goldStorage); got != "0" {
		t.Errorf("scoped quota's gold storage used = %v on create, want 0: no scope matches a claim", got)
	}
	eventually(t, "both quotas to be seen", func() bool {
		return len(c.get(quotas+"?resourceVersion=0").must(t, 200).json(t)["items"].([]any)) == 2
	})

	refusedWith(t, c, claims, sizedClaim("g2", "1536Mi", "gold"),
		`persistentvolumeclaims "g2" is forbidden: exceeded quota: gold, requested: `+goldStorage+`=1536Mi, used: `+goldStorage+`=1Gi, limited: `+goldStorage+`=2Gi`)
	c.post(claims, sizedClaim("s2", "1536Mi", "silver")).must(t, 201)
	c.post(claims, sizedClaim("g3", "1Gi", "gold")).must(t, 201)
	used = dig(c.get(quotas+"/gold").must(t, 200).json(t), "status", "used")
	if dig(used, goldStorage) != "2Gi" || dig(used, goldClaims) != "2" || dig(used, "requests.storage") != "6656Mi" {
		t.Errorf("gold used = %v, want gold storage 2Gi, gold claims 2, requests.storage 6656Mi", used)
	}
	if got := dig(c.get(quotas+"/scoped").must(t, 200).json(t), "status", "used", goldStorage); got != "0" {
		t.Errorf("scoped quota's gold storage used = %v, want 0", got)
	}
}
