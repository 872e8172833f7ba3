package server

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

const (
	daemonsets          = "/apis/apps/v1/namespaces/default/daemonsets"
	controllerrevisions = "/apis/apps/v1/namespaces/default/controllerrevisions"
)

// TestDaemonSetKind: DaemonSets and ControllerRevisions are served as apps/v1 serves them:
// defaults and validation with Kubernetes' messages, a status subresource for the
// DaemonSet, a ControllerRevision's data kept as the JSON it was written with and immutable,
// and the stock kubectl's columns for both.
func TestDaemonSetKind(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)

	if r := discovered(t, c, "/apis/apps/v1", "daemonsets"); r["namespaced"] != true || r["kind"] != "DaemonSet" ||
		dig(r, "shortNames", 0) != "ds" || dig(r, "categories", 0) != "all" {
		t.Errorf("discovery of daemonsets in apps/v1: %v", r)
	}
	if r := discovered(t, c, "/apis/apps/v1", "controllerrevisions"); r["namespaced"] != true || r["kind"] != "ControllerRevision" {
		t.Errorf("discovery of controllerrevisions in apps/v1: %v", r)
	}

	got := c.post(daemonsets, `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent"},"spec":{"selector":{"matchLabels":{"app":"agent"}},"template":{"metadata":{"labels":{"app":"agent"}},"spec":{"nodeSelector":{"disk":"ssd"},"containers":[{"name":"agent","image":"nginx"}]}}}}`).
		must(t, http.StatusCreated).json(t)
	for path, want := range map[string]any{
		"spec.updateStrategy.type":                         "RollingUpdate",
		"spec.updateStrategy.rollingUpdate.maxUnavailable": float64(1),
		"spec.updateStrategy.rollingUpdate.maxSurge":       float64(0),
		"spec.revisionHistoryLimit":                        float64(10),
		"spec.template.spec.restartPolicy":                 "Always",
		"status.currentNumberScheduled":                    float64(0),
		"status.numberMisscheduled":                        float64(0),
		"status.desiredNumberScheduled":                    float64(0),
		"status.numberReady":                               float64(0),
		"metadata.generation":                              float64(1),
	} {
		if g := digPath(got, path); g != want {
			t.Errorf("%s = %#v, want %#v", path, g, want)
		}
	}

	for _, tc := range []struct{ body, want string }{
		{`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"bad"},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"y"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`,
			"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`"},
		{`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"bad"},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"nginx"}]}}}}`,
			`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`},
	} {
		st := c.post(daemonsets, tc.body).must(t, http.StatusUnprocessableEntity).json(t)
		if !strings.Contains(str(st["message"]), tc.want) {
			t.Errorf("message = %q\nwant      %q", st["message"], tc.want)
		}
	}
	st := c.do("PATCH", daemonsets+"/agent", "application/merge-patch+json", `{"spec":{"selector":{"matchLabels":{"tier":"x"}},"template":{"metadata":{"labels":{"tier":"x"}}}}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "spec.selector: Invalid value") || !strings.Contains(str(st["message"]), "field is immutable") {
		t.Errorf("selector update: %v", st["message"])
	}
	c.do("PATCH", daemonsets+"/agent/status", "application/merge-patch+json", `{"status":{"desiredNumberScheduled":3,"currentNumberScheduled":3,"numberReady":2,"updatedNumberScheduled":3,"numberAvailable":2}}`).
		must(t, http.StatusOK)

	// The revision's data comes back as the JSON object it was written as, keys in order.
	cr := c.post(controllerrevisions, `{"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"agent-5d4b9c","ownerReferences":[{"apiVersion":"apps/v1","kind":"DaemonSet","name":"agent","uid":"`+
		str(dig(got, "metadata", "uid"))+`","controller":true}]},"data":{"spec":{"template":{"spec":{"containers":[{"name":"agent","image":"nginx"}]},"$patch":"replace"}}},"revision":1}`).
		must(t, http.StatusCreated)
	if body := string(cr.body); !strings.Contains(body, `"data":{"spec":{"template":{"spec":{"containers":[{"name":"agent","image":"nginx"}]},"$patch":"replace"}}},"revision":1`) {
		t.Errorf("controllerrevision = %s", body)
	}
	st = c.do("PATCH", controllerrevisions+"/agent-5d4b9c", "application/merge-patch+json", `{"data":{"other":1}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "data: Invalid value") || !strings.Contains(str(st["message"]), "field is immutable") {
		t.Errorf("data update: %v", st["message"])
	}
	c.do("PATCH", controllerrevisions+"/agent-5d4b9c", "application/merge-patch+json", `{"revision":3}`).must(t, http.StatusOK)
	st = c.post(controllerrevisions, `{"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"empty"},"revision":1}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if want := `ControllerRevision.apps "empty" is invalid: data: Required value: data is mandatory`; str(st["message"]) != want {
		t.Errorf("message = %q\nwant      %q", st["message"], want)
	}

	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	out := kubectl(t, s, "get", "ds")
	for _, want := range []string{"NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE", "agent   3         3         2       3            2           disk=ssd"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get ds lacks %q:\n%s", want, out)
		}
	}
	out = kubectl(t, s, "get", "controllerrevisions")
	for _, want := range []string{"NAME           CONTROLLER             REVISION   AGE", "agent-5d4b9c   daemonset.apps/agent   3 "} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get controllerrevisions lacks %q:\n%s", want, out)
		}
	}
	if out := kubectl(t, s, "get", "all"); !strings.Contains(out, "daemonset.apps/agent") {
		t.Errorf("kubectl get all lacks the daemonset:\n%s", out)
	}
}
