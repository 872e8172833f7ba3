package nodelifecycle

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
)

// Topology labels that place a node in a zone, newest first; the beta names are still
// read, as upstream does.
const (
	LabelTopologyZone        = "topology.kubernetes.io/zone"
	LabelTopologyRegion      = "topology.kubernetes.io/region"
	labelFailureDomainZone   = "failure-domain.beta.kubernetes.io/zone"
	labelFailureDomainRegion = "failure-domain.beta.kubernetes.io/region"
)

// zoneKey is upstream's utilnode.GetZoneKey: region and zone of the node, "" when it has
// neither label (all unlabelled nodes form one zone).
func zoneKey(n *corev1.Node) string {
	labels := n.GetMetadata().GetLabels()
	zone, ok := labels[labelFailureDomainZone]
	if !ok {
		zone = labels[LabelTopologyZone]
	}
	region, ok := labels[labelFailureDomainRegion]
	if !ok {
		region = labels[LabelTopologyRegion]
	}
	if region == "" && zone == "" {
		return ""
	}
	// The NUL keeps "a:b"+"c" apart from "a"+"b:c", as upstream's key does.
	return region + ":\x00:" + zone
}

// zoneState is upstream's ZoneState.
type zoneState string

const (
	stateNormal            zoneState = "Normal"
	stateFullDisruption    zoneState = "FullDisruption"
	statePartialDisruption zoneState = "PartialDisruption"
)

// computeZoneState is upstream's ComputeZoneState: FullDisruption when no node of the zone
// is ready and at least one is not; PartialDisruption when more than 2 are not ready and
// they are at least threshold of the zone; else Normal.
func computeZoneState(ready, notReady int, threshold float64) zoneState {
	switch {
	case ready == 0 && notReady > 0:
		return stateFullDisruption
	case notReady > 2 && float64(notReady)/float64(notReady+ready) >= threshold:
		return statePartialDisruption
	}
	return stateNormal
}

// evictionRates are the NoExecute tainting rates (nodes per second) of the flags
// --node-eviction-rate, --secondary-node-eviction-rate and --large-cluster-size-threshold.
type evictionRates struct {
	primary, secondary float64
	largeCluster       int
	unhealthyThreshold float64
}

// forZone is upstream's setLimiterInZone: the primary rate in Normal and in FullDisruption
// (a single dead zone is evicted as usual; only all zones dead is master disruption), the
// secondary rate in PartialDisruption of a large zone, and none in a small one.
func (r evictionRates) forZone(s zoneState, size int) float64 {
	if s == statePartialDisruption {
		if size > r.largeCluster {
			return r.secondary
		}
		return 0
	}
	return r.primary
}

// tokenBucket is a rate limiter with burst 1 on an injected clock: it starts full, so the
// first node of a healthy zone is let through at once and the next one 1/qps later.
type tokenBucket struct {
	qps    float64
	tokens float64
	last   time.Time
}

func newTokenBucket(qps float64, now time.Time) *tokenBucket {
	return &tokenBucket{qps: qps, tokens: 1, last: now}
}

func (b *tokenBucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = min(1, b.tokens+now.Sub(b.last).Seconds()*b.qps)
		b.last = now
	}
}

// take spends a token if one is there; at rate 0 nothing passes (upstream's
// NeverRateLimiter), whatever was left in the bucket.
func (b *tokenBucket) take(now time.Time) bool {
	b.refill(now)
	if b.qps > 0 && b.tokens >= 1-1e-9 {
		b.tokens--
		return true
	}
	return false
}

// setRate changes the rate from now on; tokens earned so far are kept, so swapping rates
// never hands out a fresh burst (as upstream's SwapLimiter drains the new limiter).
func (b *tokenBucket) setRate(qps float64, now time.Time) {
	b.refill(now)
	b.qps = qps
}

// nodeView is what a monitor pass knows of one node.
type nodeView struct {
	name, zone string
	health     health
	// tainted: the node has one of this controller's NoExecute taints already.
	tainted bool
}

// zoneInfo is one zone as the last pass saw it.
type zoneInfo struct {
	state          zoneState
	size, notReady int
	limiter        *tokenBucket
}

