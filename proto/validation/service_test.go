package validation_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/validation"
)

// newService is a service as the apiserver stores it after `kubectl create service
// clusterip web --tcp=80:8080`, its cluster IP allocated.
func newService() *corev1.Service {
	svc := &corev1.Service{
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: &corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			ClusterIP:  "10.96.0.10",
			ClusterIPs: []string{"10.96.0.10"}, IpFamilies: []string{"IPv4"}, IpFamilyPolicy: proto.String("SingleStack"),
			Ports: []*corev1.ServicePort{{Name: "80-8080", Port: 80, TargetPort: &metav1.IntOrString{IntVal: 8080}}},
		},
	}
	defaults.Service(svc)
	return svc
}

func TestService(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(s *corev1.Service)
		want   want
	}{
		{"valid", func(*corev1.Service) {}, want{}},
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, want{"spec.ports", required, ""}},
		{"headless without ports", func(s *corev1.Service) {
			s.Spec.Ports, s.Spec.ClusterIP, s.Spec.ClusterIPs = nil, "None", []string{"None"}
		}, want{}},
		{"port out of range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 },
			want{"spec.ports[0].port", invalid, "must be between 1 and 65535, inclusive"}},
		{"bad protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" },
			want{"spec.ports[0].protocol", notSupported, `supported values: "SCTP", "TCP", "UDP"`}},
		{"unnamed second port", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, &corev1.ServicePort{Port: 81, Protocol: "TCP", TargetPort: &metav1.IntOrString{IntVal: 81}})
		}, want{"spec.ports[1].name", required, ""}},
		{"duplicate port names", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, &corev1.ServicePort{Name: "80-8080", Port: 81, Protocol: "TCP", TargetPort: &metav1.IntOrString{IntVal: 81}})
		}, want{"spec.ports[1].name", duplicate, `"80-8080"`}},
		{"duplicate ports", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, &corev1.ServicePort{Name: "b", Port: 80, Protocol: "TCP", TargetPort: &metav1.IntOrString{IntVal: 81}})
		}, want{"spec.ports[1]", duplicate, `"Protocol":"TCP"`}},
		{"bad target port name", func(s *corev1.Service) {
			s.Spec.Ports[0].TargetPort = &metav1.IntOrString{Type: 1, StrVal: "Not_A_Port"}
		},
			want{"spec.ports[0].targetPort", invalid, ""}},
		{"node port on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30000 },
			want{"spec.ports[0].nodePort", forbidden, "may not be used when `type` is 'ClusterIP'"}},
		{"bad type", func(s *corev1.Service) { s.Spec.Type = "Ingress" },
			want{"spec.type", notSupported, `supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`}},
		{"bad cluster IP", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.300", []string{"10.96.0.300"} },
			want{"spec.clusterIPs[0]", invalid, "must be a valid IP address"}},
		{"clusterIPs disagree", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} },
			want{"spec.clusterIPs", invalid, "first value must match `clusterIP`"}},
		{"headless NodePort", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs = "NodePort", "None", []string{"None"}
			defaults.Service(s)
		}, want{"spec.clusterIPs[0]", invalid, "may not be set to 'None' for NodePort services"}},
		{"ExternalName with cluster IP", func(s *corev1.Service) { s.Spec.Type, s.Spec.ExternalName = "ExternalName", "example.com" },
			want{"spec.clusterIPs", forbidden, "may not be set for ExternalName services"}},
		{"ExternalName without name", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IpFamilies, s.Spec.IpFamilyPolicy = "ExternalName", "", nil, nil, nil
		}, want{"spec.externalName", required, ""}},
		{"ExternalName", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IpFamilies, s.Spec.IpFamilyPolicy = "ExternalName", "db.example.com.", "", nil, nil, nil
		}, want{}},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "not ok"} },
			want{"spec.selector", invalid, ""}},
		{"external traffic policy on ClusterIP", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Local" },
			want{"spec.externalTrafficPolicy", invalid, "may only be set for externally-accessible services"}},
		{"ClientIP timeout", func(s *corev1.Service) {
			s.Spec.SessionAffinity = "ClientIP"
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: proto.Int32(86401)}}
		}, want{"spec.sessionAffinityConfig.clientIP.timeoutSeconds", invalid, "must be between 1 and 86400, inclusive"}},
		{"loopback external IP", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} },
			want{"spec.externalIPs[0]", invalid, "may not be in the loopback range"}},
		{"source ranges on ClusterIP", func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			want{"spec.LoadBalancerSourceRanges", forbidden, "may only be used when `type` is 'LoadBalancer'"}},
		{"LoadBalancer Local needs a health check port", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = "LoadBalancer", "Local"
			defaults.Service(s)
		}, want{"spec.healthCheckNodePort", required, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newService()
			tc.mutate(s)
			expect(t, validation.ValidateService(s), tc.want)
		})
	}
	bad := newService()
	bad.Metadata.Name = "1web"
	if errs := validation.NameFunc("Service")(bad.Metadata.Name, false); len(errs) == 0 {
		t.Error("a service name starting with a digit is valid")
	}
}

