package servicemap_test

import (
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	"kubelab.io/proxy/internal/proxytest"
	"kubelab.io/proxy/internal/servicemap"
)

func ips(eps []servicemap.Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.IP)
	}
	return out
}

// TestCategorize: which endpoints each traffic policy uses, as kube-proxy's
// CategorizeEndpoints (pkg/proxy/topology_test.go) decides.
func TestCategorize(t *testing.T) {
	here, there := "node-a", "node-b"
	for _, tc := range []struct {
		name                  string
		edit                  []func(*corev1.Service)
		eps                   []proxytest.Endpoint
		cluster, local, reach []string
		hasAny                bool
	}{
		{
			name:    "ready endpoints only",
			eps:     []proxytest.Endpoint{{IP: "10.0.0.1", Node: here}, {IP: "10.0.0.2", Node: there, NotReady: true}, {IP: "10.0.0.3", Node: there, Terminating: true}},
			cluster: []string{"10.0.0.1"}, reach: []string{"10.0.0.1"}, hasAny: true,
		},
		{
			name:    "none ready: serving terminating ones, not the non-serving",
			eps:     []proxytest.Endpoint{{IP: "10.0.0.1", Node: here, Terminating: true, NotServing: true}, {IP: "10.0.0.2", Node: there, Terminating: true}, {IP: "10.0.0.3", Node: there, NotReady: true}},
			cluster: []string{"10.0.0.2"}, reach: []string{"10.0.0.2"}, hasAny: true,
		},
		{
			name: "nothing usable",
			eps:  []proxytest.Endpoint{{IP: "10.0.0.1", Node: here, NotReady: true}},
		},
		{
			name:  "internal Local: this node's ready endpoints only",
			edit:  []func(*corev1.Service){proxytest.InternalLocal},
			eps:   []proxytest.Endpoint{{IP: "10.0.0.1", Node: here}, {IP: "10.0.0.2", Node: there}},
			local: []string{"10.0.0.1"}, reach: []string{"10.0.0.1"}, hasAny: true,
		},
		{
			name:   "internal Local, none here: none, though the cluster has some",
			edit:   []func(*corev1.Service){proxytest.InternalLocal},
			eps:    []proxytest.Endpoint{{IP: "10.0.0.2", Node: there}},
			hasAny: true,
		},
		{
			name:  "internal Local, only terminating here: those",
			edit:  []func(*corev1.Service){proxytest.InternalLocal},
			eps:   []proxytest.Endpoint{{IP: "10.0.0.1", Node: here, Terminating: true}, {IP: "10.0.0.2", Node: there}},
			local: []string{"10.0.0.1"}, reach: []string{"10.0.0.1"}, hasAny: true,
		},
		{
			name:    "external Local node port: cluster for cluster IPs, local for the node port",
			edit:    []func(*corev1.Service){proxytest.NodePort(corev1.ServiceTrafficPolicyLocal)},
			eps:     []proxytest.Endpoint{{IP: "10.0.0.1", Node: here}, {IP: "10.0.0.2", Node: there}},
			cluster: []string{"10.0.0.1", "10.0.0.2"}, local: []string{"10.0.0.1"}, reach: []string{"10.0.0.1", "10.0.0.2"}, hasAny: true,
		},
		{
			// Both Local: a pod's or the node's own traffic to the node port still
			// short-circuits to any endpoint, so the Cluster endpoints are needed too.
			name:    "internal and external Local node port: cluster endpoints for the short circuit",
			edit:    []func(*corev1.Service){proxytest.NodePort(corev1.ServiceTrafficPolicyLocal), proxytest.InternalLocal},
			eps:     []proxytest.Endpoint{{IP: "10.0.0.1", Node: here}, {IP: "10.0.0.2", Node: there}},
			cluster: []string{"10.0.0.1", "10.0.0.2"}, local: []string{"10.0.0.1"}, reach: []string{"10.0.0.1", "10.0.0.2"}, hasAny: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := proxytest.Service("ns", "svc", "10.96.0.1", []proxytest.Port{{Port: 80, NodePort: 30001}}, tc.edit...)
			slice := proxytest.Slice("ns", "svc", "svc-1", []proxytest.SlicePort{{Port: 80}}, tc.eps...)
			ports := servicemap.Build([]*corev1.Service{svc}, []*discoveryv1.EndpointSlice{slice}, here)
			if len(ports) != 1 {
				t.Fatalf("%d service ports, want 1", len(ports))
			}
			c := servicemap.Categorize(&ports[0])
			if !slices.Equal(ips(c.Cluster), tc.cluster) || !slices.Equal(ips(c.Local), tc.local) || !slices.Equal(ips(c.AllReachable), tc.reach) || c.HasAny != tc.hasAny {
				t.Errorf("cluster %v local %v reachable %v hasAny %v; want %v %v %v %v",
					ips(c.Cluster), ips(c.Local), ips(c.AllReachable), c.HasAny, tc.cluster, tc.local, tc.reach, tc.hasAny)
			}
		})
	}
}

// TestBuild: ports match slices by name and protocol; duplicates across slices count
// once; a ClusterIP service's node port and policy Local are ignored.
func TestBuild(t *testing.T) {
	svc := proxytest.Service("ns", "svc", "10.96.0.1", []proxytest.Port{{Name: "http", Port: 80, NodePort: 30001}, {Name: "dns", Port: 53, Protocol: "UDP"}},
		func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceTrafficPolicyLocal })
	ports := servicemap.Build([]*corev1.Service{svc}, []*discoveryv1.EndpointSlice{
		proxytest.Slice("ns", "svc", "a", []proxytest.SlicePort{{Name: "http", Port: 8080}, {Name: "dns", Port: 53, Protocol: "TCP"}}, proxytest.Endpoint{IP: "10.0.0.1"}),
		proxytest.Slice("ns", "svc", "b", []proxytest.SlicePort{{Name: "http", Port: 8080}, {Name: "dns", Port: 5353, Protocol: "UDP"}}, proxytest.Endpoint{IP: "10.0.0.1"}, proxytest.Endpoint{IP: "10.0.0.2"}),
		proxytest.Slice("other", "svc", "c", []proxytest.SlicePort{{Name: "http", Port: 8080}}, proxytest.Endpoint{IP: "10.0.0.9"}),
	}, "node-a")
	if len(ports) != 2 {
		t.Fatalf("%d ports, want 2", len(ports))
	}
	dns, http := ports[0], ports[1]
	if dns.Name.String() != "ns/svc:dns" || http.Name.String() != "ns/svc:http" {
		t.Fatalf("ports %v, %v", dns.Name, http.Name)
	}
	var eps []string
	for _, e := range http.Endpoints {
		eps = append(eps, e.String())
	}
	if !slices.Equal(eps, []string{"10.0.0.1:8080", "10.0.0.2:8080"}) {
		t.Errorf("http endpoints %v", eps)
	}
	if len(dns.Endpoints) != 2 || dns.Endpoints[0].String() != "10.0.0.1:5353" {
		t.Errorf("dns endpoints %v, want the UDP port's only", dns.Endpoints)
	}
	if http.NodePort != 0 || http.ExternalPolicyLocal {
		t.Errorf("a ClusterIP service got node port %d, external Local %v", http.NodePort, http.ExternalPolicyLocal)
	}
}
