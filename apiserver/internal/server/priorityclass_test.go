package server

import (
	"net/http"
	"strings"
	"testing"
)

const priorityClasses = "/apis/scheduling.k8s.io/v1/priorityclasses"

// TestPriorityClassKind: scheduling.k8s.io/v1 PriorityClasses are served as upstream serves
// them: discovery with short name pc, the system classes created at start and again after a
// restart, never deleted, validation's messages, and the stock kubectl's create
// priorityclass (typed protobuf) and get pc.
func TestPriorityClassKind(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)

	if r := discovered(t, c, "/apis/scheduling.k8s.io/v1", "priorityclasses"); r["namespaced"] != false || r["kind"] != "PriorityClass" ||
		dig(r, "shortNames", 0) != "pc" {
		t.Errorf("discovery of priorityclasses: %v", r)
	}
	checkSystemClasses(t, c)

	// The system classes stay: no delete, no change of value or globalDefault.
	for _, name := range []string{"system-node-critical", "system-cluster-critical"} {
		st := c.del(priorityClasses+"/"+name).must(t, http.StatusForbidden).json(t)
		if want := `priorityclasses.scheduling.k8s.io "` + name + `" is forbidden: this is a system priority class and cannot be deleted`; st["message"] != want {
			t.Errorf("delete %s: %v", name, st["message"])
		}
	}
	st := c.do("PATCH", priorityClasses+"/system-cluster-critical", "application/merge-patch+json", `{"value":5}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	for _, want := range []string{
		`metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: value of system-cluster-critical PriorityClass must be 2000000000`,
		`value: Forbidden: may not be changed in an update.`,
	} {
		if !strings.Contains(str(st["message"]), want) {
			t.Errorf("value change of a system class: %v\nwant %s", st["message"], want)
		}
	}
	c.do("PATCH", priorityClasses+"/system-node-critical", "application/merge-patch+json", `{"globalDefault":true}`).
		must(t, http.StatusUnprocessableEntity)

	for _, tc := range []struct{ body, want string }{
		{`{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"huge"},"value":1000000001}`,
			`PriorityClass.scheduling.k8s.io "huge" is invalid: value: Forbidden: maximum allowed value of a user defined priority is 1000000000`},
		{`{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"system-mine"},"value":5}`,
			`metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class`},
		{`{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"odd"},"value":5,"preemptionPolicy":"Sometimes"}`,
			`preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"`},
	} {
		st := c.post(priorityClasses, tc.body).must(t, http.StatusUnprocessableEntity).json(t)
		if !strings.Contains(str(st["message"]), tc.want) {
			t.Errorf("message = %q\nwant      %q", st["message"], tc.want)
		}
	}

	// The stock kubectl sends its typed create in protobuf.
	if out := kubectl(t, s, "create", "priorityclass", "batch", "--value=100", "--description=batch work", "--preemption-policy=Never"); !strings.Contains(out, "priorityclass.scheduling.k8s.io/batch created") {
		t.Errorf("kubectl create priorityclass: %s", out)
	}
	got := c.get(priorityClasses+"/batch").must(t, http.StatusOK).json(t)
	if got["value"] != float64(100) || got["description"] != "batch work" || got["preemptionPolicy"] != "Never" || got["globalDefault"] != nil {
		t.Errorf("batch = %v", got)
	}
	// value and preemptionPolicy are immutable, the description is not.
	c.do("PATCH", priorityClasses+"/batch", "application/merge-patch+json", `{"description":"later"}`).must(t, http.StatusOK)
	st = c.do("PATCH", priorityClasses+"/batch", "application/merge-patch+json", `{"preemptionPolicy":"PreemptLowerPriority"}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if want := `preemptionPolicy: Invalid value: "PreemptLowerPriority": field is immutable`; !strings.Contains(str(st["message"]), want) {
		t.Errorf("policy change: %v", st["message"])
	}

	out := kubectl(t, s, "get", "pc")
	for _, want := range []string{
		"NAME                      VALUE        GLOBAL-DEFAULT   AGE",
		"PREEMPTIONPOLICY",
		"batch                     100          false",
		"system-cluster-critical   2000000000   false",
		"system-node-critical      2000001000   false",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get pc lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "Never") || !strings.Contains(out, "PreemptLowerPriority") {
		t.Errorf("kubectl get pc lacks the policies:\n%s", out)
	}
	if out, err := kubectlErr(t, s, "delete", "pc", "system-node-critical"); err == nil ||
		!strings.Contains(out, "this is a system priority class and cannot be deleted") {
		t.Errorf("kubectl delete pc system-node-critical: %v\n%s", err, out)
	}

	// A deletecollection takes the user classes and leaves the system ones.
	c.del(priorityClasses).must(t, http.StatusOK)
	c.get(priorityClasses+"/batch").must(t, http.StatusNotFound)

	// After a restart the system classes are there, once each.
	s = restart(t, s)
	checkSystemClasses(t, adminClient(t, s))
}

// checkSystemClasses: the system classes exist, as upstream defines them.
func checkSystemClasses(t *testing.T, c *apiClient) {
	t.Helper()
	for name, value := range map[string]float64{"system-node-critical": 2000001000, "system-cluster-critical": 2000000000} {
		pc := c.get(priorityClasses+"/"+name).must(t, http.StatusOK).json(t)
		if pc["value"] != value || pc["preemptionPolicy"] != "PreemptLowerPriority" || pc["globalDefault"] != nil ||
			!strings.HasPrefix(str(pc["description"]), "Used for system critical pods that must") {
			t.Errorf("%s = %v", name, pc)
		}
	}
}
