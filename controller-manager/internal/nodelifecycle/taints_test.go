package nodelifecycle

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/scheduling"
)

var t0 = time.Unix(1_700_000_000, 0)

func taint(key, effect string, added time.Time) *corev1.Taint {
	t := &corev1.Taint{Key: key, Effect: effect}
	if !added.IsZero() {
		t.TimeAdded = &metav1.Time{Seconds: added.Unix()}
	}
	return t
}

func keys(ts []*corev1.Taint) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.GetKey()+":"+t.GetEffect())
	}
	return out
}

func TestReconcileTaints(t *testing.T) {
	custom := taint("example.com/gpu", "NoSchedule", time.Time{})
	for _, tc := range []struct {
		name    string
		current []*corev1.Taint
		h       health
		want    []string
		changed bool
	}{
		{"healthy, nothing", nil, healthy, nil, false},
		{"unreachable adds both", []*corev1.Taint{custom}, unreachable,
			[]string{"example.com/gpu:NoSchedule", TaintUnreachable + ":NoSchedule", TaintUnreachable + ":NoExecute"}, true},
		{"unreachable kept", []*corev1.Taint{taint(TaintUnreachable, EffectNoSchedule, time.Time{}), taint(TaintUnreachable, EffectNoExecute, t0)}, unreachable,
			[]string{TaintUnreachable + ":NoSchedule", TaintUnreachable + ":NoExecute"}, false},
		{"unreachable to not-ready", []*corev1.Taint{taint(TaintUnreachable, EffectNoExecute, t0)}, notReady,
			[]string{TaintNotReady + ":NoSchedule", TaintNotReady + ":NoExecute"}, true},
		{"healthy removes ours only", []*corev1.Taint{custom, taint(TaintNotReady, EffectNoExecute, t0), taint(TaintNotReady, EffectNoSchedule, time.Time{})}, healthy,
			[]string{"example.com/gpu:NoSchedule"}, true},
		{"held back: NoSchedule only", []*corev1.Taint{custom}, unreachable,
			[]string{"example.com/gpu:NoSchedule", TaintUnreachable + ":NoSchedule"}, true},
		{"held back removes NoExecute", []*corev1.Taint{taint(TaintUnreachable, EffectNoSchedule, time.Time{}), taint(TaintUnreachable, EffectNoExecute, t0)}, unreachable,
			[]string{TaintUnreachable + ":NoSchedule"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noExecute := !strings.HasPrefix(tc.name, "held back")
			got, changed := reconcileTaints(tc.current, tc.h, noExecute, t0.Add(time.Minute))
			if changed != tc.changed || len(keys(got)) != len(tc.want) {
				t.Fatalf("reconcileTaints = %v, %v; want %v, %v", keys(got), changed, tc.want, tc.changed)
			}
			for i := range tc.want {
				if keys(got)[i] != tc.want[i] {
					t.Fatalf("reconcileTaints = %v; want %v", keys(got), tc.want)
				}
			}
		})
	}
	// A kept NoExecute taint keeps its timeAdded; a new one gets now.
	got, _ := reconcileTaints([]*corev1.Taint{taint(TaintUnreachable, EffectNoExecute, t0)}, unreachable, true, t0.Add(time.Hour))
	for _, tt := range got {
		if tt.GetEffect() == EffectNoExecute && tt.GetTimeAdded().GetSeconds() != t0.Unix() {
			t.Fatalf("timeAdded changed: %v", tt.GetTimeAdded())
		}
	}
}

func tol(key, op, effect string, seconds *int64) *corev1.Toleration {
	return &corev1.Toleration{Key: key, Operator: op, Effect: effect, TolerationSeconds: seconds}
}

func TestEvictionTime(t *testing.T) {
	unreach := []*corev1.Taint{taint(TaintUnreachable, EffectNoExecute, t0), taint(TaintUnreachable, EffectNoSchedule, time.Time{})}
	for _, tc := range []struct {
		name  string
		tols  []*corev1.Toleration
		taint []*corev1.Taint
		at    time.Time
		ok    bool
	}{
		{"no NoExecute taint", nil, []*corev1.Taint{taint(TaintUnreachable, EffectNoSchedule, time.Time{})}, time.Time{}, false},
		{"not tolerated: now", nil, unreach, time.Time{}, true},
		{"tolerated forever", []*corev1.Toleration{tol(TaintUnreachable, "Exists", EffectNoExecute, nil)}, unreach, time.Time{}, false},
		{"tolerated 60s", []*corev1.Toleration{tol(TaintUnreachable, "Exists", EffectNoExecute, proto.Int64(60))}, unreach, t0.Add(60 * time.Second), true},
		{"shortest of two", []*corev1.Toleration{tol(TaintUnreachable, "Exists", "", proto.Int64(60)), tol("", "Exists", "", proto.Int64(10))}, unreach, t0.Add(10 * time.Second), true},
		{"wrong key", []*corev1.Toleration{tol(TaintNotReady, "Exists", EffectNoExecute, nil)}, unreach, time.Time{}, true},
		{"defaults", withDefaultTolerations(nil, 300, 200), unreach, t0.Add(200 * time.Second), true},
		{"explicit beats default", withDefaultTolerations([]*corev1.Toleration{tol(TaintUnreachable, "Exists", EffectNoExecute, proto.Int64(5))}, 300, 200), unreach, t0.Add(5 * time.Second), true},
		{"no timeAdded counts from first seen", []*corev1.Toleration{tol(TaintUnreachable, "Exists", "", proto.Int64(60))},
			[]*corev1.Taint{taint(TaintUnreachable, EffectNoExecute, time.Time{})}, t0.Add(time.Hour + time.Minute), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, ok := evictionTime(tc.tols, tc.taint, t0.Add(time.Hour))
			if ok != tc.ok || !at.Equal(tc.at) {
				t.Fatalf("evictionTime = %v, %v; want %v, %v", at, ok, tc.at, tc.ok)
			}
		})
	}
}

func TestTolerates(t *testing.T) {
	tt := &corev1.Taint{Key: "k", Value: "v", Effect: EffectNoExecute}
	for _, tc := range []struct {
		tol  *corev1.Toleration
		want bool
	}{
		{&corev1.Toleration{Key: "k", Operator: "Exists"}, true},
		{&corev1.Toleration{Key: "k", Value: "v"}, true},
		{&corev1.Toleration{Key: "k", Operator: "Equal", Value: "w"}, false},
		{&corev1.Toleration{Operator: "Exists"}, true},
		{&corev1.Toleration{Key: "k", Operator: "Exists", Effect: EffectNoSchedule}, false},
		{&corev1.Toleration{Key: "other", Operator: "Exists"}, false},
	} {
		if got := scheduling.ToleratesTaint(tc.tol, tt); got != tc.want {
			t.Errorf("tolerates(%v) = %v, want %v", tc.tol, got, tc.want)
		}
	}
}
