package rules_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	"kubelab.io/proxy/internal/proxytest"
	"kubelab.io/proxy/internal/rules"
	"kubelab.io/proxy/internal/servicemap"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the rendered rules")

const node = "node-a"

// goldenCases are API states and the rules a proxy on node-a renders for them, each in
// testdata/NAME.golden.
var goldenCases = []struct {
	name     string
	cfg      rules.Config
	services []*corev1.Service
	slices   []*discoveryv1.EndpointSlice
	existing []string
}{
	{
		name: "clusterip",
		cfg:  rules.Config{ClusterCIDR: "10.244.0.0/16"},
		services: []*corev1.Service{
			// Two named ports, three ready endpoints spread 1/3, 1/2, rest; one not ready
			// and one terminating are left out.
			proxytest.Service("default", "web", "10.96.0.10", []proxytest.Port{{Name: "http", Port: 80}, {Name: "metrics", Port: 9090, Target: 9100}}),
			// No slice at all: REJECT in filter KUBE-SERVICES.
			proxytest.Service("default", "empty", "10.96.0.11", []proxytest.Port{{Port: 8080}}),
			// UDP, unnamed port, endpoints' ready condition unset (ready).
			proxytest.Service("kube-system", "dns", "10.96.0.12", []proxytest.Port{{Port: 53, Protocol: "UDP"}}),
			// Headless and ExternalName services get no rules.
			proxytest.Service("default", "headless", "None", []proxytest.Port{{Port: 80}}),
			proxytest.Service("default", "alias", "", nil, func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeExternalName
				s.Spec.ExternalName = "example.com"
			}),
		},
		slices: []*discoveryv1.EndpointSlice{
			proxytest.Slice("default", "web", "web-abc", []proxytest.SlicePort{{Name: "http", Port: 80}, {Name: "metrics", Port: 9100}},
				proxytest.Endpoint{IP: "10.244.1.5", Node: "node-b"},
				proxytest.Endpoint{IP: "10.244.0.7", Node: node},
				proxytest.Endpoint{IP: "10.244.2.9", Node: "node-c", NotReady: true},
			),
			proxytest.Slice("default", "web", "web-def", []proxytest.SlicePort{{Name: "http", Port: 80}, {Name: "metrics", Port: 9100}},
				proxytest.Endpoint{IP: "10.244.2.3", Node: "node-c"},
				proxytest.Endpoint{IP: "10.244.1.6", Node: "node-b", Terminating: true},
			),
			proxytest.Slice("kube-system", "dns", "dns-1", []proxytest.SlicePort{{Port: 53, Protocol: "UDP"}},
				proxytest.Endpoint{IP: "10.244.0.2", Node: node, ReadyUnset: true},
			),
		},
	},
	{
		name: "nodeport",
		cfg:  rules.Config{ClusterCIDR: "10.244.0.0/16"},
		services: []*corev1.Service{
			// externalTrafficPolicy Cluster: KUBE-EXT masquerades and goes to KUBE-SVC.
			proxytest.Service("default", "cluster", "10.96.1.1", []proxytest.Port{{Port: 80, NodePort: 30080}}, proxytest.NodePort(corev1.ServiceTrafficPolicyCluster),
				func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.10"} }),
			// Local with an endpoint here: KUBE-EXT keeps the source, goes to KUBE-SVL.
			proxytest.Service("default", "local", "10.96.1.2", []proxytest.Port{{Port: 80, NodePort: 30081}}, proxytest.NodePort(corev1.ServiceTrafficPolicyLocal)),
			// Local with endpoints elsewhere only: DROP outside traffic, short-circuit ours.
			proxytest.Service("default", "remote", "10.96.1.3", []proxytest.Port{{Port: 80, NodePort: 30082}}, proxytest.NodePort(corev1.ServiceTrafficPolicyLocal)),
			// No endpoints: REJECT the cluster IP and the node port.
			proxytest.Service("default", "none", "10.96.1.4", []proxytest.Port{{Port: 80, NodePort: 30083}}, proxytest.NodePort(corev1.ServiceTrafficPolicyCluster)),
		},
		slices: []*discoveryv1.EndpointSlice{
			proxytest.Slice("default", "cluster", "cluster-1", []proxytest.SlicePort{{Port: 80}},
				proxytest.Endpoint{IP: "10.244.1.10", Node: "node-b"}, proxytest.Endpoint{IP: "10.244.0.10", Node: node}),
			proxytest.Slice("default", "local", "local-1", []proxytest.SlicePort{{Port: 80}},
				proxytest.Endpoint{IP: "10.244.1.11", Node: "node-b"}, proxytest.Endpoint{IP: "10.244.0.11", Node: node}),
			proxytest.Slice("default", "remote", "remote-1", []proxytest.SlicePort{{Port: 80}},
				proxytest.Endpoint{IP: "10.244.1.12", Node: "node-b"}),
		},
	},
	{
		name: "policies",
		cfg:  rules.Config{ClusterCIDR: "10.244.0.0/16", RestrictNodePorts: true, NodePortIPs: []string{"172.18.0.2"}},
		services: []*corev1.Service{
			// ClientIP affinity with the default timeout.
			proxytest.Service("default", "sticky", "10.96.2.1", []proxytest.Port{{Port: 80}}, proxytest.ClientIP(0)),
			// internalTrafficPolicy Local, an endpoint here: KUBE-SVL only.
			proxytest.Service("default", "itp-local", "10.96.2.2", []proxytest.Port{{Port: 80}}, proxytest.InternalLocal),
			// internalTrafficPolicy Local, endpoints elsewhere: DROP the cluster IP.
			proxytest.Service("default", "itp-remote", "10.96.2.3", []proxytest.Port{{Port: 80}}, proxytest.InternalLocal),
			// Every endpoint terminating: the serving ones keep the service up.
			proxytest.Service("default", "draining", "10.96.2.4", []proxytest.Port{{Port: 80}}),
			// Another proxy's service.
			proxytest.Service("default", "other-proxy", "10.96.2.5", []proxytest.Port{{Port: 80}}, func(s *corev1.Service) {
				s.Metadata.Labels = map[string]string{servicemap.LabelServiceProxyName: "elsewhere"}
			}),
		},
		slices: []*discoveryv1.EndpointSlice{
			proxytest.Slice("default", "sticky", "sticky-1", []proxytest.SlicePort{{Port: 80}},
				proxytest.Endpoint{IP: "10.244.0.20", Node: node}, proxytest.Endpoint{IP: "10.244.1.20", Node: "node-b"}),
			proxytest.Slice("default", "itp-local", "itp-local-1", []proxytest.SlicePort{{Port: 80}},
				proxytest.Endpoint{IP: "10.244.0.21", Node: node}, proxytest.Endpoint{IP: "10.244.1.21", Node: "node-b"}),
			proxytest.Slice("default", "itp-remote", "itp-remote-1", []proxytest.SlicePort{{Port: 80}},
				proxytest.Endpoint{IP: "10.244.1.22", Node: "node-b"}),
			proxytest.Slice("default", "draining", "draining-1", []proxytest.SlicePort{{Port: 80}},
				proxytest.Endpoint{IP: "10.244.1.23", Node: "node-b", Terminating: true},
				proxytest.Endpoint{IP: "10.244.1.24", Node: "node-b", Terminating: true, NotServing: true}),
			proxytest.Slice("default", "other-proxy", "other-1", []proxytest.SlicePort{{Port: 80}},
				proxytest.Endpoint{IP: "10.244.1.25", Node: "node-b"}),
		},
	},
	{
		// What a restart finds: chains of services deleted while the proxy was down are
		// flushed and deleted, others' chains are not touched; no cluster CIDR, all
		// cluster-IP traffic masqueraded.
		name: "stale",
		cfg:  rules.Config{MasqueradeAll: true},
		services: []*corev1.Service{
			proxytest.Service("default", "web", "10.96.0.10", []proxytest.Port{{Name: "http", Port: 80}}),
		},
		slices: []*discoveryv1.EndpointSlice{
			proxytest.Slice("default", "web", "web-abc", []proxytest.SlicePort{{Name: "http", Port: 80}}, proxytest.Endpoint{IP: "10.244.1.5", Node: "node-b"}),
		},
		existing: []string{"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-GONEGONEGONEGONE", "KUBE-SEP-GONEGONEGONEGONE", "KUBE-EXT-GONEGONEGONEGONE", "CNI-abc123", "DOCKER"},
	},
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			ports := servicemap.Build(tc.services, tc.slices, node)
			got := rules.Render(tc.cfg, ports, tc.existing).Data
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./proxy/internal/rules -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rules for %s differ from %s (go test -update rewrites it)\n%s", tc.name, path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// TestRenderDeterministic: the same state renders the same bytes whatever the order the
// informers listed it in, so an unchanged cluster rewrites identical rules.
func TestRenderDeterministic(t *testing.T) {
	tc := goldenCases[0]
	a := rules.Render(tc.cfg, servicemap.Build(tc.services, tc.slices, node), nil).Data
	rs := append([]*corev1.Service(nil), tc.services...)
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	rsl := append([]*discoveryv1.EndpointSlice(nil), tc.slices...)
	for i, j := 0, len(rsl)-1; i < j; i, j = i+1, j-1 {
		rsl[i], rsl[j] = rsl[j], rsl[i]
	}
	if b := rules.Render(tc.cfg, servicemap.Build(rs, rsl, node), nil).Data; !bytes.Equal(a, b) {
		t.Errorf("rendering depends on list order:\n%s", lineDiff(string(a), string(b)))
	}
}

// TestRenderJumpsToDeclaredChains: every chain a rule jumps to is declared in the same
// table, or is iptables' own; iptables-restore rejects the whole input otherwise, and with it
// every service's rules.
func TestRenderJumpsToDeclaredChains(t *testing.T) {
	cases := slices.Clone(goldenCases)
	cases = append(cases, cases[0])
	both := &cases[len(cases)-1]
	both.name, both.cfg, both.existing = "both policies local", rules.Config{ClusterCIDR: "10.244.0.0/16"}, nil
	both.services = []*corev1.Service{
		proxytest.Service("default", "both-local", "10.96.3.1", []proxytest.Port{{Port: 80, NodePort: 30090}},
			proxytest.NodePort(corev1.ServiceTrafficPolicyLocal), proxytest.InternalLocal),
		proxytest.Service("default", "both-remote", "10.96.3.2", []proxytest.Port{{Port: 80, NodePort: 30091}},
			proxytest.NodePort(corev1.ServiceTrafficPolicyLocal), proxytest.InternalLocal),
	}
	both.slices = []*discoveryv1.EndpointSlice{
		proxytest.Slice("default", "both-local", "both-local-1", []proxytest.SlicePort{{Port: 80}},
			proxytest.Endpoint{IP: "10.244.0.30", Node: node}, proxytest.Endpoint{IP: "10.244.1.30", Node: "node-b"}),
		proxytest.Slice("default", "both-remote", "both-remote-1", []proxytest.SlicePort{{Port: 80}},
			proxytest.Endpoint{IP: "10.244.1.31", Node: "node-b"}),
	}
	builtin := map[string]bool{"ACCEPT": true, "DROP": true, "REJECT": true, "RETURN": true, "DNAT": true, "MARK": true, "MASQUERADE": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := rules.Render(tc.cfg, servicemap.Build(tc.services, tc.slices, node), tc.existing).Data
			var declared map[string]bool
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Fields(line)
				switch {
				case strings.HasPrefix(line, "*"):
					declared = map[string]bool{}
				case strings.HasPrefix(line, ":"):
					declared[f[0][1:]] = true
				case strings.HasPrefix(line, "-A "):
					for i := range f[:len(f)-1] {
						if f[i] == "-j" && !builtin[f[i+1]] && !declared[f[i+1]] {
							t.Errorf("jump to undeclared chain %s: %s", f[i+1], line)
						}
					}
				}
			}
		})
	}
}