func TestServiceUpdate(t *testing.T) {
	old := newService()
	moved := newService()
	moved.Spec.ClusterIP, moved.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
	expect(t, validation.ValidateServiceUpdate(moved, old), want{"spec.clusterIP", invalid, "field is immutable"})

	// To ExternalName and back: the cluster IP may go and come back different.
	en := newService()
	en.Spec.Type, en.Spec.ExternalName, en.Spec.ClusterIP, en.Spec.ClusterIPs, en.Spec.IpFamilies, en.Spec.IpFamilyPolicy = "ExternalName", "example.com", "", nil, nil, nil
	expect(t, validation.ValidateServiceUpdate(en, old), want{})
	expect(t, validation.ValidateServiceUpdate(moved, en), want{})
}

func TestEndpoints(t *testing.T) {
	valid := func() *corev1.Endpoints {
		return &corev1.Endpoints{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"}, Subsets: []*corev1.EndpointSubset{{
			Addresses: []*corev1.EndpointAddress{{Ip: "10.244.1.5", NodeName: proto.String("node-1"), TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-1"}}},
			Ports:     []*corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: "TCP"}},
		}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(e *corev1.Endpoints)
		want   want
	}{
		{"valid", func(*corev1.Endpoints) {}, want{}},
		{"no addresses", func(e *corev1.Endpoints) { e.Subsets[0].Addresses = nil },
			want{"subsets[0]", required, "must specify `addresses` or `notReadyAddresses`"}},
		{"bad IP", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].Ip = "pod-1" },
			want{"subsets[0].addresses[0].ip", invalid, "must be a valid IP address"}},
		{"loopback", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].Ip = "127.0.0.1" },
			want{"subsets[0].addresses[0].ip", invalid, "may not be in the loopback range (127.0.0.0/8, ::1/128)"}},
		{"port 0", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 },
			want{"subsets[0].ports[0].port", invalid, "must be between 1 and 65535, inclusive"}},
		{"unnamed ports", func(e *corev1.Endpoints) {
			e.Subsets[0].Ports = append(e.Subsets[0].Ports, &corev1.EndpointPort{Port: 9090, Protocol: "TCP"})
		}, want{"subsets[0].ports[1].name", required, ""}},
		{"no protocol", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Protocol = "" },
			want{"subsets[0].ports[0].protocol", required, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.mutate(e)
			expect(t, validation.ValidateEndpoints(e), tc.want)
		})
	}
}

func TestEndpointSlice(t *testing.T) {
	valid := func() *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			Metadata:    &metav1.ObjectMeta{Name: "web-x1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: "IPv4",
			Endpoints: []*discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(true)},
				NodeName: proto.String("node-1")}},
			Ports: []*discoveryv1.EndpointPort{{Name: proto.String("http"), Port: proto.Int32(8080), Protocol: proto.String("TCP")}},
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(s *discoveryv1.EndpointSlice)
		want   want
	}{
		{"valid", func(*discoveryv1.EndpointSlice) {}, want{}},
		{"no address type", func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, want{"addressType", required, ""}},
		{"unknown address type", func(s *discoveryv1.EndpointSlice) { s.AddressType = "MAC" },
			want{"addressType", notSupported, `supported values: "FQDN", "IPv4", "IPv6"`}},
		{"no addresses", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil },
			want{"endpoints[0].addresses", required, "must contain at least 1 address"}},
		{"IPv6 in an IPv4 slice", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::1"} },
			want{"endpoints[0].addresses[0]", invalid, "must be a valid IPv4 address"}},
		{"duplicate port names", func(s *discoveryv1.EndpointSlice) {
			s.Ports = append(s.Ports, &discoveryv1.EndpointPort{Name: proto.String("http"), Port: proto.Int32(9090), Protocol: proto.String("TCP")})
		}, want{"ports[1].name", duplicate, ""}},
		{"no protocol", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = nil }, want{"ports[0].protocol", required, ""}},
		{"bad hostname", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = proto.String("Web_1") },
			want{"endpoints[0].hostname", invalid, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			tc.mutate(s)
			expect(t, validation.ValidateEndpointSlice(s), tc.want)
		})
	}
	many := valid()
	for range 1000 {
		many.Endpoints = append(many.Endpoints, many.Endpoints[0])
	}
	expect(t, validation.ValidateEndpointSlice(many), want{"endpoints", apierrors.CauseFieldValueTooMany, "must have at most 1000 items"})
	old, changed := valid(), valid()
	changed.AddressType = "IPv6"
	changed.Endpoints[0].Addresses = []string{"fd00::1"}
	expect(t, validation.ValidateEndpointSliceUpdate(changed, old), want{"addressType", invalid, "field is immutable"})
}
