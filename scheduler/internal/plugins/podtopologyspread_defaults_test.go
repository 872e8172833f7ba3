package plugins

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/scheduler/internal/framework"
	tu "kubelab.io/scheduler/internal/testutil"
)

var errNotFound = errors.New("not found")

// fakeWorkloads serves services, replica sets and stateful sets from slices.
func fakeWorkloads(svcs []*corev1.Service, rss []*appsv1.ReplicaSet, sss []*appsv1.StatefulSet) framework.WorkloadListers {
	return framework.WorkloadListers{
		Services: func(ns string) ([]*corev1.Service, error) {
			var out []*corev1.Service
			for _, s := range svcs {
				if s.GetMetadata().GetNamespace() == ns {
					out = append(out, s)
				}
			}
			return out, nil
		},
		ReplicaSet: func(ns, name string) (*appsv1.ReplicaSet, error) {
			for _, r := range rss {
				if r.GetMetadata().GetNamespace() == ns && r.GetMetadata().GetName() == name {
					return r, nil
				}
			}
			return nil, errNotFound
		},
		StatefulSet: func(ns, name string) (*appsv1.StatefulSet, error) {
			for _, s := range sss {
				if s.GetMetadata().GetNamespace() == ns && s.GetMetadata().GetName() == name {
					return s, nil
				}
			}
			return nil, errNotFound
		},
	}
}

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: &corev1.ServiceSpec{Selector: selector}}
}

func replicaSet(name string, matchLabels map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:     &appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: matchLabels}},
	}
}

func statefulSet(name string, matchLabels map[string]string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:     &appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: matchLabels}},
	}
}

// ownedBy makes kind/name (apps/v1) the pod's controller.
func ownedBy(p *corev1.Pod, kind, name string) *corev1.Pod {
	p.Metadata.OwnerReferences = append(p.Metadata.OwnerReferences, &metav1.OwnerReference{
		ApiVersion: "apps/v1", Kind: kind, Name: name, Uid: name + "-uid", Controller: proto.Bool(true),
	})
	return p
}

