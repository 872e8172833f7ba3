package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/pki"
)

// fakeKubelet is a kubelet server as the apiserver meets it: HTTPS with a serving
// certificate, client certificates required and verified against clientCAs, and only
// kube-apiserver-kubelet-client allowed to read /containerLogs. Its containers' logs are
// "<container> line 1" … "<container> line 3"; container "broken" answers 404 as a kubelet
// does for a container that is not running; with follow it writes line 1, then waits for
// release before writing line 2 and ending.
type fakeKubelet struct {
	srv  *httptest.Server
	port int

	mu       sync.Mutex
	requests []string // path?query of each /containerLogs request
	release  chan struct{}
}

func newFakeKubelet(t *testing.T, serving tls.Certificate, clientCAs *Server) *fakeKubelet {
	t.Helper()
	fk := &fakeKubelet{release: make(chan struct{})}
	fk.srv, fk.port = startKubeletTLS(t, http.HandlerFunc(fk.serve), serving, clientCAs)
	return fk
}

// startKubeletTLS serves h as a kubelet does: HTTPS with serving, and client certificates
// required and verified against clientCAs' cluster CA (when clientCAs is not nil).
func startKubeletTLS(t *testing.T, h http.Handler, serving tls.Certificate, clientCAs *Server) (*httptest.Server, int) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}}
	if clientCAs != nil {
		srv.TLS.ClientCAs = clientCAs.Bundle().CAPool
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, srv.Listener.Addr().(*net.TCPAddr).Port
}

// servingCert is a kubelet serving certificate for 127.0.0.1 issued by s's cluster CA.
func servingCert(t *testing.T, s *Server) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := s.Bundle().IssueServingCert("node-1", []string{"node-1", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (fk *fakeKubelet) serve(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if user := r.TLS.VerifiedChains[0][0].Subject.CommonName; user != pki.KubeletClientCommonName {
		http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=get, resource=nodes, subresource=proxy)", user), http.StatusForbidden)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/containerLogs/") || len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	fk.mu.Lock()
	fk.requests = append(fk.requests, r.URL.RequestURI())
	release := fk.release
	fk.mu.Unlock()
	container := parts[2]
	if container == "broken" {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: CrashLoopBackOff", container, parts[1]), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/plain")
	if q.Get("follow") == "true" {
		fmt.Fprintf(w, "%s line 1\n", container)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "%s line 2\n", container)
		return
	}
	lines := []string{container + " line 1", container + " line 2", container + " line 3"}
	if n := q.Get("tailLines"); n != "" {
		var k int
		fmt.Sscan(n, &k)
		lines = lines[len(lines)-k:]
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// lastRequest is the last /containerLogs request the fake served.
func (fk *fakeKubelet) lastRequest() string {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	if len(fk.requests) == 0 {
		return ""
	}
	return fk.requests[len(fk.requests)-1]
}

// releaseFollow lets waiting follow streams write their second line and end, and arms a
// new release for the next ones.
func (fk *fakeKubelet) releaseFollow() {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	close(fk.release)
	fk.release = make(chan struct{})
}

// registerNode creates a Node whose kubelet is at 127.0.0.1:port. A Hostname address comes
// first, which does not resolve: the InternalIP must be preferred.
func registerNode(t *testing.T, c *apiClient, name string, port int) {
	t.Helper()
	c.post("/api/v1/nodes", fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q},
"status":{"addresses":[{"type":"Hostname","address":"%s.invalid"},{"type":"InternalIP","address":"127.0.0.1"}],
"daemonEndpoints":{"kubeletEndpoint":{"Port":%d}}}}`, name, name, port)).must(t, http.StatusCreated)
}

// createPod creates a pod in default with the named containers, bound to node unless it
// is empty.
func createPod(t *testing.T, c *apiClient, name, node string, containers ...string) {
	t.Helper()
	var cs []string
	for _, n := range containers {
		cs = append(cs, fmt.Sprintf(`{"name":%q,"image":"nginx:1.14.2"}`, n))
	}
	nodeName := ""
	if node != "" {
		nodeName = fmt.Sprintf(`"nodeName":%q,`, node)
	}
	c.post(pods, fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{%s"containers":[%s]}}`,
		name, nodeName, strings.Join(cs, ","))).must(t, http.StatusCreated)
}

