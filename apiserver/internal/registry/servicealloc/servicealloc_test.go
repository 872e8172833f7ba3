package servicealloc

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

type fakeClaims map[string]string

func (f fakeClaims) Claimed(context.Context, string) (map[string]string, error) { return f, nil }

func newAlloc(t *testing.T, cidr, ports string, claimed fakeClaims) *Allocator {
	t.Helper()
	pr, err := ParsePortRange(ports)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{ClusterIPRange: netip.MustParsePrefix(cidr), NodePortRange: pr, Claims: claimed})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRangesAndBands(t *testing.T) {
	a := newAlloc(t, "10.96.0.0/12", "30000-32767", fakeClaims{})
	if a.FirstIP().String() != "10.96.0.1" || a.ipSize != 1<<20-2 || a.ipOffset != 256 || a.portOff != 86 {
		t.Errorf("first %s size %d offsets %d %d", a.FirstIP(), a.ipSize, a.ipOffset, a.portOff)
	}
	if _, ok := a.ipIndex(netip.MustParseAddr("10.111.255.255")); ok {
		t.Error("the broadcast address is allocatable")
	}
	if _, ok := a.ipIndex(netip.MustParseAddr("10.96.0.0")); ok {
		t.Error("the network address is allocatable")
	}
	if _, err := ParsePortRange("32767-30000"); err == nil {
		t.Error("a reversed port range parsed")
	}
	if _, err := New(Config{ClusterIPRange: netip.MustParsePrefix("fd00::/108"), NodePortRange: PortRange{30000, 10}, Claims: fakeClaims{}}); err == nil {
		t.Error("an IPv6 range was accepted")
	}
}

func TestAllocate(t *testing.T) {
	claimed := fakeClaims{IPPrefix + "10.0.0.2": "default/other", NodePortPrefix + "30001": "default/other"}
	a := newAlloc(t, "10.0.0.0/29", "30000-30003", claimed)
	a.randIntN = func(int) int { return 0 }
	svc := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: &corev1.ServiceSpec{
		Type: "NodePort", Ports: []*corev1.ServicePort{{Port: 53, Protocol: "UDP"}, {Port: 53, Protocol: "TCP"}, {Port: 80}},
	}}
	if err := a.Allocate(context.Background(), svc, nil); err != nil {
		t.Fatal(err)
	}
	// /29 has six usable addresses, its lower band none (too small): the first free one.
	if svc.Spec.ClusterIP != "10.0.0.1" || svc.Spec.GetIpFamilyPolicy() != "SingleStack" || svc.Spec.IpFamilies[0] != "IPv4" {
		t.Errorf("spec = %v", svc.Spec)
	}
	p := svc.Spec.Ports
	if p[0].NodePort != 30000 || p[1].NodePort != 30000 || p[2].NodePort != 30002 {
		t.Errorf("node ports = %d %d %d", p[0].NodePort, p[1].NodePort, p[2].NodePort)
	}
	c := a.Claims(svc)
	if len(c.Take) != 3 || c.Owner != "default/web" {
		t.Errorf("claims = %+v", c)
	}

	taken := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: &corev1.ServiceSpec{
		ClusterIP: "10.0.0.2", ClusterIPs: []string{"10.0.0.2"}, Ports: []*corev1.ServicePort{{Port: 80}}}}
	if err := a.Allocate(context.Background(), taken, nil); !apierrors.IsInvalid(err) {
		t.Errorf("taken IP: %v", err)
	}
	// An update keeps what the old object held.
	if err := a.Allocate(context.Background(), taken, taken); err != nil {
		t.Errorf("IP held by the old object: %v", err)
	}
	dual := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "d", Namespace: "default"}, Spec: &corev1.ServiceSpec{
		IpFamilyPolicy: new(string), Ports: []*corev1.ServicePort{{Port: 80}}}}
	*dual.Spec.IpFamilyPolicy = "RequireDualStack"
	if err := a.Allocate(context.Background(), dual, nil); !apierrors.IsInvalid(err) {
		t.Errorf("RequireDualStack: %v", err)
	}
	headless := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "h", Namespace: "default"}, Spec: &corev1.ServiceSpec{ClusterIP: "None"}}
	if err := a.Allocate(context.Background(), headless, nil); err != nil || headless.Spec.GetIpFamilyPolicy() != "RequireDualStack" {
		t.Errorf("headless without selector: %v %v", err, headless.Spec)
	}
}

