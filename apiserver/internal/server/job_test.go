package server

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

const jobs = "/apis/batch/v1/namespaces/default/jobs"

// TestJobKind: Jobs are served as batch/v1 serves them (namespaced, in category all, a
// status subresource), defaulted and given a generated selector on create, validated with
// Kubernetes' messages, and created and listed by the stock kubectl, whose `create job`
// sends protobuf.
func TestJobKind(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)

	if r := discovered(t, c, "/apis/batch/v1", "jobs"); r["namespaced"] != true || r["kind"] != "Job" || dig(r, "categories", 0) != "all" {
		t.Errorf("discovery of jobs in batch/v1: %v", r)
	}

	got := c.post(jobs, `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"pi","image":"perl"}]}}}}`).
		must(t, http.StatusCreated).json(t)
	uid := str(dig(got, "metadata", "uid"))
	for path, want := range map[string]any{
		"spec.parallelism": float64(1), "spec.completions": float64(1), "spec.backoffLimit": float64(6),
		"spec.completionMode": "NonIndexed", "spec.suspend": false,
		"spec.selector.matchLabels.batch\\.kubernetes\\.io/controller-uid": uid,
		"spec.template.metadata.labels.job-name":                           "pi",
		"spec.template.metadata.labels.batch\\.kubernetes\\.io/job-name":   "pi",
		"spec.template.metadata.labels.controller-uid":                     uid,
		"metadata.labels.batch\\.kubernetes\\.io/controller-uid":           uid,
	} {
		if g := digPath(got, path); g != want {
			t.Errorf("%s = %#v, want %#v", path, g, want)
		}
	}

	// A Job's pods must end: restartPolicy defaults to Always, which Kubernetes refuses.
	st := c.post(jobs, `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"bad"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if want := `Job.batch "bad" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`; str(st["message"]) != want {
		t.Errorf("message = %q\nwant      %q", st["message"], want)
	}
	// The template cannot change once the job exists.
	st = c.do("PATCH", jobs+"/pi", "application/merge-patch+json", `{"spec":{"template":{"spec":{"containers":[{"name":"pi","image":"perl:2"}]}}}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "spec.template: Invalid value") || !strings.Contains(str(st["message"]), "field is immutable") {
		t.Errorf("template update: %v", st["message"])
	}

	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	if out := kubectl(t, s, "create", "job", "hello", "--image=busybox", "--", "echo", "hi"); !strings.Contains(out, "job.batch/hello created") {
		t.Fatalf("kubectl create job: %s", out)
	}
	hello := c.get(jobs+"/hello").must(t, http.StatusOK).json(t)
	if dig(hello, "spec", "template", "spec", "restartPolicy") != "Never" || dig(hello, "spec", "template", "spec", "containers", 0, "command", 1) != "hi" {
		t.Errorf("stored job spec = %v", hello["spec"])
	}
	c.put(jobs+"/hello/status", `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"hello"},"status":{"succeeded":1,"startTime":"2025-06-01T12:00:00Z","completionTime":"2025-06-01T12:00:07Z","conditions":[{"type":"Complete","status":"True"}]}}`).
		must(t, http.StatusOK)
	out := kubectl(t, s, "get", "jobs")
	for _, want := range []string{"NAME    STATUS     COMPLETIONS   DURATION   AGE", "hello   Complete   1/1           7s", "pi      Running    0/1"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get jobs lacks %q:\n%s", want, out)
		}
	}
	if out := kubectl(t, s, "get", "all"); !strings.Contains(out, "job.batch/hello") {
		t.Errorf("kubectl get all lacks the jobs:\n%s", out)
	}
}

// digPath digs a dot-separated path; "\." is a dot inside a key (a label's prefix).
func digPath(obj map[string]any, path string) any {
	var keys []any
	for _, k := range strings.Split(strings.ReplaceAll(path, `\.`, "\x00"), ".") {
		keys = append(keys, strings.ReplaceAll(k, "\x00", "."))
	}
	return dig(obj, keys...)
}
