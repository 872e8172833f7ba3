package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// classPod is a pod in the default namespace naming a priority class ("" for none); extra
// is more of its spec, ending in a comma.
func classPod(name, class, extra string) string {
	cls := ""
	if class != "" {
		cls = fmt.Sprintf(`"priorityClassName":%q,`, class)
	}
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{%s%s"containers":[{"name":"c","image":"nginx:1.14.2"}]}}`, name, cls, extra)
}

// tolerationsOf returns a pod's tolerations as "key:effect=seconds" (seconds "-" when unset).
func tolerationsOf(pod map[string]any) []string {
	var out []string
	list, _ := digPath(pod, "spec.tolerations").([]any)
	for _, t := range list {
		secs := "-"
		if v, ok := dig(t, "tolerationSeconds").(float64); ok {
			secs = fmt.Sprint(v)
		}
		out = append(out, fmt.Sprintf("%s:%s=%s", str(dig(t, "key")), str(dig(t, "effect")), secs))
	}
	return out
}

// TestPriorityAdmission: the Priority and DefaultTolerationSeconds plugins are on by default.
// A pod gets the priority of the class it names (0 without one), the not-ready and
// unreachable tolerations of 300 s, the errors upstream answers, and a default class.
func TestPriorityAdmission(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	const pods = "/api/v1/namespaces/default/pods"

	plain := c.post(pods, classPod("plain", "", "")).must(t, http.StatusCreated).json(t)
	if digPath(plain, "spec.priority") != float64(0) || digPath(plain, "spec.preemptionPolicy") != "PreemptLowerPriority" ||
		digPath(plain, "spec.priorityClassName") != nil {
		t.Errorf("pod without a class: priority %v, policy %v, class %v", digPath(plain, "spec.priority"),
			digPath(plain, "spec.preemptionPolicy"), digPath(plain, "spec.priorityClassName"))
	}
	if got, want := strings.Join(tolerationsOf(plain), " "), "node.kubernetes.io/not-ready:NoExecute=300 node.kubernetes.io/unreachable:NoExecute=300"; got != want {
		t.Errorf("tolerations = %s, want %s", got, want)
	}
	if tol := digPath(plain, "spec.tolerations").([]any)[0]; dig(tol, "operator") != "Exists" {
		t.Errorf("toleration = %v", tol)
	}

	// A system class in a user namespace, as upstream allows since 1.17; a pod's own
	// tolerations of the taints are kept as they are.
	crit := c.post(pods, classPod("dns", "system-cluster-critical",
		`"tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":5}],`)).
		must(t, http.StatusCreated).json(t)
	if digPath(crit, "spec.priority") != float64(2000000000) || digPath(crit, "spec.priorityClassName") != "system-cluster-critical" {
		t.Errorf("system-cluster-critical pod: priority %v", digPath(crit, "spec.priority"))
	}
	if got, want := strings.Join(tolerationsOf(crit), " "), "node.kubernetes.io/unreachable:NoExecute=5 node.kubernetes.io/not-ready:NoExecute=300"; got != want {
		t.Errorf("tolerations = %s, want %s", got, want)
	}

	for _, tc := range []struct{ body, want string }{
		{classPod("gold", "gold", ""), `pods "gold" is forbidden: no PriorityClass with name gold was found`},
		{classPod("hand", "", `"priority":7,`), `pods "hand" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`},
		{classPod("never", "system-node-critical", `"preemptionPolicy":"Never",`), `pods "never" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name`},
	} {
		st := c.post(pods, tc.body).must(t, http.StatusForbidden).json(t)
		if st["message"] != tc.want || st["reason"] != "Forbidden" {
			t.Errorf("message = %q\nwant      %q", st["message"], tc.want)
		}
	}
	// Priority cannot change on an update; one that leaves it out keeps it.
	st := c.do("PATCH", pods+"/plain", "application/strategic-merge-patch+json", `{"spec":{"priority":9}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "spec: Forbidden: pod updates may not change fields other than") {
		t.Errorf("priority change: %v", st["message"])
	}

	// A global default class: pods naming none get it, and there is only one.
	c.post(priorityClasses, `{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"normal"},"value":1000,"globalDefault":true,"preemptionPolicy":"Never"}`).
		must(t, http.StatusCreated)
	st = c.post(priorityClasses, `{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"other"},"value":5,"globalDefault":true}`).
		must(t, http.StatusForbidden).json(t)
	if want := `priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass normal is already marked as default. Only one default can exist`; st["message"] != want {
		t.Errorf("second default: %v", st["message"])
	}
	eventually(t, "pods get the default class", func() bool {
		p := c.post(pods, `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"defaulted-"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`).
			must(t, http.StatusCreated).json(t)
		return digPath(p, "spec.priorityClassName") == "normal" && digPath(p, "spec.priority") == float64(1000) &&
			digPath(p, "spec.preemptionPolicy") == "Never"
	})
}

