package server

import (
	"net/http"
	"strings"
	"testing"
)

const pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"

func pdbJSON(name, spec string) string {
	return `{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"` + name + `"},"spec":{` + spec + `}}`
}

// TestPodDisruptionBudgetKind: PodDisruptionBudgets are served as policy/v1 serves them
// (namespaced, short name pdb, a status subresource), validated as Kubernetes validates them,
// and listed by the stock kubectl with its columns.
func TestPodDisruptionBudgetKind(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)

	var found bool
	for _, r := range c.get("/apis/policy/v1").must(t, http.StatusOK).json(t)["resources"].([]any) {
		r := r.(map[string]any)
		if r["name"] == "poddisruptionbudgets" {
			found = r["namespaced"] == true && r["kind"] == "PodDisruptionBudget" && dig(r, "shortNames", 0) == "pdb"
		}
	}
	if !found {
		t.Error("discovery lacks poddisruptionbudgets in policy/v1")
	}

	got := c.post(pdbs, pdbJSON("web", `"minAvailable":"50%","selector":{"matchLabels":{"app":"web"}}`)).must(t, http.StatusCreated).json(t)
	// The status is written whole, its counters included, as Kubernetes writes them.
	if dig(got, "status", "disruptionsAllowed") != float64(0) || dig(got, "status", "expectedPods") != float64(0) {
		t.Errorf("created status = %v", got["status"])
	}
	// Status only through the subresource; the main resource keeps it.
	c.put(pdbs+"/web/status", `{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web"},"spec":{"minAvailable":"50%","selector":{"matchLabels":{"app":"web"}}},"status":{"disruptionsAllowed":2,"currentHealthy":3,"desiredHealthy":1,"expectedPods":3}}`).must(t, http.StatusOK)
	if got := c.get(pdbs+"/web").must(t, http.StatusOK).json(t); dig(got, "status", "disruptionsAllowed") != float64(2) {
		t.Errorf("status after the subresource write = %v", got["status"])
	}

	// Both of minAvailable and maxUnavailable: 422 naming spec. policy/v1 accepts neither.
	st := c.post(pdbs, pdbJSON("both", `"minAvailable":1,"maxUnavailable":1`)).must(t, http.StatusUnprocessableEntity).json(t)
	if dig(st, "details", "causes", 0, "field") != "spec" || !strings.Contains(str(st["message"]), "minAvailable and maxUnavailable cannot be both set") {
		t.Errorf("both set: %v", st)
	}
	c.post(pdbs, pdbJSON("neither", `"selector":{"matchLabels":{"app":"web"}}`)).must(t, http.StatusCreated)
	st = c.post(pdbs, pdbJSON("bad", `"maxUnavailable":"150%","unhealthyPodEvictionPolicy":"Never"`)).must(t, http.StatusUnprocessableEntity).json(t)
	var fields []string
	for _, cause := range dig(st, "details", "causes").([]any) {
		fields = append(fields, str(dig(cause, "field")))
	}
	if strings.Join(fields, ",") != "spec.maxUnavailable,spec.unhealthyPodEvictionPolicy" {
		t.Errorf("causes = %v", fields)
	}

	// kubectl explain reads the proto comments through OpenAPI.
	if out := kubectl(t, s, "explain", "pdb.spec"); !strings.Contains(out, "an eviction is allowed only if at least") {
		t.Errorf("kubectl explain pdb.spec:\n%s", out)
	}

	out := kubectl(t, s, "get", "pdb")
	for _, want := range []string{"NAME      MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE", "web       50%             N/A               2"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get pdb lacks %q:\n%s", want, out)
		}
	}
}
