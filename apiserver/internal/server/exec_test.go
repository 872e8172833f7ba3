package server

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"kubelab.io/apiserver/internal/pki"
	"kubelab.io/proto/upgradeproxy/upgradeproxytest"
)

// execKubelet is a kubelet whose streaming endpoints (/exec, /attach, /portForward) speak
// upgradeproxytest's echo protocol (and refuse any other, as containerd's streaming server
// refuses a websocket v5.channel.k8s.io).
// Only the apiserver's kubelet client certificate gets in. It records what it was asked.
type execKubelet struct {
	echo upgradeproxytest.Echo
	port int

	mu       sync.Mutex
	requests []string // "METHOD path?query Upgrade"
}

func newExecKubelet(t *testing.T, s *Server) *execKubelet {
	t.Helper()
	ek := &execKubelet{}
	_, ek.port = startKubeletTLS(t, http.HandlerFunc(ek.serve), servingCert(t, s), s)
	return ek
}

func (ek *execKubelet) serve(w http.ResponseWriter, r *http.Request) {
	if user := r.TLS.VerifiedChains[0][0].Subject.CommonName; user != pki.KubeletClientCommonName {
		http.Error(w, "Forbidden (user="+user+", verb=create, resource=nodes, subresource=proxy)", http.StatusForbidden)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/exec/") && !strings.HasPrefix(r.URL.Path, "/attach/") && !strings.HasPrefix(r.URL.Path, "/portForward/") {
		http.NotFound(w, r)
		return
	}
	ek.mu.Lock()
	ek.requests = append(ek.requests, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Upgrade"))
	ek.mu.Unlock()
	ek.echo.ServeHTTP(w, r)
}

func (ek *execKubelet) got() []string {
	ek.mu.Lock()
	defer ek.mu.Unlock()
	return append([]string(nil), ek.requests...)
}

// execServer is logServer's cluster with an exec-speaking kubelet on node-1 and a
// completed pod "done" there.
func execServer(t *testing.T) (*Server, *apiClient, *execKubelet) {
	t.Helper()
	s := testServer(t)
	c := adminClient(t, s)
	ek := newExecKubelet(t, s)
	registerNode(t, c, "node-1", ek.port)
	createPod(t, c, "web", "node-1", "nginx")
	createPod(t, c, "two", "node-1", "a", "b")
	createPod(t, c, "pending", "", "nginx")
	createPod(t, c, "done", "node-1", "nginx")
	c.do("PATCH", pods+"/done/status", "application/merge-patch+json", `{"status":{"phase":"Succeeded"}}`).must(t, http.StatusOK)
	return s, c, ek
}

// dialExec sends an exec upgrade request as c's user straight over TLS.
func dialExec(t *testing.T, c *apiClient, method, path, protocol string) *upgradeproxytest.Conn {
	t.Helper()
	tlsCfg := c.http.Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsCfg.NextProtos = []string{"http/1.1"} // a protocol switch has no HTTP/2 form
	return upgradeproxytest.Dial(t, strings.TrimPrefix(c.base, "https://"), upgradeproxytest.Request{
		Method: method, Path: path, Protocol: protocol, TLS: tlsCfg,
		Header: http.Header{"X-Stream-Protocol-Version": {"v4.channel.k8s.io"}},
	})
}

func TestPodExec(t *testing.T) {
	s, c, ek := execServer(t)

	t.Run("stream", func(t *testing.T) {
		checkStreamed(t, c, ek, pods+"/web/exec?command=cat&command=/etc/hostname&stdin=true&stdout=true&stderr=true",
			"POST /exec/default/web/nginx?command=cat&command=%2Fetc%2Fhostname&error=1&input=1&output=1 "+upgradeproxytest.Protocol)
	})

	t.Run("refused websocket comes back", func(t *testing.T) { checkRefusedWebsocket(t, c, pods+"/web/exec?command=true&stdout=true") })

	t.Run("errors", func(t *testing.T) {
		checkStreamErrors(t, c, []streamError{
			{"web/exec?command=true&stdout=true&container=nope", "BadRequest", "container nope is not valid for pod web", 400},
			{"two/exec?command=true&stdout=true", "BadRequest", "a container name must be specified for pod two, choose one of: [a b]", 400},
			{"pending/exec?command=true&stdout=true", "BadRequest", "pod pending does not have a host assigned", 400},
			{"done/exec?command=true&stdout=true", "BadRequest", "cannot exec into a container in a completed pod; current phase is Succeeded", 400},
			{"nope/exec?command=true&stdout=true", "NotFound", `pods "nope" not found`, 404},
			{"web/exec?stdout=true", "BadRequest", "you must specify at least one command for the container", 400},
			{"web/exec?command=true", "BadRequest", "you must specify at least 1 of stdin, stdout, stderr", 400},
			{"web/exec?command=true&stdout=maybe", "BadRequest", `stdout must be a boolean, got "maybe"`, 400},
		})
		m := c.post(pods+"/web/exec?command=true&stdout=true", "").must(t, http.StatusBadRequest).json(t)
		if str(m["message"]) != "Upgrade request required" {
			t.Errorf("plain POST: %q", m["message"])
		}
	})

	t.Run("discovery", func(t *testing.T) { checkDiscovered(t, c, "pods/exec", "PodExecOptions") })

	t.Run("authorization", func(t *testing.T) {
		checkStreamAuthorization(t, s, c, "exec", pods+"/web/exec?command=true&stdout=true")
	})
}

// grantStream binds user to a new Role in default allowing verbs on resource.
func grantStream(t *testing.T, c *apiClient, name, user, resource, verbs string) {
	t.Helper()
	c.post(rbacAPI+"/namespaces/default/roles", fmt.Sprintf(`{"kind":"Role","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":%q,"namespace":"default"},
"rules":[{"apiGroups":[""],"resources":[%q],"verbs":[%s]}]}`, name, resource, verbs)).must(t, http.StatusCreated)
	c.post(rbacAPI+"/namespaces/default/rolebindings", fmt.Sprintf(`{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":%q},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":%q},
"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":%q}]}`, name, name, user)).must(t, http.StatusCreated)
}

// TestPodExecKubectl: the stock kubectl offers a websocket v5 first; the apiserver
// accepts it and translates the session to SPDY, which this kubelet refuses: kubectl
// reports the kubelet's reason, on the websocket's error channel, instead of hanging. The
// apiserver's own refusals reach it as well.
func TestPodExecKubectl(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s, _, ek := execServer(t)
	out, err := kubectlErr(t, s, "exec", "web", "--", "cat", "/etc/hostname")
	if err == nil || !strings.Contains(out, "requested protocol(s) are not supported") {
		t.Errorf("kubectl exec web: %v %s", err, out)
	}
	got := ek.got()
	if len(got) != 1 || !strings.HasPrefix(got[0], "POST ") || !strings.HasSuffix(got[0], " SPDY/3.1") {
		t.Errorf("kubelet got %q, want the translated SPDY POST only", got)
	}
	if !strings.Contains(got[0], "/exec/default/web/nginx?command=cat&command=%2Fetc%2Fhostname&error=1&output=1") {
		t.Errorf("kubelet URL %q", got[0])
	}
	out, err = kubectlErr(t, s, "exec", "pending", "--", "true")
	if err == nil || !strings.Contains(out, "pod pending does not have a host assigned") {
		t.Errorf("kubectl exec pending: %v %s", err, out)
	}
}

// checkStreamAuthorization: a user needs create on pods/{subresource} to open a stream at
// path, with a websocket's GET as with SPDY's POST; get alone opens none, as Kubernetes
// 1.35 checks.
func checkStreamAuthorization(t *testing.T, s *Server, c *apiClient, subresource, path string) {
	t.Helper()
	alice := userClient(t, s, "alice")
	forbidden := func(method, verb string) {
		t.Helper()
		conn := dialExec(t, alice, method, path, upgradeproxytest.Protocol)
		m := response{code: conn.Resp.StatusCode, body: []byte(conn.Body(t))}.must(t, http.StatusForbidden).json(t)
		want := fmt.Sprintf(`pods "web" is forbidden: User "alice" cannot %s resource "pods/%s" in API group "" in the namespace "default"`, verb, subresource)
		if str(m["message"]) != want {
			t.Errorf("%s: message %q, want %q", method, m["message"], want)
		}
	}
	forbidden("POST", "create")
	forbidden("GET", "get")

	grantStream(t, c, subresource+"-getter", "alice", "pods/"+subresource, `"get"`)
	eventually(t, "alice's get on pods/"+subresource+" to take effect", func() bool {
		return strings.Contains(dialExec(t, alice, "GET", path, upgradeproxytest.Protocol).Body(t), "cannot create")
	})
	forbidden("GET", "create")
	forbidden("POST", "create")

	grantStream(t, c, subresource+"-creator", "alice", "pods/"+subresource, `"create"`)
	eventually(t, "alice to open a stream", func() bool {
		return dialExec(t, alice, "POST", path, upgradeproxytest.Protocol).Resp.StatusCode == http.StatusSwitchingProtocols
	})
	if conn := dialExec(t, alice, "GET", path, upgradeproxytest.Protocol); conn.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("GET with get and create: %d %s", conn.Resp.StatusCode, conn.Body(t))
	}
}