// TestPriorityClassQuotaScope: a ResourceQuota scoped to PriorityClass counts the pods that
// name a class, including those given the default class by the Priority plugin, which runs
// before ResourceQuota.
func TestPriorityClassQuotaScope(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	const pods, quotas = "/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/resourcequotas"
	c.post(quotas, quotaJSON("classed", `"pods":"2"`, `"PriorityClass"`)).must(t, http.StatusCreated)
	c.post(priorityClasses, `{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"high"},"value":100}`).must(t, http.StatusCreated)

	c.post(pods, classPod("plain", "", "")).must(t, http.StatusCreated)
	c.post(pods, classPod("high-1", "high", "")).must(t, http.StatusCreated)
	q := c.get(quotas+"/classed").must(t, http.StatusOK).json(t)
	if got := dig(q, "status", "used", "pods"); got != "1" {
		t.Errorf("used pods = %v, want 1 (the pod without a class is not tracked)", got)
	}
	c.post(priorityClasses, `{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"normal"},"value":10,"globalDefault":true}`).
		must(t, http.StatusCreated)
	eventually(t, "a pod given the default class counts", func() bool {
		r := c.post(pods, `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"defaulted-"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`)
		return r.code == http.StatusCreated && digPath(r.json(t), "spec.priorityClassName") == "normal"
	})
	st := c.post(pods, classPod("high-2", "high", "")).must(t, http.StatusForbidden).json(t)
	if want := `pods "high-2" is forbidden: exceeded quota: classed`; !strings.HasPrefix(str(st["message"]), want) {
		t.Errorf("third classed pod: %v", st["message"])
	}
}

// TestDefaultTolerationSecondsFlags: --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds set the tolerations' seconds, and
// --disable-admission-plugins turns both plugins off.
func TestDefaultTolerationSecondsFlags(t *testing.T) {
	notReady, unreachable := int64(30), int64(0)
	s := configuredServer(t, func(cfg *Config) {
		cfg.DefaultNotReadyTolerationSeconds, cfg.DefaultUnreachableTolerationSeconds = &notReady, &unreachable
	})
	p := adminClient(t, s).post("/api/v1/namespaces/default/pods", classPod("p", "", "")).must(t, http.StatusCreated).json(t)
	if got, want := strings.Join(tolerationsOf(p), " "), "node.kubernetes.io/not-ready:NoExecute=30 node.kubernetes.io/unreachable:NoExecute=0"; got != want {
		t.Errorf("tolerations = %s, want %s", got, want)
	}

	off := configuredServer(t, func(cfg *Config) {
		cfg.DisableAdmissionPlugins = append(cfg.DisableAdmissionPlugins, "Priority", "DefaultTolerationSeconds")
	})
	p = adminClient(t, off).post("/api/v1/namespaces/default/pods", classPod("p", "missing", `"priority":7,`)).must(t, http.StatusCreated).json(t)
	if digPath(p, "spec.priority") != float64(7) || digPath(p, "spec.tolerations") != nil {
		t.Errorf("with both plugins off: priority %v, tolerations %v", digPath(p, "spec.priority"), digPath(p, "spec.tolerations"))
	}
}
