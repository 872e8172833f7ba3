package server

import (
	"net/http"
	"testing"
	"time"
)

// TestDryRunDeleteAnswersTheOutcome: a dry-run delete answers as Kubernetes' registry does,
// with the object as the delete would leave it (a graceful pod with its deletionTimestamp
// and grace period, a foreground delete with its finalizer, a namespace Terminating), or the
// usual answer of an immediate delete, and writes nothing. Answering a graceful delete with
// the untouched object, as if it were already gone, tells a client nothing true.
func TestDryRunDeleteAnswersTheOutcome(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1"}}`).must(t, http.StatusCreated)
	c.post(pods, podJSON("web-0", "")).must(t, http.StatusCreated)
	c.post(pods+"/web-0/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web-0"},"target":{"kind":"Node","name":"node-1"}}`).must(t, http.StatusCreated)
	c.post(deployments, seedDeployment).must(t, http.StatusCreated)
	c.post("/api/v1/namespaces/default/configmaps", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}`).must(t, http.StatusCreated)
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}}`).must(t, http.StatusCreated)
	rv := func(path string) any {
		return dig(c.get(path).must(t, http.StatusOK).json(t), "metadata", "resourceVersion")
	}
	podRV, deployRV, cmRV, nsRV := rv(pods+"/web-0"), rv(deployments+"/example-deployment"), rv("/api/v1/namespaces/default/configmaps/cm"), rv("/api/v1/namespaces/team-a")

	// A pod on a node: graceful, its terminationGracePeriodSeconds (default 30) from now.
	before := time.Now().Truncate(time.Second)
	p := c.del(pods+"/web-0?dryRun=All").must(t, http.StatusOK).json(t)
	if p["kind"] != "Pod" || dig(p, "metadata", "deletionGracePeriodSeconds") != float64(30) {
		t.Errorf("dry-run graceful delete answered %v, want the Pod with deletionGracePeriodSeconds 30", p["metadata"])
	}
	ts, err := time.Parse(time.RFC3339, str(dig(p, "metadata", "deletionTimestamp")))
	if err != nil || ts.Before(before.Add(30*time.Second)) || ts.After(time.Now().Add(31*time.Second)) {
		t.Errorf("deletionTimestamp %v (%v), want about 30s from now", dig(p, "metadata", "deletionTimestamp"), err)
	}
	// The client's grace period wins, from DeleteOptions in the body as from the query.
	p = c.do("DELETE", pods+"/web-0", "application/json", `{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"gracePeriodSeconds":5}`).
		must(t, http.StatusOK).json(t)
	if g := dig(p, "metadata", "deletionGracePeriodSeconds"); g != float64(5) {
		t.Errorf("dry-run delete with grace 5: deletionGracePeriodSeconds %v", g)
	}
	// Grace period 0 deletes at once: the answer is the pod's last state, as a real delete's.
	p = c.del(pods+"/web-0?dryRun=All&gracePeriodSeconds=0").must(t, http.StatusOK).json(t)
	if p["kind"] != "Pod" || dig(p, "metadata", "deletionTimestamp") != nil {
		t.Errorf("dry-run immediate pod delete answered %v", p["metadata"])
	}

	// Foreground: the object waits for the garbage collector under its finalizer.
	d := c.del(deployments + "/example-deployment?dryRun=All&propagationPolicy=Foreground").json(t)
	if dig(d, "metadata", "finalizers", 0) != "foregroundDeletion" || dig(d, "metadata", "deletionTimestamp") == nil {
		t.Errorf("dry-run foreground delete answered %v", d["metadata"])
	}
	// An immediate delete of a kind that answers with a Status still does.
	st := c.del("/api/v1/namespaces/default/configmaps/cm?dryRun=All").must(t, http.StatusOK).json(t)
	if st["kind"] != "Status" || st["status"] != "Success" || dig(st, "details", "name") != "cm" {
		t.Errorf("dry-run configmap delete answered %v", st)
	}
	// A namespace waits for its finalizers, Terminating.
	ns := c.del("/api/v1/namespaces/team-a?dryRun=All").json(t)
	if dig(ns, "status", "phase") != "Terminating" || dig(ns, "metadata", "deletionTimestamp") == nil {
		t.Errorf("dry-run namespace delete answered %v %v", ns["metadata"], ns["status"])
	}

	// Nothing was written.
	for path, want := range map[string]any{pods + "/web-0": podRV, deployments + "/example-deployment": deployRV,
		"/api/v1/namespaces/default/configmaps/cm": cmRV, "/api/v1/namespaces/team-a": nsRV} {
		o := c.get(path).must(t, http.StatusOK).json(t)
		if dig(o, "metadata", "resourceVersion") != want || dig(o, "metadata", "deletionTimestamp") != nil || dig(o, "metadata", "finalizers") != nil {
			t.Errorf("%s changed by a dry run: %v", path, o["metadata"])
		}
	}
	if phase := dig(c.get("/api/v1/namespaces/team-a").json(t), "status", "phase"); phase != "Active" {
		t.Errorf("namespace phase %v after a dry run, want Active", phase)
	}
}
