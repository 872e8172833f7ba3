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
	// stays terminating (202 Accepted) while the test looks.
	c.del("/api/v1/namespaces/team-b").must(t, http.StatusAccepted)

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