// streamError is a streaming request (a path below pods) and the Status it must get.
type streamError struct {
	path, reason, message string
	code                  int
}

// checkStreamErrors sends each request as a SPDY upgrade and checks its Status.
func checkStreamErrors(t *testing.T, c *apiClient, cases []streamError) {
	t.Helper()
	for _, tc := range cases {
		conn := dialExec(t, c, "POST", pods+"/"+tc.path, "SPDY/3.1")
		m := response{code: conn.Resp.StatusCode, body: []byte(conn.Body(t))}.must(t, tc.code).json(t)
		if str(m["kind"]) != "Status" || str(m["reason"]) != tc.reason || !strings.Contains(str(m["message"]), tc.message) {
			t.Errorf("%s: %v %q, want %s %q", tc.path, m["reason"], m["message"], tc.reason, tc.message)
		}
	}
}

// checkDiscovered: /api/v1 lists the streaming subresource name with kind and the verbs
// create (SPDY's POST) and get (a websocket's GET), as upstream's does.
func checkDiscovered(t *testing.T, c *apiClient, name, kind string) {
	t.Helper()
	m := c.get("/api/v1").must(t, http.StatusOK).json(t)
	for _, r := range m["resources"].([]any) {
		if str(dig(r, "name")) == name {
			if v := fmt.Sprint(dig(r, "verbs")); v != "[create get]" || str(dig(r, "kind")) != kind {
				t.Errorf("%s: %v", name, r)
			}
			return
		}
	}
	t.Errorf("discovery lacks %s", name)
}

