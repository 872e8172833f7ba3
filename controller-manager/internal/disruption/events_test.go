package disruption

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controllertest"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/disruption"
	"kubelab.io/proto/runtime"
)

// TestSyncEvents runs sync over a fake cluster and compares the Events it records with
// upstream's for the same situation.
func TestSyncEvents(t *testing.T) {
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	budget := func(spec *policyv1.PodDisruptionBudgetSpec, disrupted map[string]*metav1.Time) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{Metadata: &metav1.ObjectMeta{Name: "b", Namespace: "default", Generation: 1}, Spec: spec,
			Status: &policyv1.PodDisruptionBudgetStatus{DisruptedPods: disrupted}}
	}
	labelled := func(ps []*corev1.Pod) []*corev1.Pod {
		for _, p := range ps {
			p.Metadata.Labels = map[string]string{"app": "web"}
		}
		return ps
	}
	ownedBy := func(kind string, ps []*corev1.Pod) []*corev1.Pod {
		for _, p := range ps {
			p.Metadata.OwnerReferences[0].Kind = kind
		}
		return ps
	}
	rs := &appsv1.ReplicaSet{Metadata: &metav1.ObjectMeta{Name: "rs", Namespace: "default", Uid: "rs-uid"},
		Spec: &appsv1.ReplicaSetSpec{Replicas: proto.Int32(3)}}
	cases := []struct {
		name      string
		pdb       *policyv1.PodDisruptionBudget
		pods      []*corev1.Pod
		want      []controllertest.Event
		wantError bool
	}{
		{name: "a healthy budget records nothing",
			pdb:  budget(&policyv1.PodDisruptionBudgetSpec{MaxUnavailable: num(1), Selector: web}, nil),
			pods: labelled(pods(3, nil))},
		{name: "no pod matches",
			pdb: budget(&policyv1.PodDisruptionBudgetSpec{MinAvailable: num(1), Selector: web}, nil),
			want: []controllertest.Event{{Object: "default/b", Type: "Normal", Reason: ReasonNoPods,
				Message: "No matching pods found"}}},
		{name: "an invalid selector",
			pdb: budget(&policyv1.PodDisruptionBudgetSpec{MinAvailable: num(1), Selector: &metav1.LabelSelector{
				MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "Sometimes"}}}}, nil),
			want: []controllertest.Event{{Object: "default/b", Type: "Warning", Reason: ReasonNoPods,
				Message: `Failed to get pods: "Sometimes" is not a valid label selector operator`}},
			wantError: true},
		{name: "a controller that has no scale here",
			pdb:  budget(&policyv1.PodDisruptionBudgetSpec{MaxUnavailable: num(1), Selector: web}, nil),
			pods: ownedBy("StatefulSet", labelled(pods(1, nil))),
			want: []controllertest.Event{{Object: "default/b", Type: "Warning", Reason: ReasonCalculateExpectedPodCountFailed,
				Message: `Failed to calculate the number of expected pods: found no controllers for pod "p0"`}},
			wantError: true},
		{name: "pods without a controller, counted by scale",
			pdb:  budget(&policyv1.PodDisruptionBudgetSpec{MaxUnavailable: num(1), Selector: web}, nil),
			pods: labelled(pods(2, map[int][]podOpt{1: {orphan}})),
			want: []controllertest.Event{{Object: "default/b", Type: "Warning", Reason: ReasonUnmanagedPods,
				Message: `Pods selected by this PodDisruptionBudget (selector: app=web) were found to be unmanaged. ` +
					`As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. ` +
					`To account for these pods please set ".spec.minAvailable" field of the PDB to an integer value.`}}},
		{name: "an eviction that never happened",
			pdb: budget(&policyv1.PodDisruptionBudgetSpec{MinAvailable: num(1), Selector: web},
				map[string]*metav1.Time{"p0": at(now.Add(-disruption.DeletionTimeout - time.Second)), "p1": at(now)}),
			pods: labelled(pods(3, nil)),
			want: []controllertest.Event{{Object: "default/p0", Type: "Warning", Reason: ReasonNotDeleted,
				Message: "Pod was expected by PDB default/b to be deleted but it wasn't"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.pdb, rs}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			f := controllertest.NewFake(t, objs...)
			rec := &controllertest.Recorder{}
			c, err := NewController(Config{Client: f.Client, PDB: f.Informers.PodDisruptionBudgets().Informer(),
				Pod: f.Informers.Pods().Informer(), ReplicaSet: f.Informers.ReplicaSets().Informer(),
				Deployment: f.Informers.Deployments().Informer(), Recorder: rec,
				Log: slog.New(slog.DiscardHandler), Clock: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			f.Start(t, c.synced...)
			err = c.sync(f.Ctx, "default/b")
			if (err != nil) != tc.wantError {
				t.Fatalf("sync: %v", err)
			}
			got := rec.Take()
			if !slices.Equal(got, tc.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
