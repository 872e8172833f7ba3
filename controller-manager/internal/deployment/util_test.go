package deployment

import (
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func intOrStr(s string) *metav1.IntOrString {
	if n, err := strconv.Atoi(s); err == nil {
		return &metav1.IntOrString{IntVal: int32(n)}
	}
	return &metav1.IntOrString{Type: 1, StrVal: s}
}

// testDeployment is a RollingUpdate deployment app=example running image.
func testDeployment(name string, n int32, surge, unavailable string) *appsv1.Deployment {
	return &appsv1.Deployment{
		Kind: "Deployment", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name, Generation: 1},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(n),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "example"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "example"}},
				Spec:     &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}},
			},
			Strategy: &appsv1.DeploymentStrategy{Type: RollingUpdateStrategy, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: intOrStr(surge), MaxUnavailable: intOrStr(unavailable),
			}},
			RevisionHistoryLimit:    proto.Int32(10),
			ProgressDeadlineSeconds: proto.Int32(600),
		},
		Status: &appsv1.DeploymentStatus{},
	}
}

// testRS is a replica set of spec size n with available pods, created age ago.
func testRS(name string, n, available int32, age time.Duration, annotations ...string) *appsv1.ReplicaSet {
	a := map[string]string{}
	for i := 0; i+1 < len(annotations); i += 2 {
		a[annotations[i]] = annotations[i+1]
	}
	return &appsv1.ReplicaSet{
		Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name,
			CreationTimestamp: controller.NewTime(t0.Add(-age)), Annotations: a},
		Spec:   &appsv1.ReplicaSetSpec{Replicas: proto.Int32(n)},
		Status: &appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: available, AvailableReplicas: available},
	}
}

func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable string
		desired            int32
		wantS, wantU       int32
		wantErr            bool
	}{
		{"25%", "25%", 4, 1, 1, false},
		{"25%", "25%", 3, 1, 0, false}, // surge rounds up, unavailable down
		{"25%", "25%", 1, 1, 0, false},
		{"10%", "10%", 3, 1, 0, false},
		{"30%", "30%", 10, 3, 3, false},
		{"2", "50%", 5, 2, 2, false},
		{"0", "0%", 10, 0, 1, false}, // both 0 cannot progress: one may be unavailable
		{"0%", "0", 0, 0, 1, false},
		{"abc", "1", 3, 0, 0, true},
		{"1", "x%", 3, 0, 0, true},
	} {
		t.Run(tc.surge+"/"+tc.unavailable+"/"+strconv.Itoa(int(tc.desired)), func(t *testing.T) {
			s, u, err := ResolveFenceposts(intOrStr(tc.surge), intOrStr(tc.unavailable), tc.desired)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (s != tc.wantS || u != tc.wantU) {
				t.Errorf("got surge %d unavailable %d, want %d %d", s, u, tc.wantS, tc.wantU)
			}
		})
	}
}

func TestMaxSurgeAndUnavailable(t *testing.T) {
	d := testDeployment("d", 3, "2", "5")
	if got := MaxUnavailable(d); got != 3 {
		t.Errorf("MaxUnavailable capped at replicas: got %d, want 3", got)
	}
	if got := MaxSurge(d); got != 2 {
		t.Errorf("MaxSurge = %d, want 2", got)
	}
	d.Spec.Replicas = proto.Int32(0)
	if got := MaxUnavailable(d); got != 0 {
		t.Errorf("MaxUnavailable of 0 replicas = %d, want 0", got)
	}
	d = testDeployment("d", 3, "2", "1")
	d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: RecreateStrategy}
	if MaxUnavailable(d) != 0 || MaxSurge(d) != 0 {
		t.Errorf("Recreate has no surge nor unavailability")
	}
}

