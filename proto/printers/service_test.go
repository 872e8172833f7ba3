package printers

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
)

func TestServiceRow(t *testing.T) {
	port := func(p, np int32, proto string) *corev1.ServicePort {
		return &corev1.ServicePort{Port: p, NodePort: np, Protocol: proto}
	}
	for _, tc := range []struct {
		name string
		spec *corev1.ServiceSpec
		st   *corev1.ServiceStatus
		wide bool
		want []any
	}{
		{"cluster ip", &corev1.ServiceSpec{Type: "ClusterIP", ClusterIPs: []string{"10.96.0.10"}, Ports: []*corev1.ServicePort{port(80, 0, "TCP"), port(53, 0, "UDP")}},
			nil, false, []any{"s", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "5m"}},
		{"node port, wide", &corev1.ServiceSpec{Type: "NodePort", ClusterIPs: []string{"10.96.0.11"}, Ports: []*corev1.ServicePort{port(80, 30080, "TCP")},
			Selector: map[string]string{"b": "2", "a": "1"}},
			nil, true, []any{"s", "NodePort", "10.96.0.11", "<none>", "80:30080/TCP", "5m", "a=1,b=2"}},
		{"headless, no ports", &corev1.ServiceSpec{Type: "ClusterIP", ClusterIPs: []string{"None"}}, nil, true,
			[]any{"s", "ClusterIP", "None", "<none>", "<none>", "5m", "<none>"}},
		{"external name", &corev1.ServiceSpec{Type: "ExternalName", ExternalName: "example.com"}, nil, false,
			[]any{"s", "ExternalName", "<none>", "example.com", "<none>", "5m"}},
		{"load balancer pending", &corev1.ServiceSpec{Type: "LoadBalancer", ClusterIPs: []string{"10.96.0.12"}, Ports: []*corev1.ServicePort{port(443, 31443, "TCP")}},
			nil, false, []any{"s", "LoadBalancer", "10.96.0.12", "<pending>", "443:31443/TCP", "5m"}},
		{"load balancer clipped", &corev1.ServiceSpec{Type: "LoadBalancer", ClusterIPs: []string{"10.96.0.12"}, ExternalIPs: []string{"1.2.3.4"}},
			&corev1.ServiceStatus{LoadBalancer: &corev1.LoadBalancerStatus{Ingress: []*corev1.LoadBalancerIngress{{Ip: "203.0.113.10"}, {Hostname: "lb.example.com"}}}},
			false, []any{"s", "LoadBalancer", "10.96.0.12", "203.0.113.10,...,1.2.3.4", "<none>", "5m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := &corev1.Service{Kind: "Service", Metadata: meta("s", 5*time.Minute), Spec: tc.spec, Status: tc.st}
			if got := cells(t, svc, tc.wide); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestEndpointsRow(t *testing.T) {
	addrs := func(ips ...string) []*corev1.EndpointAddress {
		var out []*corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, &corev1.EndpointAddress{Ip: ip})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		subsets []*corev1.EndpointSubset
		want    string
	}{
		{"none", nil, "<none>"},
		{"one", []*corev1.EndpointSubset{{Addresses: addrs("192.168.1.5"), Ports: []*corev1.EndpointPort{{Port: 6443}}}}, "192.168.1.5:6443"},
		{"more", []*corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []*corev1.EndpointPort{{Name: "a", Port: 80}, {Name: "b", Port: 81}}}},
			"10.0.0.1:80,10.0.0.2:80,10.0.0.1:81 + 1 more..."},
		{"headless without ports", []*corev1.EndpointSubset{{Addresses: addrs("10.0.0.1")}}, "10.0.0.1"},
		{"only not ready", []*corev1.EndpointSubset{{NotReadyAddresses: addrs("10.0.0.1"), Ports: []*corev1.EndpointPort{{Port: 80}}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := &corev1.Endpoints{Kind: "Endpoints", Metadata: meta("e", time.Minute), Subsets: tc.subsets}
			if got, want := cells(t, ep, false), []any{"e", tc.want, "60s"}; !reflect.DeepEqual(got, want) {
				t.Errorf("cells = %#v, want %#v", got, want)
			}
		})
	}
}

func TestEndpointSliceRow(t *testing.T) {
	s := &discoveryv1.EndpointSlice{Kind: "EndpointSlice", Metadata: meta("web-abc12", time.Hour), AddressType: "IPv4",
		Ports:     []*discoveryv1.EndpointPort{{Port: proto.Int32(80)}, {Name: proto.String("dns")}, {}, {Port: proto.Int32(9)}},
		Endpoints: []*discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}}}}
	if got, want := cells(t, s, false), []any{"web-abc12", "IPv4", "80,dns,* + 1 more...", "10.0.0.1,10.0.0.2", "60m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	empty := &discoveryv1.EndpointSlice{Kind: "EndpointSlice", Metadata: meta("e", time.Hour), AddressType: "IPv4"}
	if got, want := cells(t, empty, false), []any{"e", "IPv4", "<unset>", "<unset>", "60m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
}
