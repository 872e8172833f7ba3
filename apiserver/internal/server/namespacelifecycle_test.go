package server

import (
	"net/http"
	"reflect"
	"testing"
)

// A create in a terminating namespace is refused as Kubernetes refuses it: a 403 whose
// details carry the NamespaceTerminating cause on metadata.namespace, which controllers read
// to stop retrying (apierrors.HasStatusCause).
func TestNamespaceTerminatingCause(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-b"}}`).must(t, http.StatusCreated)
	// No namespace controller runs here to remove the "kubernetes" finalizer: the namespace
	// stays terminating (200, the namespace as it now is, as Kubernetes answers) while the
	// test looks.
	c.del("/api/v1/namespaces/team-b").must(t, http.StatusOK)

	st := c.post("/api/v1/namespaces/team-b/configmaps", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}`).
		must(t, http.StatusForbidden).json(t)
	if got, want := st["message"], `configmaps "cm" is forbidden: unable to create new content in namespace team-b because it is being terminated`; got != want {
		t.Errorf("message %q\nwant    %q", got, want)
	}
	if st["reason"] != "Forbidden" || st["code"] != float64(403) {
		t.Errorf("reason %v code %v, want Forbidden 403", st["reason"], st["code"])
	}
	want := []any{map[string]any{
		"reason":  "NamespaceTerminating",
		"message": "namespace team-b is being terminated",
		"field":   "metadata.namespace",
	}}
	if got := dig(st, "details", "causes"); !reflect.DeepEqual(got, want) {
		t.Errorf("details.causes = %v\nwant            %v", got, want)
	}
	if dig(st, "details", "name") != "cm" || dig(st, "details", "kind") != "configmaps" {
		t.Errorf("details = %v", st["details"])
	}
	// NamespaceLifecycle's other refusal is a plain Forbidden, without the cause.
	st = c.del("/api/v1/namespaces/kube-system").must(t, http.StatusForbidden).json(t)
	if causes := dig(st, "details", "causes"); causes != nil {
		t.Errorf("undeletable namespace answer has causes %v", causes)
	}
}

// Subresource creates are creates: in a terminating namespace Kubernetes refuses a binding,
// an eviction and a token request like any other, with the same NamespaceTerminating
// Status naming the parent resource (core's pods, serviceaccounts, whatever group the
// body's kind is in). What the namespace controller needs still works: deleting what is
// left, and finalizing the namespace.
func TestNamespaceTerminatingRefusesSubresourceCreates(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	const ns = "/api/v1/namespaces/team-b"
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-b"}}`).must(t, http.StatusCreated)
	c.post("/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1"}}`).must(t, http.StatusCreated)
	c.post(ns+"/pods", podJSON("pending", "")).must(t, http.StatusCreated)
	c.post(ns+"/pods", podJSON("running", "")).must(t, http.StatusCreated)
	c.post(ns+"/pods/running/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"running"},"target":{"kind":"Node","name":"node-1"}}`).must(t, http.StatusCreated)
	c.post(ns+"/serviceaccounts", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"robot"}}`).must(t, http.StatusCreated)
	c.del(ns).must(t, http.StatusOK)

	refused := func(st map[string]any, want string) {
		t.Helper()
		if st["message"] != want {
			t.Errorf("message %q\nwant    %q", st["message"], want)
		}
		if dig(st, "details", "causes", 0, "reason") != "NamespaceTerminating" {
			t.Errorf("details %v lack the NamespaceTerminating cause", st["details"])
		}
	}
	refused(c.post(ns+"/pods/pending/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"pending"},"target":{"kind":"Node","name":"node-1"}}`).
		must(t, http.StatusForbidden).json(t),
		`pods "pending" is forbidden: unable to create new content in namespace team-b because it is being terminated`)
	refused(c.post(ns+"/pods/running/eviction", `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"running"}}`).
		must(t, http.StatusForbidden).json(t),
		`pods "running" is forbidden: unable to create new content in namespace team-b because it is being terminated`)
	refused(c.post(ns+"/serviceaccounts/robot/token", `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}`).
		must(t, http.StatusForbidden).json(t),
		`serviceaccounts "robot" is forbidden: unable to create new content in namespace team-b because it is being terminated`)
	// The refusal comes before validation, as Kubernetes' mutating NamespaceLifecycle's.
	refused(c.post(ns+"/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"empty"},"spec":{}}`).
		must(t, http.StatusForbidden).json(t),
		`pods "empty" is forbidden: unable to create new content in namespace team-b because it is being terminated`)
	if p := c.get(ns+"/pods/running").must(t, http.StatusOK).json(t); dig(p, "metadata", "deletionTimestamp") != nil {
		t.Errorf("a refused eviction started the pod's deletion: %v", p["metadata"])
	}

	// The namespace controller's part: delete what is left, then finalize.
	c.del(ns+"/pods/pending").must(t, http.StatusOK)
	c.del(ns+"/pods/running").must(t, http.StatusOK) // graceful: bound to a node
	c.del(ns+"/pods/running?gracePeriodSeconds=0").must(t, http.StatusOK)
	c.del(ns+"/serviceaccounts/robot").must(t, http.StatusOK)
	c.put(ns+"/finalize", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-b"},"spec":{"finalizers":[]}}`).must(t, http.StatusOK)
	c.get(ns).must(t, http.StatusNotFound)
}