// logServer is a test apiserver with a fake kubelet on node-1 (and node-1's pods web
// [nginx] and two [a b]), a pod that is not scheduled, and a node whose kubelet is down.
func logServer(t *testing.T) (*Server, *apiClient, *fakeKubelet) {
	t.Helper()
	s := testServer(t)
	c := adminClient(t, s)
	fk := newFakeKubelet(t, servingCert(t, s), s)
	registerNode(t, c, "node-1", fk.port)
	createPod(t, c, "web", "node-1", "nginx")
	createPod(t, c, "two", "node-1", "a", "b", "broken")
	createPod(t, c, "pending", "", "nginx")

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	registerNode(t, c, "node-down", downPort)
	createPod(t, c, "orphan", "node-down", "nginx")
	return s, c, fk
}

const logPath = "/api/v1/namespaces/default/pods/"

func TestPodLogs(t *testing.T) {
	s, c, fk := logServer(t)

	t.Run("plain", func(t *testing.T) {
		r := c.get(logPath+"web/log").must(t, http.StatusOK)
		if string(r.body) != "nginx line 1\nnginx line 2\nnginx line 3\n" {
			t.Errorf("body %q", r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type %q", ct)
		}
		if got := fk.lastRequest(); got != "/containerLogs/default/web/nginx" {
			t.Errorf("kubelet asked for %q", got)
		}
	})

	t.Run("parameters are forwarded", func(t *testing.T) {
		r := c.get(logPath+"two/log?container=b&tailLines=1&timestamps=true&previous=true&sinceSeconds=30&limitBytes=100").must(t, http.StatusOK)
		if string(r.body) != "b line 3\n" {
			t.Errorf("body %q", r.body)
		}
		want := "/containerLogs/default/two/b?limitBytes=100&previous=true&sinceSeconds=30&tailLines=1&timestamps=true"
		if got := fk.lastRequest(); got != want {
			t.Errorf("kubelet asked for %q, want %q", got, want)
		}
		// limitBytes holds even if the kubelet ignores it.
		if r := c.get(logPath+"web/log?limitBytes=5").must(t, http.StatusOK); string(r.body) != "nginx" {
			t.Errorf("limitBytes=5: %q", r.body)
		}
	})

	t.Run("follow streams", func(t *testing.T) {
		req, _ := http.NewRequest("GET", c.base+logPath+"web/log?follow=true", nil)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		br := bufio.NewReader(resp.Body)
		first := make(chan string, 1)
		go func() {
			l, _ := br.ReadString('\n')
			first <- l
		}()
		select {
		case l := <-first:
			if l != "nginx line 1\n" {
				t.Fatalf("first line %q", l)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the first line did not arrive while the kubelet kept the stream open")
		}
		if got := fk.lastRequest(); got != "/containerLogs/default/web/nginx?follow=true" {
			t.Errorf("kubelet asked for %q", got)
		}
		fk.releaseFollow()
		rest, err := io.ReadAll(br)
		if err != nil || string(rest) != "nginx line 2\n" {
			t.Errorf("rest %q, %v", rest, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			path, reason, message string
			code                  int
		}{
			{"two/log", "BadRequest", "a container name must be specified for pod two, choose one of: [a b broken]", 400},
			{"web/log?container=zzz", "BadRequest", "container zzz is not valid for pod web", 400},
			{"pending/log", "BadRequest", "pod pending does not have a host assigned", 400},
			{"nope/log", "NotFound", `pods "nope" not found`, 404},
			{"web/log?tailLines=-1", "Invalid", `PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`, 422},
			{"web/log?tailLines=x", "BadRequest", `tailLines must be an integer, got "x"`, 400},
			{"web/log?sinceSeconds=1&sinceTime=2024-01-01T00:00:00Z", "Invalid", "at most one of `sinceTime` or `sinceSeconds` may be specified", 422},
			{"web/log?insecureSkipTLSVerifyBackend=true", "BadRequest", "insecureSkipTLSVerifyBackend is not supported", 400},
			// The kubelet's own refusal comes back with its code and message.
			{"two/log?container=broken", "BadRequest", `container "broken" in pod "two" is waiting to start: CrashLoopBackOff`, 400},
			{"orphan/log", "InternalError", `cannot reach the kubelet of node "node-down" at 127.0.0.1:`, 500},
		} {
			m := c.get(logPath+tc.path).must(t, tc.code).json(t)
			if str(m["kind"]) != "Status" || str(m["reason"]) != tc.reason || !strings.Contains(str(m["message"]), tc.message) {
				t.Errorf("%s: %v %q, want %s %q", tc.path, m["reason"], m["message"], tc.reason, tc.message)
			}
		}
		if r := c.do("POST", logPath+"web/log", "application/json", "{}"); r.code != http.StatusMethodNotAllowed {
			t.Errorf("POST pods/log: HTTP %d %s", r.code, r.body)
		}
	})

	t.Run("discovery", func(t *testing.T) {
		m := c.get("/api/v1").must(t, http.StatusOK).json(t)
		found := false
		for _, r := range m["resources"].([]any) {
			if str(dig(r, "name")) == "pods/log" {
				found = true
				if v := fmt.Sprint(dig(r, "verbs")); v != "[get]" || dig(r, "namespaced") != true || str(dig(r, "kind")) != "Pod" {
					t.Errorf("pods/log: %v", r)
				}
			}
		}
		if !found {
			t.Error("discovery lacks pods/log")
		}
	})

	t.Run("authorization", func(t *testing.T) {
		alice := userClient(t, s, "alice")
		m := alice.get(logPath+"web/log").must(t, http.StatusForbidden).json(t)
		if want := `pods "web" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "default"`; !strings.Contains(str(m["message"]), want) {
			t.Errorf("message %q", m["message"])
		}
		// Reading a pod is not reading its logs.
		c.post(rbacAPI+"/namespaces/default/roles", `{"kind":"Role","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"pod-reader","namespace":"default"},
"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}`).must(t, http.StatusCreated)
		c.post(rbacAPI+"/namespaces/default/rolebindings", `{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"alice-reads-pods"},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"},
"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"}]}`).must(t, http.StatusCreated)
		eventually(t, "alice to read the pod", func() bool { return alice.get(logPath+"web").code == http.StatusOK })
		alice.get(logPath+"web/log").must(t, http.StatusForbidden)
		// The bootstrap cluster-admin role reads logs.
		c.post(rbacAPI+"/clusterrolebindings", `{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"alice-admin"},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"}]}`).must(t, http.StatusCreated)
		eventually(t, "cluster-admin to take effect", func() bool { return alice.get(logPath+"web/log").code == http.StatusOK })
		// A kubelet may read its own pods, not their logs through the apiserver.
		node := userClient(t, s, "system:node:node-1", "system:nodes")
		node.get(logPath+"web").must(t, http.StatusOK)
		node.get(logPath+"web/log").must(t, http.StatusForbidden)
	})

	t.Run("self-signed kubelet is refused", func(t *testing.T) {
		selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			t.Error("the apiserver sent a request to a kubelet it cannot verify")
		}))
		defer selfSigned.Close()
		registerNode(t, c, "node-self", selfSigned.Listener.Addr().(*net.TCPAddr).Port)
		createPod(t, c, "unverified", "node-self", "nginx")
		m := c.get(logPath+"unverified/log").must(t, http.StatusInternalServerError).json(t)
		msg := str(m["message"])
		for _, want := range []string{`the kubelet of node "node-self"`, "did not present a serving certificate this apiserver trusts", "x509", "--kubelet-certificate-authority"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
	})
}

// TestPodLogsKubectl runs the stock kubectl's logs against a fake kubelet.
func TestPodLogsKubectl(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s, _, fk := logServer(t)
	if out := kubectl(t, s, "logs", "web"); out != "nginx line 1\nnginx line 2\nnginx line 3\n" {
		t.Errorf("kubectl logs web: %q", out)
	}
	if out := kubectl(t, s, "logs", "two", "-c", "b", "--tail=2"); out != "b line 2\nb line 3\n" {
		t.Errorf("kubectl logs two -c b --tail=2: %q", out)
	}
	if got := fk.lastRequest(); got != "/containerLogs/default/two/b?tailLines=2" {
		t.Errorf("kubelet asked for %q", got)
	}
	out, err := kubectlErr(t, s, "logs", "pending")
	if err == nil || !strings.Contains(out, "pod pending does not have a host assigned") {
		t.Errorf("kubectl logs pending: %v %s", err, out)
	}

	// -f prints the first line while the stream is open, and exits when it ends.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, stockKubectl, "--kubeconfig", s.AdminKubeconfig(), "--cache-dir", filepath.Join(t.TempDir(), "cache"), "logs", "-f", "web")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("kubectl logs -f printed nothing")
			return ""
		}
	}
	if l := next(); l != "nginx line 1" {
		t.Fatalf("first line %q", l)
	}
	fk.releaseFollow()
	if l := next(); l != "nginx line 2" {
		t.Errorf("second line %q", l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("kubectl logs -f: %v", err)
	}
}

