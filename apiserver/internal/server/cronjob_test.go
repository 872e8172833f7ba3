package server

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

const cronjobs = "/apis/batch/v1/namespaces/default/cronjobs"

// TestCronJobKind: CronJobs are served as batch/v1 serves them (short name cj, in category
// all, a status subresource), defaulted, validated with Kubernetes' messages (the schedule
// parsed, the zone known, the name short enough for its Jobs), and created and listed by the
// stock kubectl, whose `create cronjob` sends protobuf.
func TestCronJobKind(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)

	if r := discovered(t, c, "/apis/batch/v1", "cronjobs"); r["namespaced"] != true || r["kind"] != "CronJob" ||
		dig(r, "shortNames", 0) != "cj" || dig(r, "categories", 0) != "all" {
		t.Errorf("discovery of cronjobs in batch/v1: %v", r)
	}

	got := c.post(cronjobs, `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"tick"},"spec":{"schedule":"*/5 * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"busybox"}]}}}}}}`).
		must(t, http.StatusCreated).json(t)
	for path, want := range map[string]any{
		"spec.concurrencyPolicy": "Allow", "spec.suspend": false,
		"spec.successfulJobsHistoryLimit": float64(3), "spec.failedJobsHistoryLimit": float64(1),
		"spec.jobTemplate.spec.template.spec.dnsPolicy": "ClusterFirst",
		"metadata.generation":                           float64(1),
	} {
		if g := digPath(got, path); g != want {
			t.Errorf("%s = %#v, want %#v", path, g, want)
		}
	}
	// As kube-apiserver stores it, the template's JobSpec is not defaulted: each Job is.
	if js := dig(got, "spec", "jobTemplate", "spec").(map[string]any); js["parallelism"] != nil || js["backoffLimit"] != nil {
		t.Errorf("jobTemplate.spec defaulted: %v", js)
	}
	if st, ok := got["status"].(map[string]any); !ok || len(st) != 0 {
		t.Errorf("status = %v, want {}", got["status"])
	}

	for _, tc := range []struct{ body, want string }{
		{`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"bad"},"spec":{"schedule":"61 * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}`,
			`CronJob.batch "bad" is invalid: spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`},
		{`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"bad"},"spec":{"schedule":"@daily","timeZone":"Europe/Pariss","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}`,
			`CronJob.batch "bad" is invalid: spec.timeZone: Invalid value: "Europe/Pariss": unknown time zone Europe/Pariss`},
		{`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"bad"},"spec":{"schedule":"CRON_TZ=UTC * * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}`,
			`CronJob.batch "bad" is invalid: spec.schedule: Invalid value: "CRON_TZ=UTC * * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead`},
		{`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"` + strings.Repeat("a", 53) + `"},"spec":{"schedule":"@daily","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}`,
			`metadata.name: Invalid value: "` + strings.Repeat("a", 53) + `": must be no more than 52 characters`},
	} {
		st := c.post(cronjobs, tc.body).must(t, http.StatusUnprocessableEntity).json(t)
		if !strings.Contains(str(st["message"]), tc.want) {
			t.Errorf("message = %q\nwant      %q", st["message"], tc.want)
		}
	}

	// A spec change bumps the generation; the status subresource is the controller's.
	upd := c.do("PATCH", cronjobs+"/tick", "application/merge-patch+json", `{"spec":{"suspend":true}}`).must(t, http.StatusOK).json(t)
	if dig(upd, "metadata", "generation") != float64(2) {
		t.Errorf("generation after a spec change = %v", dig(upd, "metadata", "generation"))
	}
	c.do("PATCH", cronjobs+"/tick/status", "application/merge-patch+json", `{"status":{"lastScheduleTime":"2025-06-01T12:00:00Z","active":[{"kind":"Job","name":"tick-29144160","namespace":"default","apiVersion":"batch/v1"}]}}`).
		must(t, http.StatusOK)

	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	if out := kubectl(t, s, "create", "cronjob", "hello", "--image=busybox", "--schedule=*/1 * * * *", "--", "date"); !strings.Contains(out, "cronjob.batch/hello created") {
		t.Fatalf("kubectl create cronjob: %s", out)
	}
	hello := c.get(cronjobs+"/hello").must(t, http.StatusOK).json(t)
	if dig(hello, "spec", "jobTemplate", "spec", "template", "spec", "restartPolicy") != "OnFailure" ||
		dig(hello, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "command", 0) != "date" ||
		dig(hello, "spec", "jobTemplate", "metadata", "name") != "hello" {
		t.Errorf("stored cronjob spec = %v", hello["spec"])
	}
	out := kubectl(t, s, "get", "cj")
	for _, want := range []string{"NAME    SCHEDULE      TIMEZONE   SUSPEND   ACTIVE   LAST SCHEDULE   AGE", "hello   */1 * * * *   <none>     False     0        <none>", "tick    */5 * * * *   <none>     True      1"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get cj lacks %q:\n%s", want, out)
		}
	}
	if out := kubectl(t, s, "get", "all"); !strings.Contains(out, "cronjob.batch/hello") {
		t.Errorf("kubectl get all lacks the cronjobs:\n%s", out)
	}
}

// discovered is the resource named name in the discovery document at path (nil if absent).
func discovered(t *testing.T, c *apiClient, path, name string) map[string]any {
	t.Helper()
	for _, r := range c.get(path).must(t, http.StatusOK).json(t)["resources"].([]any) {
		if r := r.(map[string]any); r["name"] == name {
			return r
		}
	}
	return nil
}