// checkStreamed opens an echo stream at path through the apiserver and checks that the
// kubelet negotiated it end to end and got wantKubelet ("METHOD uri Upgrade") last.
func checkStreamed(t *testing.T, c *apiClient, ek *execKubelet, path, wantKubelet string) {
	t.Helper()
	conn := dialExec(t, c, "POST", path, upgradeproxytest.Protocol)
	if conn.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d %s, want 101", conn.Resp.StatusCode, conn.Body(t))
	}
	if got := conn.Resp.Header.Get("X-Stream-Protocol-Version"); got != "v4.channel.k8s.io" {
		t.Errorf("negotiated %q, want the kubelet's v4.channel.k8s.io", got)
	}
	conn.Echo(t, "typed in")
	conn.Finish(t)
	if got := ek.got(); len(got) == 0 || got[len(got)-1] != wantKubelet {
		t.Errorf("kubelet got %q, want %q last", got, wantKubelet)
	}
}

// checkRefusedWebsocket: the kubelet's refusal of a websocket at path comes back as it was,
// a status kubectl takes for a failed upgrade, so that it falls back to SPDY.
func checkRefusedWebsocket(t *testing.T, c *apiClient, path string) {
	t.Helper()
	conn := dialExec(t, c, "GET", path, "websocket")
	if body := conn.Body(t); conn.Resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "requested protocol(s) are not supported") {
		t.Errorf("status %d %q, want the kubelet's 403", conn.Resp.StatusCode, body)
	}
}