// A second cluster IP is refused on this single-stack cluster, as upstream's
// initIPFamilyFields refuses it: it is never checked against a range, so were it kept it
// would be claimed as it stands, and a second service naming it would lose that claim.
func TestAllocateSecondClusterIP(t *testing.T) {
	a := newAlloc(t, "10.0.0.0/24", "30000-30003", fakeClaims{})
	for _, c := range []struct {
		policy string
		want   string
	}{
		{"", `Service "d" is invalid: [spec.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified, spec.clusterIPs[1]: Invalid value: ["10.0.0.5","fd00::5"]: IPv6 is not configured on this cluster]`},
		{"PreferDualStack", `Service "d" is invalid: spec.clusterIPs[1]: Invalid value: ["10.0.0.5","fd00::5"]: IPv6 is not configured on this cluster`},
	} {
		svc := &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "d", Namespace: "default"}, Spec: &corev1.ServiceSpec{
			ClusterIP: "10.0.0.5", ClusterIPs: []string{"10.0.0.5", "fd00::5"}, Ports: []*corev1.ServicePort{{Port: 80}}}}
		if c.policy != "" {
			svc.Spec.IpFamilyPolicy = &c.policy
		}
		if err := a.Allocate(context.Background(), svc, nil); !apierrors.IsInvalid(err) || err.Error() != c.want {
			t.Errorf("policy %q: err = %v\nwant %s", c.policy, err, c.want)
		}
	}
}

// A healthCheckNodePort is allocated as upstream's allocHealthCheckNodePort does, after the
// service's node ports and apart from them: one of those, or one another service holds,
// is a 500; and it cannot change while the service keeps needing it.
func TestHealthCheckNodePort(t *testing.T) {
	a := newAlloc(t, "10.0.0.0/24", "30000-30009", fakeClaims{NodePortPrefix + "30005": "default/other"})
	lb := func(hc int32) *corev1.Service {
		return &corev1.Service{Metadata: &metav1.ObjectMeta{Name: "lb", Namespace: "default"}, Spec: &corev1.ServiceSpec{
			Type: "LoadBalancer", ExternalTrafficPolicy: "Local", HealthCheckNodePort: hc,
			Ports: []*corev1.ServicePort{{Port: 80, NodePort: 30001}}}}
	}
	for _, c := range []struct {
		hc   int32
		want string
	}{
		{30001, "Internal error occurred: failed to allocate requested HealthCheck NodePort 30001: provided port is already allocated"},
		{30005, "Internal error occurred: failed to allocate requested HealthCheck NodePort 30005: provided port is already allocated"},
		{31000, "Internal error occurred: failed to allocate requested HealthCheck NodePort 31000: provided port is not in the valid range. The range of valid ports is 30000-30009"},
	} {
		if err := a.Allocate(context.Background(), lb(c.hc), nil); apierrors.CodeOf(err) != 500 || fmt.Sprint(err) != c.want {
			t.Errorf("healthCheckNodePort %d: err = %v, want 500 %q", c.hc, err, c.want)
		}
	}
	old := lb(30002)
	if err := a.Allocate(context.Background(), old, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Allocate(context.Background(), lb(30002), old); err != nil {
		t.Errorf("unchanged healthCheckNodePort: %v", err)
	}
	want := `Service "lb" is invalid: spec.healthCheckNodePort: Invalid value: 30003: cannot change healthCheckNodePort on loadBalancer service with externalTraffic=Local during update`
	if err := a.Allocate(context.Background(), lb(30003), old); !apierrors.IsInvalid(err) || fmt.Sprint(err) != want {
		t.Errorf("changed healthCheckNodePort: err = %v\nwant %s", err, want)
	}
}
