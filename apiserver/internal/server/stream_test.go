package server

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"kubelab.io/proto/upgradeproxy/upgradeproxytest"
)

// TestPodAttach: pods/attach is pods/exec without a command, with the same checks and
// authorization (create on pods/attach), proxied to the kubelet's /attach.
func TestPodAttach(t *testing.T) {
	s, c, ek := execServer(t)
	t.Run("stream", func(t *testing.T) {
		checkStreamed(t, c, ek, pods+"/web/attach?stdin=true&stdout=true&tty=true",
			"POST /attach/default/web/nginx?input=1&output=1&tty=1 "+upgradeproxytest.Protocol)
	})
	t.Run("errors", func(t *testing.T) {
		checkStreamErrors(t, c, []streamError{
			{"web/attach?stdout=true&container=nope", "BadRequest", "container nope is not valid for pod web", 400},
			{"two/attach?stdout=true", "BadRequest", "a container name must be specified for pod two, choose one of: [a b]", 400},
			{"pending/attach?stdout=true", "BadRequest", "pod pending does not have a host assigned", 400},
			{"done/attach?stdout=true", "BadRequest", "cannot attach a container in a completed pod; current phase is Succeeded", 400},
			{"nope/attach?stdout=true", "NotFound", `pods "nope" not found`, 404},
			{"web/attach", "BadRequest", "you must specify at least 1 of stdin, stdout, stderr", 400},
			{"web/attach?stdin=sure", "BadRequest", `stdin must be a boolean, got "sure"`, 400},
		})
	})
	t.Run("discovery", func(t *testing.T) { checkDiscovered(t, c, "pods/attach", "PodAttachOptions") })
	t.Run("authorization", func(t *testing.T) {
		checkStreamAuthorization(t, s, c, "attach", pods+"/web/attach?stdout=true")
	})
}

// TestPodPortForward: pods/portforward needs create on pods/portforward and a pod on a
// node, and goes to the kubelet's /portForward for the pod (no container), the ports a
// websocket client names passed on in upstream's form.
func TestPodPortForward(t *testing.T) {
	s, c, ek := execServer(t)
	t.Run("stream", func(t *testing.T) {
		checkStreamed(t, c, ek, pods+"/web/portforward", "POST /portForward/default/web "+upgradeproxytest.Protocol)
		checkStreamed(t, c, ek, pods+"/two/portforward?ports=80&ports=8080", "POST /portForward/default/two?port=80%2C8080 "+upgradeproxytest.Protocol)
	})
	t.Run("refused websocket comes back", func(t *testing.T) { checkRefusedWebsocket(t, c, pods+"/web/portforward?ports=80") })

	t.Run("errors", func(t *testing.T) {
		checkStreamErrors(t, c, []streamError{
			{"pending/portforward", "BadRequest", "pod pending does not have a host assigned", 400},
			{"done/portforward", "BadRequest", "unable to forward port because pod is not running. Current status=Succeeded", 400},
			{"nope/portforward", "NotFound", `pods "nope" not found`, 404},
			{"web/portforward?ports=http", "BadRequest", `ports must be port numbers between 1 and 65535, got "http"`, 400},
			{"web/portforward?ports=0", "BadRequest", `got "0"`, 400},
		})
		m := c.post(pods+"/web/portforward", "").must(t, http.StatusBadRequest).json(t)
		if str(m["message"]) != "Upgrade request required" {
			t.Errorf("plain POST: %q", m["message"])
		}
	})
	t.Run("discovery", func(t *testing.T) { checkDiscovered(t, c, "pods/portforward", "PodPortForwardOptions") })
	t.Run("authorization", func(t *testing.T) {
		checkStreamAuthorization(t, s, c, "portforward", pods+"/web/portforward")
	})
}

// TestPodPortForwardKubectl: the stock kubectl's port-forward offers its websocket tunnel
// first; the apiserver asks the kubelet for SPDY, which this kubelet refuses, and hands the
// refusal back before any upgrade, so kubectl falls back to SPDY (refused too here) and
// reports the reason instead of hanging.
func TestPodPortForwardKubectl(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s, c, ek := execServer(t)
	// kubectl port-forward refuses a pod that does not say it is running.
	c.do("PATCH", pods+"/web/status", "application/merge-patch+json", `{"status":{"phase":"Running"}}`).must(t, http.StatusOK)
	out, err := kubectlErr(t, s, "port-forward", "pod/web", "0:80")
	if err == nil || !strings.Contains(out, "requested protocol(s) are not supported") {
		t.Errorf("kubectl port-forward web: %v %s", err, out)
	}
	got := ek.got()
	if len(got) != 2 || got[0] != "POST /portForward/default/web SPDY/3.1" || got[1] != "POST /portForward/default/web SPDY/3.1" {
		t.Errorf("kubelet got %q, want the tunnel's SPDY POST, then the fallback's", got)
	}
	checkPortForwardUpgrades(t, c, map[string]int{`code="403",verb="get"`: 1, `code="403",verb="create"`: 1})
}
