package kubelet

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"kubelab.io/proto/upgradeproxy/upgradeproxytest"
)

func TestParsePorts(t *testing.T) {
	for _, tt := range []struct {
		query   string
		want    []int32
		wantErr string
	}{
		{"port=80", []int32{80}, ""},
		{"port=80,8080&port=443", []int32{80, 8080, 443}, ""},
		{"", nil, `query parameter "port" is required`},
		{"port=", nil, `query parameter "port" cannot be empty`},
		{"port=http", nil, `unable to parse "http" as a port`},
		{"port=70000", nil, `unable to parse "70000" as a port`},
		{"port=80,0", nil, `port "80,0" must be > 0`},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/portForward/default/web?"+tt.query, nil)
		got, err := parsePorts(r.URL.Query())
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.query, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.query, got, err, tt.want)
		}
	}
}

// TestIntegrationAttach: /attach relays the caller's upgrade to the runtime's attach URL
// for the running container, with the terminal the container was started with.
func TestIntegrationAttach(t *testing.T) {
	sk := startStreamingKubelet(t)
	pod := nginxPod("web", "node-1")
	pod.Spec.Containers[0].Tty, pod.Spec.Containers[0].Stdin = true, true
	if _, err := sk.cs.Pods("default").Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitRunningReady(t, sk.cs, "web")
	id := sk.fake.RunningContainers("nginx")[0]

	// No tty asked for, but the container has one: the runtime gets tty and no stderr.
	sk.stream(t, "/attach/default/web/nginx?input=1&output=1&error=1",
		"Attach "+id+" tty=true stdin=true stdout=true stderr=false", "/attach/"+id)

	c := sk.dial(t, http.MethodGet, "/attach/default/web/nginx?output=1", "websocket")
	if c.Resp.StatusCode != http.StatusForbidden || !strings.Contains(c.Body(t), "not supported") {
		t.Errorf("refused websocket: status %d, want the streaming server's 403", c.Resp.StatusCode)
	}

	for _, tt := range []struct{ name, path, protocol, body string }{
		{"no upgrade", "/attach/default/web/nginx?output=1", "", "Upgrade request required"},
		{"no stream", "/attach/default/web/nginx", upgradeproxytest.Protocol, "you must specify at least 1 of stdin, stdout, stderr"},
		{"unknown pod", "/attach/default/nope/nginx?output=1", upgradeproxytest.Protocol, "pod does not exist"},
		{"unknown container", "/attach/default/web/sidecar?output=1", upgradeproxytest.Protocol, "container sidecar not found in pod web_default"},
	} {
		assertRefused(t, sk, tt.name, tt.path, tt.protocol, tt.body)
	}
}

// TestIntegrationPortForward: /portForward relays the caller's upgrade to the runtime's
// port-forward URL for the pod's ready sandbox; a websocket names its ports in the URL
// (the runtime gets them), a SPDY client in its streams.
func TestIntegrationPortForward(t *testing.T) {
	sk := startStreamingKubelet(t)
	if _, err := sk.cs.Pods("default").Create(context.Background(), nginxPod("web", "node-1")); err != nil {
		t.Fatal(err)
	}
	waitRunningReady(t, sk.cs, "web")
	sandboxes, err := sk.fake.ListPodSandboxes(context.Background(), nil)
	if err != nil || len(sandboxes) != 1 {
		t.Fatalf("sandboxes %v, %v", sandboxes, err)
	}
	sb := sandboxes[0].GetId()

	sk.stream(t, "/portForward/default/web", "PortForward "+sb+" []", "/portforward/"+sb)

	// kubectl's websocket (it names no ports) is refused by the kubelet as upstream's is;
	// one with ports reaches the runtime, whose refusal comes back. Either way kubectl
	// sees a failed upgrade and falls back to SPDY.
	c := sk.dial(t, http.MethodGet, "/portForward/default/web?port=80,8080", "websocket")
	if c.Resp.StatusCode != http.StatusForbidden || !strings.Contains(c.Body(t), "not supported") {
		t.Errorf("refused websocket: status %d, want the streaming server's 403", c.Resp.StatusCode)
	}
	if want := "PortForward " + sb + " [80 8080]"; sk.fake.CountCalls(want) != 1 {
		t.Errorf("runtime calls %q, want one %q", sk.fake.Calls(), want)
	}

	for _, tt := range []struct{ name, path, protocol, body string }{
		{"no upgrade", "/portForward/default/web", "", "Upgrade request required"},
		{"websocket without ports", "/portForward/default/web", "websocket", `query parameter "port" is required`},
		{"bad port", "/portForward/default/web?port=http", "websocket", `unable to parse "http" as a port`},
		{"unknown pod", "/portForward/default/nope", upgradeproxytest.Protocol, "pod does not exist"},
	} {
		assertRefused(t, sk, tt.name, tt.path, tt.protocol, tt.body)
	}
}

// assertRefused sends a streaming request (a plain POST when protocol is empty) and
// checks that it is refused with body in the answer and no runtime call.
func assertRefused(t *testing.T, sk *streamingKubelet, name, path, protocol, body string) {
	t.Helper()
	calls := len(sk.fake.Calls())
	var c *upgradeproxytest.Conn
	if protocol == "" {
		resp, err := http.Post(sk.api.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		c = &upgradeproxytest.Conn{Resp: resp}
	} else {
		c = sk.dial(t, http.MethodPost, path, protocol)
	}
	if got := c.Body(t); c.Resp.StatusCode < 400 || !strings.Contains(got, body) {
		t.Errorf("%s: status %d %q, want a refusal with %q", name, c.Resp.StatusCode, got, body)
	}
	for _, call := range sk.fake.Calls()[calls:] {
		if strings.HasPrefix(call, "Attach") || strings.HasPrefix(call, "PortForward") {
			t.Errorf("%s: runtime called %q", name, call)
		}
	}
}

// stream opens an echo stream through the kubelet at path and checks that the runtime was
// asked once with wantCall and that the stream reached its URL, wantPath.
func (sk *streamingKubelet) stream(t *testing.T, path, wantCall, wantPath string) {
	t.Helper()
	c := sk.dial(t, http.MethodPost, path, upgradeproxytest.Protocol)
	if c.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%s: status %d %s, want 101", path, c.Resp.StatusCode, c.Body(t))
	}
	c.Echo(t, "typed in")
	c.Finish(t)
	if sk.fake.CountCalls(wantCall) != 1 {
		t.Errorf("runtime calls %q, want one %q", sk.fake.Calls(), wantCall)
	}
	if reqs := sk.echo.Requests(); len(reqs) == 0 || reqs[len(reqs)-1].URL.Path != wantPath {
		t.Errorf("streaming server got %v, want the runtime's URL %s last", reqs, wantPath)
	}
}
