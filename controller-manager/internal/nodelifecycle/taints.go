package nodelifecycle

import (
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/scheduling"
)

// Taints the controller owns, and their effects.
const (
	TaintUnreachable = "node.kubernetes.io/unreachable"
	TaintNotReady    = "node.kubernetes.io/not-ready"

	EffectNoExecute  = "NoExecute"
	EffectNoSchedule = "NoSchedule"
)

// health is what the controller concluded about a node.
type health int

const (
	// healthy: heartbeats are fresh and Ready is not False.
	healthy health = iota
	// notReady: heartbeats are fresh but the kubelet reports Ready=False.
	notReady
	// unreachable: no heartbeat within the grace period.
	unreachable
)

// wantedTaints are the controller's taints for h: NoExecute (taint-based eviction) and
// NoSchedule (upstream's TaintNodesByCondition) under the same key.
func wantedTaints(h health) []string {
	switch h {
	case notReady:
		return []string{TaintNotReady}
	case unreachable:
		return []string{TaintUnreachable}
	}
	return nil
}

func managed(t *corev1.Taint) bool {
	return (t.GetKey() == TaintNotReady || t.GetKey() == TaintUnreachable) &&
		(t.GetEffect() == EffectNoExecute || t.GetEffect() == EffectNoSchedule)
}

// reconcileTaints returns the node's taints with the controller's set to what h wants,
// the NoExecute one only if noExecute (the zone limiter and master disruption mode decide
// that; NoSchedule is never held back, as upstream's doNoScheduleTaintingPass): taints of
// other owners are kept, kept taints keep their timeAdded (eviction timing counts from it),
// and new NoExecute taints get timeAdded now.
func reconcileTaints(current []*corev1.Taint, h health, noExecute bool, now time.Time) (next []*corev1.Taint, changed bool) {
	want := map[[2]string]bool{}
	for _, k := range wantedTaints(h) {
		want[[2]string{k, EffectNoExecute}] = noExecute
		want[[2]string{k, EffectNoSchedule}] = true
	}
	have := map[[2]string]bool{}
	for _, t := range current {
		if managed(t) && !want[[2]string{t.GetKey(), t.GetEffect()}] {
			changed = true
			continue
		}
		have[[2]string{t.GetKey(), t.GetEffect()}] = true
		next = append(next, t)
	}
	for _, k := range wantedTaints(h) {
		for _, e := range []string{EffectNoSchedule, EffectNoExecute} {
			if have[[2]string{k, e}] || !want[[2]string{k, e}] {
				continue
			}
			t := &corev1.Taint{Key: k, Effect: e}
			if e == EffectNoExecute {
				t.TimeAdded = &metav1.Time{Seconds: now.Unix()}
			}
			next = append(next, t)
			changed = true
		}
	}
	return next, changed
}

// withDefaultTolerations adds the tolerations the DefaultTolerationSeconds admission plugin
// would have added: not-ready and unreachable NoExecute for the default seconds, unless the
// pod already tolerates that taint key with NoExecute. kubelab's apiserver has no such
// plugin yet, so the controller applies them when it judges a pod, without writing them.
func withDefaultTolerations(tols []*corev1.Toleration, notReadySeconds, unreachableSeconds int64) []*corev1.Toleration {
	out := append([]*corev1.Toleration(nil), tols...)
	for _, d := range []struct {
		key     string
		seconds int64
	}{{TaintNotReady, notReadySeconds}, {TaintUnreachable, unreachableSeconds}} {
		explicit := false
		for _, t := range tols {
			if (t.GetKey() == d.key || t.GetKey() == "") && (t.GetEffect() == EffectNoExecute || t.GetEffect() == "") {
				explicit = true
			}
		}
		if !explicit {
			s := d.seconds
			out = append(out, &corev1.Toleration{Key: d.key, Operator: "Exists", Effect: EffectNoExecute, TolerationSeconds: &s})
		}
	}
	return out
}

// evictionTime says when a pod with tolerations must leave a node with taints: at once
// (zero time) if a NoExecute taint is not tolerated; else at the earliest timeAdded +
// tolerationSeconds over the taints (the shortest matching toleration per taint); never
// (ok=false) if every NoExecute taint is tolerated forever. A taint without timeAdded counts
// from firstSeen.
func evictionTime(tols []*corev1.Toleration, taints []*corev1.Taint, firstSeen time.Time) (at time.Time, ok bool) {
	for _, t := range taints {
		if t.GetEffect() != EffectNoExecute {
			continue
		}
		var seconds *int64
		matched := false
		for _, tol := range tols {
			if !scheduling.ToleratesTaint(tol, t) {
				continue
			}
			matched = true
			if tol.TolerationSeconds != nil && (seconds == nil || tol.GetTolerationSeconds() < *seconds) {
				s := max(tol.GetTolerationSeconds(), 0)
				seconds = &s
			}
		}
		if !matched {
			return time.Time{}, true
		}
		if seconds == nil {
			continue // tolerated forever
		}
		start := firstSeen
		if t.TimeAdded != nil {
			start = time.Unix(t.TimeAdded.GetSeconds(), int64(t.TimeAdded.GetNanos()))
		}
		when := start.Add(time.Duration(*seconds) * time.Second)
		if !ok || when.Before(at) {
			at, ok = when, true
		}
	}
	return at, ok
}
