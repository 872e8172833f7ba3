package server

import (
	"fmt"
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

// readyPod creates a pod with the labels app=web, bound to node-1, Running and Ready, which
// is what a budget protects.
func readyPod(t *testing.T, c *apiClient, name string) {
	t.Helper()
	c.post(pods, podJSON(name, "")).must(t, http.StatusCreated)
	c.post(pods+"/"+name+"/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"`+name+`"},"target":{"kind":"Node","name":"node-1"}}`).must(t, http.StatusCreated)
	c.put(pods+"/"+name+"/status", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"`+name+`"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`).must(t, http.StatusOK)
}

// setBudget writes a budget's status as the disruption controller would.
func setBudget(t *testing.T, c *apiClient, name string, generation, allowed, current, desired int) {
	t.Helper()
	c.put(pdbs+"/"+name+"/status", fmt.Sprintf(`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":%q},"status":{"observedGeneration":%d,"disruptionsAllowed":%d,"currentHealthy":%d,"desiredHealthy":%d,"expectedPods":%d}}`,
		name, generation, allowed, current, desired, current)).must(t, http.StatusOK)
}

// TestEvictionHonoursBudgets: an eviction spends the covering budget's disruptionsAllowed
// (noting the pod in disruptedPods) and is refused with 429 once it is spent; a dry run
// spends nothing; pods that are not running are evicted whatever the budget.
func TestEvictionHonoursBudgets(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		readyPod(t, c, name)
	}
	c.post(pdbs, pdbJSON("web", `"maxUnavailable":1,"selector":{"matchLabels":{"app":"web"}}`)).must(t, http.StatusCreated)
	evict := func(name, query string) response {
		return c.post(pods+"/"+name+"/eviction"+query, `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"`+name+`"},"deleteOptions":{"gracePeriodSeconds":0}}`)
	}

	// Until the controller has looked at this generation, the budget is not trusted.
	st := evict("web-0", "").must(t, http.StatusTooManyRequests).json(t)
	if !strings.Contains(str(dig(st, "details", "causes", 0, "message")), "still being processed") {
		t.Errorf("unobserved budget: %v", st)
	}
	setBudget(t, c, "web", 1, 1, 3, 2)
	before := dig(c.get(pdbs+"/web").json(t), "metadata", "resourceVersion")

	evict("web-0", "?dryRun=All").must(t, http.StatusCreated)
	c.get(pods+"/web-0").must(t, http.StatusOK)
	if rv := dig(c.get(pdbs+"/web").json(t), "metadata", "resourceVersion"); rv != before {
		t.Errorf("a dry-run eviction wrote the budget: resourceVersion %v → %v", before, rv)
	}

	evict("web-0", "").must(t, http.StatusCreated)
	c.get(pods+"/web-0").must(t, http.StatusNotFound)
	pdb := c.get(pdbs + "/web").json(t)
	if dig(pdb, "status", "disruptionsAllowed") != float64(0) || dig(pdb, "status", "disruptedPods", "web-0") == nil ||
		dig(pdb, "status", "conditions", 0, "reason") != "InsufficientPods" || dig(pdb, "status", "conditions", 0, "status") != "False" {
		t.Errorf("budget after the eviction: %v", pdb["status"])
	}

	st = evict("web-1", "").must(t, http.StatusTooManyRequests).json(t)
	if st["reason"] != "TooManyRequests" || st["message"] != "Cannot evict pod as it would violate the pod's disruption budget." ||
		dig(st, "details", "causes", 0, "reason") != "DisruptionBudget" ||
		dig(st, "details", "causes", 0, "message") != "The disruption budget web needs 2 healthy pods and has 3 currently" {
		t.Errorf("refusal = %v", st)
	}
	c.get(pods+"/web-1").must(t, http.StatusOK)

	// An unready pod spends nothing when the budget is met without it (IfHealthyBudget).
	c.put(pods+"/web-1/status", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"}]}}`).must(t, http.StatusOK)
	evict("web-1", "").must(t, http.StatusCreated)

	// A pending pod has no budget to respect.
	c.post(pods, podJSON("web-3", "")).must(t, http.StatusCreated)
	evict("web-3", "").must(t, http.StatusCreated)

	// Two budgets over one pod: upstream's 500.
	c.post(pdbs, pdbJSON("other", `"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}`)).must(t, http.StatusCreated)
	st = evict("web-2", "").must(t, http.StatusInternalServerError).json(t)
	if st["message"] != "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support." {
		t.Errorf("two budgets: %v", st)
	}
}

// TestStockKubectlDrainWaitsForBudget: the stock kubectl drain retries a refused eviction
// every 5s until its --timeout, saying why.
func TestStockKubectlDrainWaitsForBudget(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1"}}`).must(t, http.StatusCreated)
	readyPod(t, c, "web-0")
	c.post(pdbs, pdbJSON("web", `"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}`)).must(t, http.StatusCreated)
	setBudget(t, c, "web", 1, 0, 1, 1)
	out, err := kubectlErr(t, s, "drain", "node-1", "--force", "--grace-period=0", "--timeout=2s")
	want := `error when evicting pods/"web-0" -n "default" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.`
	if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "global timeout reached: 2s") {
		t.Errorf("drain: %v\n%s", err, out)
	}
	c.get(pods+"/web-0").must(t, http.StatusOK)
}