// TestKubeletClientConfig covers the kubelet client's flags: the bootstrapped client
// certificate is reused on restart; --kubelet-certificate-authority replaces the cluster CA
// for verifying kubelets; a client certificate the kubelet refuses comes back as the
// kubelet's 403.
func TestKubeletClientConfig(t *testing.T) {
	dir := t.TempDir()
	first := configuredServer(t, func(c *Config) { c.DataDir = dir })
	certPath := filepath.Join(dir, "pki", pki.KubeletClientCertFile)
	before, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatalf("no kubelet client certificate bootstrapped: %v", err)
	}
	// A client certificate signed by the cluster CA that the kubelet will not authorize.
	otherCert, otherKey, err := first.Bundle().IssueClientCert("someone-else", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCertPath, otherKeyPath := writeFile(t, "other.crt", string(otherCert)), writeFile(t, "other.key", string(otherKey))
	first.Close()
	second := configuredServer(t, func(c *Config) { c.DataDir = dir })
	if after, _ := os.ReadFile(certPath); string(after) != string(before) {
		t.Error("the kubelet client certificate was re-issued on restart")
	}
	second.Close()

	// Kubelets' serving certificates come from a separate CA.
	kubeletCA, err := pki.Ensure(pki.Config{Dir: t.TempDir(), AdvertiseURL: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	s := configuredServer(t, func(c *Config) {
		c.DataDir = dir
		c.KubeletCAFile = kubeletCA.Paths.CACert
		c.KubeletClientCertFile, c.KubeletClientKeyFile = otherCertPath, otherKeyPath
	})
	certPEM, keyPEM, err := kubeletCA.IssueServingCert("node-1", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, _ := tls.X509KeyPair(certPEM, keyPEM)
	fk := newFakeKubelet(t, serving, s)
	c := adminClient(t, s)
	registerNode(t, c, "node-1", fk.port)
	createPod(t, c, "web", "node-1", "nginx")
	m := c.get(logPath+"web/log").must(t, http.StatusForbidden).json(t)
	if want := `the kubelet of node "node-1" refused the apiserver: Forbidden (user=someone-else, verb=get, resource=nodes, subresource=proxy)`; str(m["message"]) != want {
		t.Errorf("message %q, want %q", m["message"], want)
	}
}
