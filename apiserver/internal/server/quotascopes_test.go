package server

import (
	"fmt"
	"testing"
)

// scopedPod is a pod with one container; cpu "" leaves it best effort, deadline < 0
// leaves spec.activeDeadlineSeconds unset.
func scopedPod(name, cpu string, deadline int) string {
	res, spec := "", ""
	if cpu != "" {
		res = fmt.Sprintf(`,"resources":{"requests":{"cpu":%q}}`, cpu)
	}
	if deadline >= 0 {
		spec = fmt.Sprintf(`"activeDeadlineSeconds":%d,`, deadline)
	}
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{%s"containers":[{"name":"c","image":"nginx:1.14.2"%s}]}}`, name, spec, res)
}

func quotaJSON(name, hard, scopes string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":%q},"spec":{"hard":{%s},"scopes":[%s]}}`, name, hard, scopes)
}

// A BestEffort quota caps best-effort pods only, and a NotBestEffort cpu quota counts and
// asks requests of the others only: neither gets in the other's way.
func TestResourceQuotaBestEffortScopes(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"scoped"}}`).must(t, 201)
	nsPods, quotas := "/api/v1/namespaces/scoped/pods", "/api/v1/namespaces/scoped/resourcequotas"
	c.post(nsPods, scopedPod("early-burstable", "200m", -1)).must(t, 201)
	c.post(nsPods, scopedPod("early-besteffort", "", -1)).must(t, 201)

	v := c.post(quotas, quotaJSON("besteffort", `"pods":"2"`, `"BestEffort"`)).must(t, 201).json(t)
	if got := dig(v, "status", "used", "pods"); got != "1" {
		t.Errorf("BestEffort quota used pods = %v on create, want 1 (only the best-effort pod)", got)
	}
	v = c.post(quotas, quotaJSON("notbesteffort", `"requests.cpu":"1","pods":"10"`, `"NotBestEffort"`)).must(t, 201).json(t)
	if got := dig(v, "status", "used"); dig(got, "requests.cpu") != "200m" || dig(got, "pods") != "1" {
		t.Errorf("NotBestEffort quota used = %v on create, want pods=1, requests.cpu=200m", got)
	}
	eventually(t, "both quotas to be seen", func() bool {
		return len(c.get(quotas+"?resourceVersion=0").must(t, 200).json(t)["items"].([]any)) == 2
	})

	// A best-effort pod states no cpu, yet the NotBestEffort cpu quota does not ask for it.
	c.post(nsPods, scopedPod("be-1", "", -1)).must(t, 201)
	r := c.post(nsPods, scopedPod("be-2", "", -1)).must(t, 403)
	want := `pods "be-2" is forbidden: exceeded quota: besteffort, requested: pods=1, used: pods=2, limited: pods=2`
	if msg := str(r.json(t)["message"]); msg != want {
		t.Errorf("message = %q\nwant      %q", msg, want)
	}
	// A pod with requests is out of the full BestEffort quota's scope.
	c.post(nsPods, scopedPod("burst-1", "300m", -1)).must(t, 201)
	r = c.post(nsPods, scopedPod("burst-2", "600m", -1)).must(t, 403)
	want = `pods "burst-2" is forbidden: exceeded quota: notbesteffort, requested: requests.cpu=600m, used: requests.cpu=500m, limited: requests.cpu=1`
	if msg := str(r.json(t)["message"]); msg != want {
		t.Errorf("message = %q\nwant      %q", msg, want)
	}

	be := c.get(quotas+"/besteffort").must(t, 200).json(t)
	if got := dig(be, "status", "used", "pods"); got != "2" {
		t.Errorf("besteffort used pods = %v, want 2", got)
	}
	nbe := c.get(quotas+"/notbesteffort").must(t, 200).json(t)
	if got := dig(nbe, "status", "used"); dig(got, "requests.cpu") != "500m" || dig(got, "pods") != "2" {
		t.Errorf("notbesteffort used = %v, want pods=2, requests.cpu=500m", got)
	}
}

// A Terminating quota counts only pods with a deadline.
func TestResourceQuotaTerminatingScope(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"jobs"}}`).must(t, 201)
	nsPods, quotas := "/api/v1/namespaces/jobs/pods", "/api/v1/namespaces/jobs/resourcequotas"
	c.post(quotas, quotaJSON("batch", `"pods":"1"`, `"Terminating"`)).must(t, 201)
	eventually(t, "the quota to be seen", func() bool {
		return len(c.get(quotas+"?resourceVersion=0").must(t, 200).json(t)["items"].([]any)) == 1
	})
	c.post(nsPods, scopedPod("job-1", "", 600)).must(t, 201)
	r := c.post(nsPods, scopedPod("job-2", "", 1)).must(t, 403)
	want := `pods "job-2" is forbidden: exceeded quota: batch, requested: pods=1, used: pods=1, limited: pods=1`
	if msg := str(r.json(t)["message"]); msg != want {
		t.Errorf("message = %q\nwant      %q", msg, want)
	}
	c.post(nsPods, scopedPod("server", "", -1)).must(t, 201)
	c.post(nsPods, scopedPod("server-2", "", -1)).must(t, 201)
}

// The apiserver refuses scopes that do not fit the quota, with upstream's Status.
func TestResourceQuotaScopeValidation(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	quotas := "/api/v1/namespaces/default/resourcequotas"
	for _, tc := range []struct{ hard, scopes, want string }{
		{`"pods":"5","requests.cpu":"1"`, `"BestEffort"`,
			`ResourceQuota "bad" is invalid: spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource`},
		{`"pods":"5"`, `"Terminating","NotTerminating"`,
			`ResourceQuota "bad" is invalid: spec.scopes: Invalid value: []core.ResourceQuotaScope{"Terminating", "NotTerminating"}: conflicting scopes`},
	} {
		v := c.post(quotas, quotaJSON("bad", tc.hard, tc.scopes)).must(t, 422).json(t)
		if msg := str(v["message"]); msg != tc.want {
			t.Errorf("message = %q\nwant      %q", msg, tc.want)
		}
		if got := dig(v, "details", "causes", 0, "field"); got != "spec.scopes" {
			t.Errorf("cause field = %v, want spec.scopes", got)
		}
	}
}
