package cmd

import (
	"encoding/json"
	"testing"
)

func TestJobBuilders(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  Object
		want string
	}{
		{"job", newJob("pi", "perl", nil),
			`{"apiVersion":"batch/v1","kind":"Job","metadata":{"creationTimestamp":null,"name":"pi"},"spec":{"template":{"metadata":{"creationTimestamp":null},` +
				`"spec":{"containers":[{"image":"perl","name":"pi","resources":{}}],"restartPolicy":"Never"}}},"status":{}}`},
		{"cronjob", newCronJob("tick", "busybox", "*/1 * * * *", "", []string{"echo", "hi"}),
			`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"creationTimestamp":null,"name":"tick"},"spec":{"jobTemplate":{"metadata":{"creationTimestamp":null,"name":"tick"},` +
				`"spec":{"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"command":["echo","hi"],"image":"busybox","name":"tick","resources":{}}],"restartPolicy":"OnFailure"}}}},` +
				`"schedule":"*/1 * * * *"},"status":{}}`},
		{"cronjob --restart=Never", newCronJob("tick", "busybox", "@daily", "Never", nil),
			`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"creationTimestamp":null,"name":"tick"},"spec":{"jobTemplate":{"metadata":{"creationTimestamp":null,"name":"tick"},` +
				`"spec":{"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"image":"busybox","name":"tick","resources":{}}],"restartPolicy":"Never"}}}},` +
				`"schedule":"@daily"},"status":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(mustJSON(tc.obj)); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestJobFromCronJob(t *testing.T) {
	var cj Object
	if err := json.Unmarshal([]byte(`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"weekly","namespace":"default","uid":"u-1","labels":{"cj":"label"}},
		"spec":{"schedule":"@weekly","jobTemplate":{"metadata":{"labels":{"kind":"weekly"},"annotations":{"note":"x","cronjob.kubernetes.io/instantiate":"scheduled"}},
		"spec":{"backoffLimit":2,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"r","image":"busybox"}]}}}}}}`), &cj); err != nil {
		t.Fatal(err)
	}
	before := string(mustJSON(cj))
	got := string(mustJSON(jobFromCronJob("manual", cj)))
	// The template's annotations win over kubectl's own, as upstream copies them after it.
	want := `{"apiVersion":"batch/v1","kind":"Job","metadata":{"annotations":{"cronjob.kubernetes.io/instantiate":"scheduled","note":"x"},"creationTimestamp":null,` +
		`"labels":{"kind":"weekly"},"name":"manual","ownerReferences":[{"apiVersion":"batch/v1","controller":true,"kind":"CronJob","name":"weekly","uid":"u-1"}]},` +
		`"spec":{"backoffLimit":2,"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"image":"busybox","name":"r","resources":{}}],"restartPolicy":"Never"}}},"status":{}}`
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	if after := string(mustJSON(cj)); after != before {
		t.Errorf("the CronJob was changed:\n%s", after)
	}
	// A template without labels gives a Job without them (the apiserver adds its own).
	delete(nestedMap(cj, "spec", "jobTemplate"), "metadata")
	job := jobFromCronJob("bare", cj)
	if _, ok := nestedMap(job, "metadata")["labels"]; ok || nestedString(job, "metadata", "annotations", "cronjob.kubernetes.io/instantiate") != "manual" {
		t.Errorf("bare: %s", mustJSON(job))
	}
}
