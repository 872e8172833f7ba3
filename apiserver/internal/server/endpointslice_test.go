package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestEndpointSliceGeneration: an EndpointSlice has no spec, yet, as upstream, its
// generation starts at 1 and goes up when its addressType, endpoints or ports change, and
// only then (the endpointslice controller relies on it to recognise its own writes).
func TestEndpointSliceGeneration(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)
	const slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
	gen := func(obj map[string]any) any { return dig(obj, "metadata", "generation") }

	got := c.post(slices, `{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-1","labels":{"kubernetes.io/service-name":"web"}},
		"addressType":"IPv4","endpoints":[{"addresses":["10.244.0.5"]}],"ports":[{"name":"http","port":80,"protocol":"TCP"}]}`).
		must(t, http.StatusCreated).json(t)
	if g := gen(got); g != float64(1) {
		t.Fatalf("generation after create = %v, want 1", g)
	}
	got = c.do("PATCH", slices+"/web-1", "application/merge-patch+json", `{"metadata":{"labels":{"team":"a"}}}`).must(t, http.StatusOK).json(t)
	if g := gen(got); g != float64(1) {
		t.Errorf("generation after a label change = %v, want 1", g)
	}
	got = c.do("PATCH", slices+"/web-1", "application/merge-patch+json", `{"endpoints":[{"addresses":["10.244.0.5"]},{"addresses":["10.244.1.7"]}]}`).must(t, http.StatusOK).json(t)
	if g := gen(got); g != float64(2) {
		t.Errorf("generation after an endpoint was added = %v, want 2", g)
	}
	got = c.do("PATCH", slices+"/web-1", "application/merge-patch+json", `{"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}`).must(t, http.StatusOK).json(t)
	if g := gen(got); g != float64(3) {
		t.Errorf("generation after a port change = %v, want 3", g)
	}
}

// TestEndpointSliceDeprecatedTopology: discovery/v1 still carries v1beta1's topology map;
// a slice that sets it is stored and read back, and its labels are validated.
func TestEndpointSliceDeprecatedTopology(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)
	const slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
	got := c.post(slices, `{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"old-1"},"addressType":"IPv4",
		"endpoints":[{"addresses":["10.244.0.5"],"deprecatedTopology":{"kubernetes.io/hostname":"node-1"}}]}`).
		must(t, http.StatusCreated).json(t)
	if v := dig(got, "endpoints", 0, "deprecatedTopology", "kubernetes.io/hostname"); v != "node-1" {
		t.Errorf("deprecatedTopology read back as %v", dig(got, "endpoints", 0))
	}
	st := c.post(slices, `{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"old-2"},"addressType":"IPv4",
		"endpoints":[{"addresses":["10.244.0.6"],"deprecatedTopology":{"-bad-":"x"}}]}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if msg := str(st["message"]); !strings.Contains(msg, "endpoints[0].deprecatedTopology") {
		t.Errorf("message = %q", msg)
	}
}