func TestNewRSNewReplicas(t *testing.T) {
	for _, tc := range []struct {
		name                string
		desired, oldN, newN int32
		surge               string
		recreate            bool
		want                int32
	}{
		{"start of rollout surges", 10, 10, 0, "3", false, 3},
		{"no room left", 10, 10, 3, "3", false, 3},
		{"room but capped at desired", 10, 2, 8, "3", false, 10},
		{"percent surge rounds up", 10, 10, 0, "25%", false, 3},
		{"fresh deployment", 3, 0, 0, "25%", false, 3},
		{"recreate takes all", 5, 0, 0, "1", true, 5},
		{"old pods still being deleted hold the surge", 4, -3, 1, "1", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment("d", tc.desired, tc.surge, "0")
			if tc.recreate {
				d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: RecreateStrategy}
			}
			newRS := testRS("new", tc.newN, 0, 0)
			old := testRS("old", tc.oldN, tc.oldN, time.Hour)
			if tc.oldN < 0 { // spec -oldN, but one more pod still exists
				old = testRS("old", -tc.oldN, -tc.oldN, time.Hour)
				old.Status.Replicas++
			}
			all := []*appsv1.ReplicaSet{old, newRS}
			got, err := NewRSNewReplicas(d, all, newRS)
			if err != nil || got != tc.want {
				t.Errorf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestMaxScaledDown(t *testing.T) {
	for _, tc := range []struct {
		name                           string
		desired                        int32
		unavailable                    string
		oldN, oldAvail, newN, newAvail int32
		want                           int32
	}{
		{"new pods not yet available hold the budget", 10, "2", 10, 10, 3, 0, 2},
		{"surplus above min available", 10, "2", 10, 10, 3, 3, 5},
		{"unavailable budget", 10, "20%", 10, 10, 0, 0, 2},
		{"nothing to spare", 4, "0", 4, 4, 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment("d", tc.desired, "3", tc.unavailable)
			newRS := testRS("new", tc.newN, tc.newAvail, 0)
			all := []*appsv1.ReplicaSet{testRS("old", tc.oldN, tc.oldAvail, time.Hour), newRS}
			if got := MaxScaledDown(d, all, newRS); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCleanupUnhealthy(t *testing.T) {
	older := testRS("older", 5, 3, 2*time.Hour)
	newer := testRS("newer", 4, 1, time.Hour)
	healthy := testRS("healthy", 4, 4, 3*time.Hour)
	for _, tc := range []struct {
		name      string
		max       int32
		wantSizes map[string]int32
		wantTotal int32
	}{
		{"oldest unhealthy first, bounded", 1, map[string]int32{"older": 4}, 1},
		{"across replica sets", 4, map[string]int32{"older": 3, "newer": 2}, 4},
		{"never more than unhealthy", 10, map[string]int32{"older": 3, "newer": 1}, 5},
		{"nothing allowed", 0, map[string]int32{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sizes, total := CleanupUnhealthy([]*appsv1.ReplicaSet{newer, healthy, older}, tc.max)
			if total != tc.wantTotal || !equalSizes(sizes, tc.wantSizes) {
				t.Errorf("got %v total %d, want %v total %d", sizes, total, tc.wantSizes, tc.wantTotal)
			}
		})
	}
}

func TestScaleDownOld(t *testing.T) {
	for _, tc := range []struct {
		name      string
		desired   int32
		newAvail  int32
		wantSizes map[string]int32
		wantTotal int32
	}{
		// old a (6) b (4) all available, plus the new replica set's available pods; min
		// available is desired-2.
		{"oldest first", 10, 3, map[string]int32{"a": 1}, 5},
		{"spills into the next", 10, 6, map[string]int32{"a": 0, "b": 2}, 8},
		{"at minimum", 12, 0, map[string]int32{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment("d", tc.desired, "3", "2")
			a, b := testRS("a", 6, 6, 2*time.Hour), testRS("b", 4, 4, time.Hour)
			newRS := testRS("new", tc.newAvail, tc.newAvail, 0)
			sizes, total := ScaleDownOld(d, []*appsv1.ReplicaSet{a, b, newRS}, []*appsv1.ReplicaSet{b, a})
			if total != tc.wantTotal || !equalSizes(sizes, tc.wantSizes) {
				t.Errorf("got %v total %d, want %v total %d", sizes, total, tc.wantSizes, tc.wantTotal)
			}
		})
	}
}

func TestProportionalSizes(t *testing.T) {
	maxAnn := func(n int) []string { return []string{MaxReplicasAnnotation, strconv.Itoa(n)} }
	for _, tc := range []struct {
		name    string
		desired int32
		surge   string
		rss     []*appsv1.ReplicaSet
		want    map[string]int32
	}{
		{"grow 10 to 12 mid-rollout", 12, "3",
			[]*appsv1.ReplicaSet{testRS("old", 8, 8, time.Hour, maxAnn(13)...), testRS("new", 5, 0, 0, maxAnn(13)...)},
			map[string]int32{"old": 9, "new": 6}},
		{"shrink 10 to 5 mid-rollout", 5, "3",
			[]*appsv1.ReplicaSet{testRS("old", 8, 8, time.Hour, maxAnn(13)...), testRS("new", 5, 0, 0, maxAnn(13)...)},
			map[string]int32{"old": 5, "new": 3}},
		{"scale to zero", 0, "3",
			[]*appsv1.ReplicaSet{testRS("old", 8, 8, time.Hour, maxAnn(13)...), testRS("new", 5, 0, 0, maxAnn(13)...)},
			map[string]int32{"old": 0, "new": 0}},
		{"leftover goes to the largest, newest among equals", 20, "0",
			[]*appsv1.ReplicaSet{testRS("a", 3, 3, 2*time.Hour, maxAnn(10)...), testRS("b", 3, 3, time.Hour, maxAnn(10)...), testRS("c", 4, 0, 0, maxAnn(10)...)},
			map[string]int32{"a": 6, "b": 6, "c": 8}},
		{"odd growth, rounding leftover", 11, "0",
			[]*appsv1.ReplicaSet{testRS("a", 5, 5, 2*time.Hour, maxAnn(10)...), testRS("b", 5, 5, time.Hour, maxAnn(10)...)},
			map[string]int32{"a": 5, "b": 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment("d", tc.desired, tc.surge, "1")
			got := ProportionalSizes(d, tc.rss)
			if !equalSizes(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			var sum int32
			for _, n := range got {
				sum += n
			}
			if want := tc.desired + MaxSurge(d); tc.desired > 0 && sum != want {
				t.Errorf("sizes sum to %d, want replicas+maxSurge %d", sum, want)
			}
		})
	}
}

func equalSizes(a, b map[string]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestFindActiveOrLatestAndSaturated(t *testing.T) {
	old1, old2 := testRS("old1", 0, 0, 2*time.Hour), testRS("old2", 0, 0, time.Hour)
	if got := FindActiveOrLatest(nil, []*appsv1.ReplicaSet{old2, old1}); got != old2 {
		t.Errorf("no active: want the newest old one, got %v", got.GetMetadata().GetName())
	}
	newRS := testRS("new", 3, 3, 0, DesiredReplicasAnnotation, "3")
	if got := FindActiveOrLatest(newRS, []*appsv1.ReplicaSet{old1}); got != newRS {
		t.Errorf("one active: want it")
	}
	if got := FindActiveOrLatest(newRS, []*appsv1.ReplicaSet{testRS("o", 1, 1, time.Hour)}); got != nil {
		t.Errorf("two active: want nil")
	}
	d := testDeployment("d", 3, "1", "0")
	if !IsSaturated(d, newRS) {
		t.Errorf("want saturated")
	}
	newRS.Status.AvailableReplicas = 2
	if IsSaturated(d, newRS) {
		t.Errorf("not all available: want unsaturated")
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	d := testDeployment("d", 1, "1", "0")
	rs := NewReplicaSetFor(d)
	if !EqualIgnoreHash(rs.Spec.Template, d.Spec.Template) {
		t.Errorf("a replica set's template with the hash label equals the deployment's")
	}
	d.Spec.Template.Spec.Containers[0].Image = "nginx:1.16.1"
	if EqualIgnoreHash(rs.Spec.Template, d.Spec.Template) {
		t.Errorf("another image is another template")
	}
	if rs.Metadata.Name != "d-"+rs.Spec.Template.Metadata.Labels[controller.DefaultPodTemplateHashLabel] ||
		rs.Spec.Selector.MatchLabels[controller.DefaultPodTemplateHashLabel] == "" || rs.Metadata.Labels["app"] != "example" {
		t.Errorf("replica set naming and labels: %v", rs.Metadata)
	}
}

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := testDeployment("d", 3, "1", "0")
	d.Metadata.Annotations = map[string]string{"team": "web", lastAppliedAnnotation: "{}", RevisionAnnotation: "4"}
	rs := testRS("rs", 0, 0, 0)
	if !SetNewReplicaSetAnnotations(d, rs, 1, false) {
		t.Fatal("want changed")
	}
	a := rs.Metadata.Annotations
	if a["team"] != "web" || a[lastAppliedAnnotation] != "" || a[RevisionAnnotation] != "1" ||
		a[DesiredReplicasAnnotation] != "3" || a[MaxReplicasAnnotation] != "4" || a[RevisionHistoryAnnotation] != "" {
		t.Errorf("annotations of a new replica set: %v", a)
	}
	// A rollback: the replica set of revision 1 becomes new again as revision 3.
	if !SetNewReplicaSetAnnotations(d, rs, 3, true) || a[RevisionAnnotation] != "3" || a[RevisionHistoryAnnotation] != "1" {
		t.Errorf("after rollback: %v", a)
	}
	SetNewReplicaSetAnnotations(d, rs, 5, true)
	if a[RevisionHistoryAnnotation] != "1,3" {
		t.Errorf("history = %q, want 1,3", a[RevisionHistoryAnnotation])
	}
	if SetNewReplicaSetAnnotations(d, rs, 2, true) || a[RevisionAnnotation] != "5" {
		t.Errorf("an older revision never replaces a newer one: %v", a)
	}
}

func TestReplicaSetsToCleanUp(t *testing.T) {
	rev := func(name string, n int32, r string, age time.Duration) *appsv1.ReplicaSet {
		return testRS(name, n, n, age, RevisionAnnotation, r)
	}
	scaling := rev("scaling", 0, "2", 3*time.Hour)
	scaling.Status.Replicas = 1 // pods still going away
	old := []*appsv1.ReplicaSet{rev("r3", 0, "3", time.Hour), rev("r1", 0, "1", 4*time.Hour), scaling, rev("r4", 0, "4", 0)}
	got := ReplicaSetsToCleanUp(old, 1)
	var names []string
	for _, rs := range got {
		names = append(names, rs.Metadata.Name)
	}
	if len(names) != 2 || names[0] != "r1" || names[1] != "r3" {
		t.Errorf("got %v, want [r1 r3] (lowest revisions, skipping one with pods)", names)
	}
	if got := ReplicaSetsToCleanUp(old, 10); got != nil {
		t.Errorf("within the limit: got %v", got)
	}
}

func TestSetCondition(t *testing.T) {
	s := &appsv1.DeploymentStatus{}
	SetCondition(s, NewCondition(ConditionProgressing, "True", ReasonNewReplicaSetCreated, "a", t0))
	SetCondition(s, NewCondition(ConditionProgressing, "True", ReasonReplicaSetUpdated, "b", t0.Add(time.Minute)))
	c := GetCondition(s, ConditionProgressing)
	if c.Reason != ReasonReplicaSetUpdated || controller.TimeOf(c.LastTransitionTime) != t0 || controller.TimeOf(c.LastUpdateTime) != t0.Add(time.Minute) {
		t.Errorf("same status keeps its transition time: %v", c)
	}
	SetCondition(s, NewCondition(ConditionProgressing, "True", ReasonReplicaSetUpdated, "c", t0.Add(2*time.Minute)))
	if c := GetCondition(s, ConditionProgressing); c.Message != "b" {
		t.Errorf("same status and reason is left alone: %v", c)
	}
	SetCondition(s, NewCondition(ConditionProgressing, "False", ReasonProgressDeadlineExceeded, "d", t0.Add(3*time.Minute)))
	if c := GetCondition(s, ConditionProgressing); controller.TimeOf(c.LastTransitionTime) != t0.Add(3*time.Minute) || len(s.Conditions) != 1 {
		t.Errorf("a new status transitions: %v", s.Conditions)
	}
}

func TestRolloutStatus(t *testing.T) {
	progressing := func(reason string, at time.Time) *appsv1.DeploymentStatus {
		return &appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3, ReadyReplicas: 3, ObservedGeneration: 1,
			Conditions: []*appsv1.DeploymentCondition{NewCondition(ConditionProgressing, "True", reason, "x", at)}}
	}
	for _, tc := range []struct {
		name                   string
		status                 *appsv1.DeploymentStatus
		oldN, oldA, newN, newA int32
		now                    time.Time
		wantAvailable          string
		wantReason, wantMsg    string
		wantRequeue            time.Duration // -1: none
	}{
		{"complete", progressing(ReasonReplicaSetUpdated, t0), 0, 0, 3, 3, t0.Add(time.Minute),
			"True", ReasonNewReplicaSetAvailable, `ReplicaSet "new" has successfully progressed.`, -1},
		{"progress refreshes lastUpdateTime", progressing(ReasonNewReplicaSetCreated, t0), 2, 2, 2, 2, t0.Add(time.Minute),
			"True", ReasonReplicaSetUpdated, `ReplicaSet "new" is progressing.`, 10 * time.Minute},
		{"no progress within the deadline", progressing(ReasonReplicaSetUpdated, t0), 3, 3, 1, 0, t0.Add(4 * time.Minute),
			"True", ReasonReplicaSetUpdated, "x", 6 * time.Minute},
		{"no progress past the deadline", progressing(ReasonReplicaSetUpdated, t0), 3, 3, 1, 0, t0.Add(11 * time.Minute),
			"True", ReasonProgressDeadlineExceeded, `ReplicaSet "new" has timed out progressing.`, -1},
		{"below minimum availability", progressing(ReasonReplicaSetUpdated, t0), 3, 1, 1, 0, t0.Add(time.Minute),
			"False", ReasonReplicaSetUpdated, "x", 9 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment("d", 3, "1", "1")
			d.Status = tc.status
			newRS := testRS("new", tc.newN, tc.newA, 0)
			s := RolloutStatus(d, []*appsv1.ReplicaSet{testRS("old", tc.oldN, tc.oldA, time.Hour), newRS}, newRS, tc.now)
			if c := GetCondition(s, ConditionAvailable); c.GetStatus() != tc.wantAvailable {
				t.Errorf("Available = %v, want %s", c, tc.wantAvailable)
			}
			c := GetCondition(s, ConditionProgressing)
			if c.GetReason() != tc.wantReason || c.GetMessage() != tc.wantMsg {
				t.Errorf("Progressing = %s %q, want %s %q", c.GetReason(), c.GetMessage(), tc.wantReason, tc.wantMsg)
			}
			// The requeue is computed from the status as written (the deployment's own).
			d.Status = s
			after, ok := RequeueAfter(d, s, tc.now)
			if !ok {
				after = -1
			}
			if after != tc.wantRequeue {
				t.Errorf("requeue after %v, want %v", after, tc.wantRequeue)
			}
		})
	}
}

func TestCalculateStatusCounts(t *testing.T) {
	d := testDeployment("d", 5, "1", "1")
	newRS := testRS("new", 3, 1, 0)
	newRS.Status.Replicas = 2
	s := CalculateStatus(d, []*appsv1.ReplicaSet{testRS("old", 3, 3, time.Hour), newRS}, newRS, t0)
	if s.Replicas != 5 || s.UpdatedReplicas != 2 || s.AvailableReplicas != 4 || s.ReadyReplicas != 4 || s.UnavailableReplicas != 2 || s.ObservedGeneration != 1 {
		t.Errorf("counts: %v", s)
	}
	if c := GetCondition(s, ConditionAvailable); c.Status != "True" || c.Reason != ReasonMinimumReplicasAvailable || c.Message != MessageMinimumAvailable {
		t.Errorf("Available: %v", c)
	}
}
