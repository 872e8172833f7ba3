package nodelifecycle

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestComputeZoneState(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ready, notReady int
		want            zoneState
	}{
		{"empty", 0, 0, stateNormal},
		{"all ready", 3, 0, stateNormal},
		{"one down of one", 0, 1, stateFullDisruption},
		{"all down", 0, 3, stateFullDisruption},
		{"two down is never partial", 0 + 1, 2, stateNormal},
		{"3 of 5 down (0.6)", 2, 3, statePartialDisruption},
		{"3 of 6 down (0.5)", 3, 3, stateNormal},
		{"11 of 20 down (0.55)", 9, 11, statePartialDisruption},
		{"one of three down", 2, 1, stateNormal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := computeZoneState(tc.ready, tc.notReady, 0.55); got != tc.want {
				t.Fatalf("computeZoneState(%d ready, %d not) = %s, want %s", tc.ready, tc.notReady, got, tc.want)
			}
		})
	}
}

func TestZoneKey(t *testing.T) {
	node := func(labels map[string]string) *corev1.Node {
		return &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n", Labels: labels}}
	}
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{nil, ""},
		{map[string]string{"other": "x"}, ""},
		{map[string]string{LabelTopologyZone: "a"}, ":\x00:a"},
		{map[string]string{LabelTopologyZone: "a", LabelTopologyRegion: "r"}, "r:\x00:a"},
		{map[string]string{LabelTopologyZone: "a", labelFailureDomainZone: "old"}, ":\x00:old"},
	} {
		if got := zoneKey(node(tc.labels)); got != tc.want {
			t.Errorf("zoneKey(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
	if got := zoneName("r:\x00:a"); got != "r:a" {
		t.Errorf("zoneName = %q", got)
	}
}

var defaultRates = evictionRates{primary: 0.1, secondary: 0.01, largeCluster: 50, unhealthyThreshold: 0.55}

func views(zone string, h health, names ...string) []nodeView {
	var out []nodeView
	for _, n := range names {
		out = append(out, nodeView{name: n, zone: zone, health: h})
	}
	return out
}

func admitted(d *disruption) []string {
	var out []string
	for n := range d.admitted {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func TestDisruptionRateLimitsNormalZone(t *testing.T) {
	d := newDisruption(defaultRates)
	nodes := append(views("", healthy, "h1", "h2", "h3"), views("", unreachable, "n1", "n2")...)
	if res := d.pass(nodes, t0); res.enteredMaster || d.zones[""].state != stateNormal {
		t.Fatalf("pass = %+v, zone %+v; want a Normal zone", res, d.zones[""])
	}
	if got := admitted(d); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("admitted at once = %v, want [n1]", got)
	}
	// 1/rate = 10 s: not before, then the second.
	d.pass(nodes, t0.Add(9*time.Second))
	if got := admitted(d); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("admitted after 9s = %v, want [n1]", got)
	}
	d.pass(nodes, t0.Add(10*time.Second))
	if got := admitted(d); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("admitted after 10s = %v, want [n1 n2]", got)
	}
	// A node that recovers loses its admission; a tainted one needs none.
	nodes[3].health, nodes[4].tainted = healthy, true
	d.pass(nodes, t0.Add(11*time.Second))
	if got := admitted(d); !slices.Equal(got, []string{"n2"}) || !d.mayTaint("n2", false) || d.mayTaint("n1", false) || !d.mayTaint("x", true) {
		t.Fatalf("admitted = %v", got)
	}
}

func TestDisruptionPartialZones(t *testing.T) {
	// Small zone: 3 of 5 down stops tainting.
	d := newDisruption(defaultRates)
	d.pass(append(views("", healthy, "h1", "h2"), views("", unreachable, "n1", "n2", "n3")...), t0)
	if d.zones[""].state != statePartialDisruption || len(d.admitted) != 0 {
		t.Fatalf("small partial zone: %+v, admitted %v", d.zones[""], admitted(d))
	}
	// Large zone: the secondary rate, 100 s per node.
	d = newDisruption(defaultRates)
	var nodes []nodeView
	for i := range 60 {
		h := unreachable
		if i < 20 {
			h = healthy
		}
		nodes = append(nodes, nodeView{name: string(rune('A' + i)), health: h})
	}
	d.pass(nodes, t0)
	d.pass(nodes, t0.Add(99*time.Second))
	if d.zones[""].state != statePartialDisruption || len(d.admitted) != 1 {
		t.Fatalf("large partial zone: %+v, admitted %v", d.zones[""], admitted(d))
	}
	d.pass(nodes, t0.Add(100*time.Second))
	if len(d.admitted) != 2 {
		t.Fatalf("after 100s admitted %v, want 2", admitted(d))
	}
	// One zone fully down while another is healthy: evicted at the normal rate.
	d = newDisruption(defaultRates)
	d.pass(append(views("a", healthy, "a1"), views("b", unreachable, "b1", "b2")...), t0)
	if d.master || d.zones["b"].state != stateFullDisruption || !slices.Equal(admitted(d), []string{"b1"}) {
		t.Fatalf("one zone down: master %v, zone b %+v, admitted %v", d.master, d.zones["b"], admitted(d))
	}
}

func TestDisruptionMasterMode(t *testing.T) {
	d := newDisruption(defaultRates)
	nodes := append(views("a", unreachable, "a1", "a2"), views("b", notReady, "b1")...)
	nodes[0].tainted = true
	d.pass(append(views("a", healthy, "a1", "a2"), views("b", healthy, "b1")...), t0)
	res := d.pass(nodes, t0.Add(time.Minute))
	if !res.enteredMaster || !d.master || len(d.admitted) != 0 {
		t.Fatalf("all zones down: %+v, master %v, admitted %v", res, d.master, admitted(d))
	}
	if d.mayTaint("a1", true) || d.mayTaint("a2", false) {
		t.Fatal("a NoExecute taint is allowed in master disruption mode")
	}
	// Staying down: still no tainting, however long.
	if res := d.pass(nodes, t0.Add(time.Hour)); res.enteredMaster || len(d.admitted) != 0 {
		t.Fatalf("second pass: %+v, admitted %v", res, admitted(d))
	}
	// b1 is back: out of master mode, but nobody is admitted in that pass (the caller
	// grants a fresh grace period) ...
	nodes[2].health = healthy
	res = d.pass(nodes, t0.Add(time.Hour+time.Second))
	if !res.exitedMaster || d.master || len(d.admitted) != 0 || !d.mayTaint("a1", true) {
		t.Fatalf("b1 back: %+v, master %v, admitted %v", res, d.master, admitted(d))
	}
	// ... and tainting resumes in the next: zone a is fully down while b is healthy, so a2
	// gets through at once (a1 still has its taint).
	d.pass(nodes, t0.Add(time.Hour+2*time.Second))
	if got := admitted(d); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("admitted = %v, want [a2]", got)
	}
}

func TestZoneMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newZoneMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newZoneMetrics(reg); err != nil {
		t.Fatalf("a second controller cannot share the gauges: %v", err)
	}
	m.set(map[string]zoneInfo{"r:\x00:a": {size: 4, notReady: 1}, "": {size: 2}})
	m.set(map[string]zoneInfo{"r:\x00:a": {size: 4, notReady: 1}})
	want := `
# HELP node_collector_zone_health Gauge measuring percentage of healthy nodes in each zone.
# TYPE node_collector_zone_health gauge
node_collector_zone_health{zone="r:a"} 75
# HELP node_collector_unhealthy_nodes_in_zone Gauge measuring number of not Ready Nodes per zones.
# TYPE node_collector_unhealthy_nodes_in_zone gauge
node_collector_unhealthy_nodes_in_zone{zone="r:a"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "node_collector_zone_health", "node_collector_unhealthy_nodes_in_zone"); err != nil {
		t.Fatal(err)
	}
}
