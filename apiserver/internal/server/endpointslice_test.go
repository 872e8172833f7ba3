package server

import (
	"net/http"
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
