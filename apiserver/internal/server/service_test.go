package server

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

const (
	services       = "/api/v1/namespaces/default/services"
	endpoints      = "/api/v1/namespaces/default/endpoints"
	endpointSlices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
)

// TestServiceKinds: Services, Endpoints and EndpointSlices are served as Kubernetes serves
// them (discovery, short names, categories, defaults, validation with its messages), and
// the stock kubectl creates a service (in protobuf) and prints all three.
func TestServiceKinds(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)

	find := func(gv, name string) map[string]any {
		path := "/apis/" + gv
		if gv == "v1" {
			path = "/api/v1"
		}
		for _, r := range c.get(path).must(t, http.StatusOK).json(t)["resources"].([]any) {
			if r := r.(map[string]any); r["name"] == name {
				return r
			}
		}
		t.Fatalf("discovery lacks %s in %s", name, gv)
		return nil
	}
	if r := find("v1", "services"); dig(r, "shortNames", 0) != "svc" || dig(r, "categories", 0) != "all" || r["kind"] != "Service" {
		t.Errorf("services in discovery: %v", r)
	}
	find("v1", "services/status")
	if r := find("v1", "endpoints"); dig(r, "shortNames", 0) != "ep" || r["kind"] != "Endpoints" {
		t.Errorf("endpoints in discovery: %v", r)
	}
	if r := find("discovery.k8s.io/v1", "endpointslices"); r["kind"] != "EndpointSlice" || r["namespaced"] != true {
		t.Errorf("endpointslices in discovery: %v", r)
	}

	svc := c.post(services, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"ports":[{"port":80}]}}`).
		must(t, http.StatusCreated).json(t)
	for path, want := range map[string]any{
		"spec.type": "ClusterIP", "spec.sessionAffinity": "None", "spec.internalTrafficPolicy": "Cluster",
		"spec.ports.0.protocol": "TCP", "spec.ports.0.targetPort": float64(80),
	} {
		keys := []any{}
		for _, k := range strings.Split(path, ".") {
			if k == "0" {
				keys = append(keys, 0)
			} else {
				keys = append(keys, k)
			}
		}
		if g := dig(svc, keys...); g != want {
			t.Errorf("%s = %#v, want %#v", path, g, want)
		}
	}
	if _, ok := svc["status"].(map[string]any)["loadBalancer"]; !ok {
		t.Errorf("status = %v, want an empty loadBalancer as Kubernetes writes", svc["status"])
	}

	st := c.post(services, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"two"},"spec":{"ports":[{"port":80},{"port":81,"protocol":"HTTP"}]}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	for _, want := range []string{"spec.ports[0].name: Required value", "spec.ports[1].name: Required value", `spec.ports[1].protocol: Unsupported value: "HTTP"`} {
		if !strings.Contains(str(st["message"]), want) {
			t.Errorf("message %q lacks %q", st["message"], want)
		}
	}
	if dig(st, "details", "causes", 0, "field") != "spec.ports[0].name" {
		t.Errorf("causes = %v", dig(st, "details", "causes"))
	}
	st = c.post(services, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"1web"},"spec":{"ports":[{"port":80}]}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "a DNS-1035 label must consist of lower case alphanumeric characters") {
		t.Errorf("name message = %q", st["message"])
	}

	c.post(endpoints, `{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"web"},"subsets":[{"addresses":[{"ip":"10.244.1.5"},{"ip":"10.244.2.7"}],"ports":[{"port":8080}]}]}`).
		must(t, http.StatusCreated)
	st = c.post(endpoints, `{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"lo"},"subsets":[{"addresses":[{"ip":"127.0.0.1"}]}]}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range") {
		t.Errorf("loopback endpoint message = %q", st["message"])
	}
	slice := c.post(endpointSlices, `{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-abcde","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true}}],"ports":[{"port":8080}]}`).
		must(t, http.StatusCreated).json(t)
	if dig(slice, "ports", 0, "protocol") != "TCP" || dig(slice, "ports", 0, "name") != "" {
		t.Errorf("slice ports = %v", slice["ports"])
	}
	st = c.do("PATCH", endpointSlices+"/web-abcde", "application/merge-patch+json", `{"addressType":"FQDN"}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "addressType: Invalid value: \"FQDN\": field is immutable") {
		t.Errorf("addressType update message = %q", st["message"])
	}
	sel := c.get(endpointSlices+"?labelSelector=kubernetes.io/service-name%3Dweb").must(t, http.StatusOK).json(t)
	if n := len(sel["items"].([]any)); n != 1 {
		t.Errorf("slices of service web = %d", n)
	}

	// `kubectl create service` sends protobuf.
	if out := kubectl(t, s, "create", "service", "nodeport", "np", "--tcp=8080:80"); !strings.Contains(out, "service/np created") {
		t.Fatalf("kubectl create service nodeport: %s", out)
	}
	np := c.get(services+"/np").must(t, http.StatusOK).json(t)
	if dig(np, "spec", "type") != "NodePort" || dig(np, "spec", "ports", 0, "name") != "8080-80" || dig(np, "spec", "ports", 0, "targetPort") != float64(80) ||
		dig(np, "spec", "selector", "app") != "np" || dig(np, "spec", "externalTrafficPolicy") != "Cluster" {
		t.Errorf("kubectl's service = %v", np["spec"])
	}
	out := kubectl(t, s, "get", "svc,ep,endpointslices")
	for _, want := range []string{`NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE`, `service/web\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+80/TCP`,
		`NAME\s+ENDPOINTS\s+AGE`, `endpoints/web\s+10\.244\.1\.5:8080,10\.244\.2\.7:8080`,
		`NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE`, `endpointslice.discovery.k8s.io/web-abcde\s+IPv4\s+8080\s+10\.244\.1\.5\s`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("kubectl get svc,ep,endpointslices lacks %q:\n%s", want, out)
		}
	}
	if out := kubectl(t, s, "get", "all"); !strings.Contains(out, "service/web") {
		t.Errorf("kubectl get all lacks the services:\n%s", out)
	}
	if out := kubectl(t, s, "get", "svc", "--field-selector", "spec.type=NodePort", "-o", "name"); strings.TrimSpace(out) != "service/np" {
		t.Errorf("field selector spec.type: %q", out)
	}
}
