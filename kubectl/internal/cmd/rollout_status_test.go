package cmd

import (
	"encoding/json"
	"testing"
)

func TestStatefulSetStatus(t *testing.T) {
	sts := func(spec, status string) Object {
		var o Object
		if err := json.Unmarshal([]byte(`{"metadata":{"name":"web","generation":2},"spec":`+spec+`,"status":`+status+`}`), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	rolling := `{"replicas":3,"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":1}}}`
	unset := `{"replicas":3,"updateStrategy":{"type":"RollingUpdate"}}`
	for _, tc := range []struct {
		name, spec, status, want string
		done                     bool
		err                      bool
	}{
		{"on delete", `{"updateStrategy":{"type":"OnDelete"}}`, `{}`, "", true, true},
		{"never observed", rolling, `{}`, "Waiting for statefulset spec update to be observed...\n", false, false},
		{"old generation", rolling, `{"observedGeneration":1}`, "Waiting for statefulset spec update to be observed...\n", false, false},
		{"not ready", rolling, `{"observedGeneration":2,"readyReplicas":1}`, "Waiting for 2 pods to be ready...\n", false, false},
		{"partition pending", rolling, `{"observedGeneration":2,"readyReplicas":3,"updatedReplicas":1}`,
			"Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...\n", false, false},
		{"partition done", rolling, `{"observedGeneration":2,"readyReplicas":3,"updatedReplicas":2}`,
			"partitioned roll out complete: 2 new pods have been updated...\n", true, false},
		{"revision pending", unset, `{"observedGeneration":2,"readyReplicas":3,"updatedReplicas":1,"currentRevision":"web-a","updateRevision":"web-b"}`,
			"waiting for statefulset rolling update to complete 1 pods at revision web-b...\n", false, false},
		{"revision done", unset, `{"observedGeneration":2,"readyReplicas":3,"currentReplicas":3,"currentRevision":"web-b","updateRevision":"web-b"}`,
			"statefulset rolling update complete 3 pods at revision web-b...\n", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, done, err := statefulSetStatus(sts(tc.spec, tc.status))
			if msg != tc.want || done != tc.done || (err != nil) != tc.err {
				t.Errorf("got %q %v %v, want %q %v error=%v", msg, done, err, tc.want, tc.done, tc.err)
			}
		})
	}
}
