package server

import (
	"net/http"
	"testing"
)

// TestDaemonSetTemplateGeneration: as upstream's strategy, a DaemonSet carries its template
// generation in deprecated.daemonset.template.generation: 1 on create, whatever the client
// wrote, and one more only when the pod template changes.
func TestDaemonSetTemplateGeneration(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)
	const dss = "/apis/apps/v1/namespaces/default/daemonsets"
	gen := func(obj map[string]any) any {
		return dig(obj, "metadata", "annotations", "deprecated.daemonset.template.generation")
	}
	got := c.post(dss, `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","annotations":{"deprecated.daemonset.template.generation":"7"}},
		"spec":{"selector":{"matchLabels":{"app":"agent"}},"template":{"metadata":{"labels":{"app":"agent"}},"spec":{"containers":[{"name":"a","image":"agent:1"}]}}}}`).
		must(t, http.StatusCreated).json(t)
	if g := gen(got); g != "1" {
		t.Fatalf("after create: %v, want 1", g)
	}
	got = c.do("PATCH", dss+"/agent", "application/merge-patch+json", `{"spec":{"minReadySeconds":5}}`).must(t, http.StatusOK).json(t)
	if g := gen(got); g != "1" {
		t.Errorf("after a change outside the template: %v, want 1", g)
	}
	got = c.do("PATCH", dss+"/agent", "application/strategic-merge-patch+json", `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"agent:2"}]}}}}`).must(t, http.StatusOK).json(t)
	if g := gen(got); g != "2" {
		t.Errorf("after a template change: %v, want 2", g)
	}
}
