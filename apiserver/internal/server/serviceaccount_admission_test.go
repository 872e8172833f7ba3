package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestServiceAccountAdmission: with every default plugin on, a pod needs its service
// account (403, in Kubernetes' words, until it exists) and gets its token volume mounted
// where client libraries look; automountServiceAccountToken false on the account keeps it out.
func TestServiceAccountAdmission(t *testing.T) {
	s := configuredServer(t, func(c *Config) { c.DisableAdmissionPlugins = nil })
	c := adminClient(t, s)
	const pods = "/api/v1/namespaces/default/pods"
	const accounts = "/api/v1/namespaces/default/serviceaccounts"

	r := c.post(pods, podJSON("early", "")).must(t, http.StatusForbidden).json(t)
	want := `pods "early" is forbidden: error looking up service account default/default: serviceaccount "default" not found`
	if got := str(r["message"]); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if got := c.get(pods + "/early").code; got != http.StatusNotFound {
		t.Errorf("a refused pod was stored: GET answered %d", got)
	}

	c.post(accounts, `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}`).must(t, http.StatusCreated)
	pod := c.post(pods, podJSON("web", "")).must(t, http.StatusCreated).json(t)
	if got := str(dig(pod, "spec", "serviceAccountName")); got != "default" {
		t.Errorf("serviceAccountName = %q, want default", got)
	}
	vol := str(dig(pod, "spec", "volumes", 0, "name"))
	if !strings.HasPrefix(vol, "kube-api-access-") || len(vol) != len("kube-api-access-")+5 {
		t.Errorf("volume name = %q, want kube-api-access-XXXXX", vol)
	}
	sources := dig(pod, "spec", "volumes", 0, "projected", "sources")
	if got := dig(sources, 0, "serviceAccountToken", "expirationSeconds"); got != float64(3607) {
		t.Errorf("token expirationSeconds = %v, want 3607", got)
	}
	if got := str(dig(sources, 1, "configMap", "name")); got != "kube-root-ca.crt" {
		t.Errorf("second source = %v, want the kube-root-ca.crt ConfigMap", dig(sources, 1))
	}
	if got := str(dig(sources, 2, "downwardAPI", "items", 0, "fieldRef", "fieldPath")); got != "metadata.namespace" {
		t.Errorf("third source = %v, want the namespace", dig(sources, 2))
	}
	mount := dig(pod, "spec", "containers", 0, "volumeMounts", 0)
	if str(dig(mount, "name")) != vol || str(dig(mount, "mountPath")) != "/var/run/secrets/kubernetes.io/serviceaccount" || dig(mount, "readOnly") != true {
		t.Errorf("container mount = %v", mount)
	}

	c.post(accounts, `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"quiet"},"automountServiceAccountToken":false}`).must(t, http.StatusCreated)
	quiet := c.post(pods, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"quiet"},"spec":{"serviceAccountName":"quiet","containers":[{"name":"c","image":"nginx:1.14.2"}]}}`).
		must(t, http.StatusCreated).json(t)
	if v := dig(quiet, "spec", "volumes"); v != nil {
		t.Errorf("a pod of an account that opts out got volumes %v", v)
	}

	// What the stock kubectl prints for get sa: kubectl's columns, no token secrets.
	out := kubectl(t, s, "get", "serviceaccounts")
	if lines := strings.Fields(strings.SplitN(out, "\n", 2)[0]); strings.Join(lines, " ") != "NAME SECRETS AGE" {
		t.Errorf("kubectl get sa header = %q", lines)
	}
	if !strings.Contains(out, "quiet     0 ") {
		t.Errorf("kubectl get sa:\n%s", out)
	}
}