// disruption is the zone bookkeeping behind NoExecute tainting (upstream's handleDisruption
// and zoneNoExecuteTainter). It is the pure core of a monitor pass: the controller feeds it
// every node's health and acts on what it returns. Not safe for concurrent use.
type disruption struct {
	rates evictionRates
	zones map[string]*zoneInfo
	// master: every zone is in FullDisruption, so the controller itself is probably cut off
	// (upstream's "master disruption mode"): no NoExecute taint is added and existing ones
	// are removed.
	master bool
	// admitted are unhealthy nodes whose zone limiter let their NoExecute taint through;
	// a node stays admitted while it is unhealthy, so a stale cache never spends a second
	// token on it.
	admitted map[string]bool
}

func newDisruption(r evictionRates) *disruption {
	return &disruption{rates: r, zones: map[string]*zoneInfo{}, admitted: map[string]bool{}}
}

// passResult is what changed in a pass, for the controller to log and act on.
type passResult struct {
	enteredMaster, exitedMaster bool
	// changed are the zones whose state changed (new zones included).
	changed []string
}

// pass recomputes every zone's state from nodes, moves in or out of master disruption mode,
// sets each zone's rate, and admits unhealthy untainted nodes to NoExecute tainting as
// their zone's limiter allows (in name order). On leaving master disruption mode no node is
// admitted: the caller counts every node as just heard from, so kubelets reconnecting after
// a partition get a grace period.
func (d *disruption) pass(nodes []nodeView, now time.Time) passResult {
	type counts struct{ ready, notReady int }
	byZone := map[string]*counts{}
	health := map[string]health{}
	for _, n := range nodes {
		c := byZone[n.zone]
		if c == nil {
			c = &counts{}
			byZone[n.zone] = c
		}
		if n.health == healthy {
			c.ready++
		} else {
			c.notReady++
		}
		health[n.name] = n.health
	}
	for z := range d.zones {
		if byZone[z] == nil {
			delete(d.zones, z)
		}
	}
	var res passResult
	allDown := len(byZone) > 0
	next := map[string]zoneState{}
	for z, c := range byZone {
		next[z] = computeZoneState(c.ready, c.notReady, d.rates.unhealthyThreshold)
		allDown = allDown && next[z] == stateFullDisruption
	}
	for z, c := range byZone {
		info := d.zones[z]
		if info == nil {
			info = &zoneInfo{limiter: newTokenBucket(d.rates.forZone(next[z], c.ready+c.notReady), now)}
			d.zones[z] = info
			res.changed = append(res.changed, z)
		} else if info.state != next[z] {
			res.changed = append(res.changed, z)
		}
		info.state, info.size, info.notReady = next[z], c.ready+c.notReady, c.notReady
	}
	slices.Sort(res.changed)
	switch {
	case allDown && !d.master:
		d.master, res.enteredMaster = true, true
	case !allDown && d.master:
		d.master, res.exitedMaster = false, true
	}
	for _, info := range d.zones {
		qps := d.rates.forZone(info.state, info.size)
		if d.master {
			qps = 0
		}
		info.limiter.setRate(qps, now)
	}
	for name := range d.admitted {
		if h, ok := health[name]; !ok || h == healthy || d.master {
			delete(d.admitted, name)
		}
	}
	if d.master || res.exitedMaster {
		return res
	}
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b nodeView) int { return cmp.Compare(a.name, b.name) })
	blocked := map[string]bool{}
	for _, n := range sorted {
		if n.health == healthy || n.tainted || d.admitted[n.name] || blocked[n.zone] {
			continue
		}
		if !d.zones[n.zone].limiter.take(now) {
			blocked[n.zone] = true
			continue
		}
		d.admitted[n.name] = true
	}
	return res
}

// mayTaint says whether node, judged unhealthy, may carry a NoExecute taint: never in
// master disruption mode; otherwise if it carries one already or a pass admitted it.
func (d *disruption) mayTaint(node string, tainted bool) bool {
	return !d.master && (tainted || d.admitted[node])
}

// zoneName is a zone key for logs and metrics: "region:zone", or "" for unlabelled nodes.
func zoneName(key string) string {
	return strings.Replace(key, ":\x00:", ":", 1)
}