// TestChainNames pins kube-proxy's hashing: the chain names of kube-proxy's own tests
// (pkg/proxy/iptables/proxier_test.go) for "ns1/svc1:p80" over TCP.
func TestChainNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{rules.ServiceChain("ns1/svc1:p80", "TCP"), "KUBE-SVC-XPGD46QRK7WJZT7O"},
		{rules.EndpointChain("ns1/svc1:p80", "TCP", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ"},
		{rules.ExternalChain("ns2/svc2:p80", "tcp"), "KUBE-EXT-GNZBNJ2PO5MGZ6GT"},
		{rules.LocalChain("ns2/svc2:p80", "tcp"), "KUBE-SVL-GNZBNJ2PO5MGZ6GT"},
	} {
		if tc.got != tc.want {
			t.Errorf("chain %s, want %s", tc.got, tc.want)
		}
	}
}

func TestCleanup(t *testing.T) {
	got := string(rules.Cleanup(map[string][]string{
		"filter": {"INPUT", "KUBE-SERVICES", "KUBE-FORWARD", "DOCKER-USER"},
		"nat":    {"PREROUTING", "KUBE-SERVICES", "KUBE-MARK-MASQ", "KUBE-SVC-AAAA", "KUBE-SEP-BBBB", "CNI-1"},
	}))
	want := "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n-X KUBE-SERVICES\n-X KUBE-FORWARD\nCOMMIT\n" +
		"*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n:KUBE-SEP-BBBB - [0:0]\n-X KUBE-SERVICES\n-X KUBE-MARK-MASQ\n-X KUBE-SVC-AAAA\n-X KUBE-SEP-BBBB\nCOMMIT\n"
	if got != want {
		t.Errorf("Cleanup:\n%s\nwant:\n%s", got, want)
	}
	if rules.Cleanup(map[string][]string{"nat": {"PREROUTING"}}) != nil {
		t.Error("Cleanup with nothing of ours: want nil")
	}
}

// lineDiff shows the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	if b.Len() == 0 {
		return "(same lines, other order)"
	}
	return b.String()
}
