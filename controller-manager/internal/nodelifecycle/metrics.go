package nodelifecycle

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"kubelab.io/client/metrics"
)

// zoneMetrics are upstream's node_collector zone gauges, labelled by zone ("region:zone",
// "" for unlabelled nodes), set by every monitor pass.
type zoneMetrics struct {
	health, size, unhealthy *prometheus.GaugeVec

	mu   sync.Mutex
	seen map[string]bool // zones with series, so vanished zones lose theirs
}

// newZoneMetrics registers the gauges with reg, or shares them if another controller (a
// test's) registered them first.
func newZoneMetrics(reg prometheus.Registerer) (*zoneMetrics, error) {
	m := &zoneMetrics{seen: map[string]bool{}}
	for _, g := range []struct {
		dst        **prometheus.GaugeVec
		name, help string
	}{
		{&m.health, "zone_health", "Gauge measuring percentage of healthy nodes in each zone."},
		{&m.size, "zone_size", "Gauge measuring number of registered Nodes per zones."},
		{&m.unhealthy, "unhealthy_nodes_in_zone", "Gauge measuring number of not Ready Nodes per zones."},
	} {
		v, err := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "node_collector", Name: g.name, Help: g.help}, []string{"zone"}))
		if err != nil {
			return nil, fmt.Errorf("node_collector_%s: %w", g.name, err)
		}
		*g.dst = v
	}
	return m, nil
}

func (m *zoneMetrics) set(zones map[string]zoneInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for z := range m.seen {
		if _, ok := zones[z]; !ok {
			for _, v := range []*prometheus.GaugeVec{m.health, m.size, m.unhealthy} {
				v.DeleteLabelValues(zoneName(z))
			}
			delete(m.seen, z)
		}
	}
	for z, info := range zones {
		m.seen[z] = true
		name := zoneName(z)
		m.size.WithLabelValues(name).Set(float64(info.size))
		m.unhealthy.WithLabelValues(name).Set(float64(info.notReady))
		if info.size > 0 {
			m.health.WithLabelValues(name).Set(100 * float64(info.size-info.notReady) / float64(info.size))
		}
	}
}