func TestDefaultSelector(t *testing.T) {
	w := fakeWorkloads(
		[]*corev1.Service{
			service("web", map[string]string{"app": "web"}),
			service("tier", map[string]string{"tier": "front"}),
			service("headless", nil), // selects nothing
			service("db", map[string]string{"app": "db"}),
		},
		[]*appsv1.ReplicaSet{replicaSet("web-1", map[string]string{"app": "web", "rev": "1"})},
		[]*appsv1.StatefulSet{statefulSet("web", map[string]string{"app": "web", "set": "s"})},
	)
	pod := func() *corev1.Pod {
		return tu.Pod("p").Label("app", "web").Label("tier", "front").Label("rev", "1").Label("set", "s").Obj()
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"services selecting the pod, merged", pod(), "app=web,tier=front"},
		{"and its ReplicaSet's selector", ownedBy(pod(), "ReplicaSet", "web-1"), "app=web,app=web,rev=1,tier=front"},
		{"and its StatefulSet's selector", ownedBy(pod(), "StatefulSet", "web"), "app=web,app=web,set=s,tier=front"},
		{"a controller that is gone adds nothing", ownedBy(pod(), "ReplicaSet", "web-2"), "app=web,tier=front"},
		{"selected by nothing: empty", tu.Pod("p").Label("app", "cache").Obj(), ""},
		{"a Deployment is no selector of its own", ownedBy(tu.Pod("p").Label("app", "cache").Obj(), "Deployment", "web"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := DefaultSelector(tc.pod, w)
			if got.String() != tc.want {
				t.Errorf("selector %q, want %q", got.String(), tc.want)
			}
			if got.Empty() != (tc.want == "") {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}

// With the System defaults (hostname maxSkew 3, zone maxSkew 5, both ScheduleAnyway), a
// pod that declares no constraints is spread with the pods of its workload.
func TestPodTopologySpreadSystemDefaults(t *testing.T) {
	web := func(name string) *corev1.Pod {
		return ownedBy(tu.Pod(name).Label("app", "web").Obj(), "ReplicaSet", "web")
	}
	w := fakeWorkloads(nil, []*appsv1.ReplicaSet{replicaSet("web", map[string]string{"app": "web"})}, nil)
	p, err := NewPodTopologySpread(framework.Handle{Workloads: w})
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(PodTopologySpread)
	existing := map[string][]*corev1.Pod{"n1": {web("w1"), web("w2")}}
	cases := []struct {
		name string
		pod  *corev1.Pod
		want []int64 // n1..n4
	}{
		{
			// hostname weight log(4+2), zone weight log(2 zones+2) (n4 has no zone but
			// is not ignored under the system defaults: it scores by hostname alone).
			// n1: 2*1.79+2 + 2*1.39+4 = 12, n2: 2 + 6.77 = 9, n3: 2+4 = 6, n4: 2;
			// (12+2-s)*100/12.
			name: "a ReplicaSet's pod",
			pod:  web("p"),
			want: []int64{16, 41, 66, 100},
		},
		{
			name: "a pod with constraints of its own does not get the defaults",
			pod:  ownedBy(tu.Pod("p").Label("app", "web").Spread(tu.SpreadConstraint(1, zoneKey, "DoNotSchedule", "app", "web")).Obj(), "ReplicaSet", "web"),
			want: []int64{0, 0, 0, 0},
		},
		{
			name: "a pod nothing selects gets none",
			pod:  tu.Pod("p").Label("app", "web").Obj(),
			want: []int64{0, 0, 0, 0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scoreAll(t, pl, tc.pod, affinityCluster(existing)...); !slices.Equal(got, tc.want) {
				t.Errorf("scores %v, want %v", got, tc.want)
			}
			// System defaults never filter.
			state := framework.NewCycleState()
			state.SetSnapshot(framework.NewSnapshot(affinityCluster(existing)...))
			if s := pl.PreFilter(context.Background(), state, tc.pod); len(tc.pod.GetSpec().GetTopologySpreadConstraints()) == 0 && !s.IsSkip() {
				t.Errorf("PreFilter %v, want Skip", s)
			}
		})
	}
}

// Zones: three zones, one node each, plus a second node in zone a; the pod's Service puts
// two of its pods in zone a: the zones without any win.
func TestPodTopologySpreadSystemDefaultsByZone(t *testing.T) {
	w := fakeWorkloads([]*corev1.Service{service("web", map[string]string{"app": "web"})}, nil, nil)
	p, err := NewPodTopologySpread(framework.Handle{Workloads: w})
	if err != nil {
		t.Fatal(err)
	}
	web := func(name string) *corev1.Pod { return tu.Pod(name).Label("app", "web").Obj() }
	nodes := []*framework.NodeInfo{
		framework.NewNodeInfo(tu.Node("a1").Label(zoneKey, "a").Obj(), web("w1")),
		framework.NewNodeInfo(tu.Node("a2").Label(zoneKey, "a").Obj(), web("w2")),
		framework.NewNodeInfo(tu.Node("b1").Label(zoneKey, "b").Obj()),
		framework.NewNodeInfo(tu.Node("c1").Label(zoneKey, "c").Obj()),
	}
	// hostname weight log(6) = 1.79, zone weight log(5) = 1.61.
	// a1, a2: 1*1.79+2 + 2*1.61+4 = 11; b1, c1: 2+4 = 6. (11+6-s)*100/11.
	if got, want := scoreAll(t, p.(PodTopologySpread), web("p"), nodes...), []int64{54, 54, 100, 100}; !slices.Equal(got, want) {
		t.Errorf("scores %v, want %v", got, want)
	}
}

// With defaultingType List, the listed constraints apply, DoNotSchedule ones filtering.
func TestPodTopologySpreadListDefaults(t *testing.T) {
	w := fakeWorkloads([]*corev1.Service{service("web", map[string]string{"app": "web"})}, nil, nil)
	args := &PodTopologySpreadArgs{DefaultingType: ListDefaulting, DefaultConstraints: []DefaultSpreadConstraint{
		{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: "DoNotSchedule"},
	}}
	p, err := NewPodTopologySpread(framework.Handle{Workloads: w, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(PodTopologySpread)
	nodes := affinityCluster(map[string][]*corev1.Pod{"n1": {tu.Pod("w1").Label("app", "web").Obj()}})
	state := framework.NewCycleState()
	state.SetSnapshot(framework.NewSnapshot(nodes...))
	pod := tu.Pod("p").Label("app", "web").Obj()
	if s := pl.PreFilter(context.Background(), state, pod); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	var got []string
	for _, ni := range nodes {
		got = append(got, pl.Filter(context.Background(), state, pod, ni).Message())
	}
	want := []string{ErrReasonConstraintsNotMatch, ErrReasonConstraintsNotMatch, "", ErrReasonNodeLabelNotMatch}
	if !slices.Equal(got, want) {
		t.Errorf("filter %q, want %q", got, want)
	}
}

func TestPodTopologySpreadArgsValidate(t *testing.T) {
	c := func(key, when string, skew int32) DefaultSpreadConstraint {
		return DefaultSpreadConstraint{MaxSkew: skew, TopologyKey: key, WhenUnsatisfiable: when}
	}
	cases := []struct {
		name    string
		args    PodTopologySpreadArgs
		wantErr string
	}{
		{"empty is System", PodTopologySpreadArgs{}, ""},
		{"List with constraints", PodTopologySpreadArgs{DefaultingType: "List", DefaultConstraints: []DefaultSpreadConstraint{c(zoneKey, "ScheduleAnyway", 1)}}, ""},
		{"System with constraints", PodTopologySpreadArgs{DefaultConstraints: []DefaultSpreadConstraint{c(zoneKey, "ScheduleAnyway", 1)}}, `when .defaultingType is "System"`},
		{"bad type", PodTopologySpreadArgs{DefaultingType: "Sometimes"}, "defaultingType: Unsupported value"},
		{"zero skew", PodTopologySpreadArgs{DefaultingType: "List", DefaultConstraints: []DefaultSpreadConstraint{c(zoneKey, "ScheduleAnyway", 0)}}, "maxSkew"},
		{"duplicate", PodTopologySpreadArgs{DefaultingType: "List", DefaultConstraints: []DefaultSpreadConstraint{c(zoneKey, "DoNotSchedule", 1), c(zoneKey, "DoNotSchedule", 2)}}, "Duplicate value"},
		{"selector", PodTopologySpreadArgs{DefaultingType: "List", DefaultConstraints: []DefaultSpreadConstraint{{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: "DoNotSchedule", LabelSelector: map[string]any{}}}}, "must not define a selector"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.args.Validate()
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// The queueing hints for an assigned pod going: only a pod that was counted against the
// rejected pod (or kept it away) requeues it.
func TestAssignedPodGoneHints(t *testing.T) {
	spread := tu.Pod("p").Label("app", "web").Spread(tu.SpreadConstraint(1, zoneKey, "DoNotSchedule", "app", "web")).Obj()
	anti := tu.Pod("p").Label("app", "web").PodAntiAffinity(tu.PodAffinityTerm(hostnameKey, "app", "web")).Obj()
	blocker := tu.Pod("b").Label("app", "db").PodAntiAffinity(tu.PodAffinityTerm(hostnameKey, "app", "web")).Obj()
	w := fakeWorkloads(nil, []*appsv1.ReplicaSet{replicaSet("web", map[string]string{"app": "web"})}, nil)
	listed, err := NewPodTopologySpread(framework.Handle{Workloads: w, Args: &PodTopologySpreadArgs{
		DefaultingType: ListDefaulting, DefaultConstraints: []DefaultSpreadConstraint{{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: "DoNotSchedule"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		pl        framework.AssignedPodGoneHinter
		pod, gone *corev1.Pod
		want      bool
	}{
		{"spread: a pod the constraint selects", PodTopologySpread{}, spread, tu.Pod("w").Label("app", "web").Obj(), true},
		{"spread: a pod it does not select", PodTopologySpread{}, spread, tu.Pod("d").Label("app", "db").Obj(), false},
		{"spread: a matching pod of another namespace", PodTopologySpread{}, spread, tu.Pod("w").Namespace("other").Label("app", "web").Obj(), false},
		{"spread: listed default constraints select by the ReplicaSet", listed.(PodTopologySpread),
			ownedBy(tu.Pod("p").Label("app", "web").Obj(), "ReplicaSet", "web"), tu.Pod("w").Label("app", "web").Obj(), true},
		{"anti-affinity: a pod the pod's term selects", InterPodAffinity{}, anti, tu.Pod("w").Label("app", "web").Obj(), true},
		{"anti-affinity: a pod with anti-affinity of its own", InterPodAffinity{}, tu.Pod("p").Label("app", "web").Obj(), blocker, true},
		{"anti-affinity: an unrelated pod", InterPodAffinity{}, anti, tu.Pod("d").Label("app", "db").Obj(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.pl.AssignedPodGoneMayHelp(tc.pod, tc.gone); got != tc.want {
				t.Errorf("AssignedPodGoneMayHelp = %v, want %v", got, tc.want)
			}
		})
	}
}
