package queue

import (
	"slices"
	"testing"

	tu "kubelab.io/scheduler/internal/testutil"
)

func nominatedTo(q *Queue, node string) []string {
	var out []string
	for _, pi := range q.NominatedPodsForNode(node) {
		out = append(out, pi.Pod.GetMetadata().GetName())
	}
	slices.Sort(out)
	return out
}

func TestNominator(t *testing.T) {
	steps := []struct {
		name string
		do   func(q *Queue)
		want map[string][]string // node → nominated pods
	}{
		{"a pod added with status.nominatedNodeName is nominated",
			func(q *Queue) { q.Add(tu.Pod("a").NominatedNodeName("n1").Obj()) },
			map[string][]string{"n1": {"a"}}},
		{"the scheduler nominates ahead of the API",
			func(q *Queue) { q.Add(tu.Pod("b").Obj()); q.AddNominatedPod(tu.Pod("b").Obj(), "n1") },
			map[string][]string{"n1": {"a", "b"}}},
		{"an update that predates the status write keeps the nomination",
			func(q *Queue) { q.Update(tu.Pod("b").Obj(), tu.Pod("b").Toleration("k", "Exists", "", "").Obj()) },
			map[string][]string{"n1": {"a", "b"}}},
		{"an update that sets another node moves it",
			func(q *Queue) { q.Update(tu.Pod("b").Obj(), tu.Pod("b").NominatedNodeName("n2").Obj()) },
			map[string][]string{"n1": {"a"}, "n2": {"b"}}},
		{"an update that clears it clears it",
			func(q *Queue) {
				q.Update(tu.Pod("a").NominatedNodeName("n1").Obj(), tu.Pod("a").Obj())
			},
			map[string][]string{"n1": nil, "n2": {"b"}}},
		{"nominating to \"\" clears",
			func(q *Queue) { q.AddNominatedPod(tu.Pod("b").Obj(), "") },
			map[string][]string{"n2": nil}},
		{"assumed or deleted pods lose their nomination",
			func(q *Queue) {
				q.AddNominatedPod(tu.Pod("c").Obj(), "n3")
				q.AddNominatedPod(tu.Pod("d").Obj(), "n3")
				q.DeleteNominatedPodIfExists(tu.Pod("c").Obj())
				q.Delete(tu.Pod("d").Obj())
			},
			map[string][]string{"n3": nil}},
		{"a bound pod is never nominated",
			func(q *Queue) { q.AddNominatedPod(tu.Pod("e").NodeName("n4").Obj(), "n4") },
			map[string][]string{"n4": nil}},
	}
	q, _ := newQueue()
	for _, st := range steps {
		st.do(q)
		for node, want := range st.want {
			if got := nominatedTo(q, node); !slices.Equal(got, want) {
				t.Fatalf("%s: nominated to %s: %v, want %v", st.name, node, got, want)
			}
		}
	}
	if got := q.NominatedNodeName(tu.Pod("b").Obj()); got != "" {
		t.Errorf("b nominated to %q", got)
	}
}
