package kubelet

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	krt "kubelab.io/kubelet/runtime"
	"kubelab.io/proto/upgradeproxy/upgradeproxytest"
)

func TestParseExecOptions(t *testing.T) {
	for _, tt := range []struct {
		query   string
		want    execOptions
		wantErr string
	}{
		{"command=cat&command=/etc/hostname&output=1&error=1", execOptions{[]string{"cat", "/etc/hostname"}, streamOptions{Stdout: true, Stderr: true}}, ""},
		{"command=sh&input=1&output=1&error=1&tty=1", execOptions{[]string{"sh"}, streamOptions{Stdin: true, Stdout: true, TTY: true}}, ""},
		{"command=sh&output=true", execOptions{}, "you must specify at least 1 of stdin, stdout, stderr"},
		{"output=1", execOptions{}, "you must specify at least one command for the container"},
	} {
		q, _ := url.ParseQuery(tt.query)
		got, err := parseExecOptions(q)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: error %v, want %q", tt.query, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, %v; want %+v", tt.query, got, err, tt.want)
		}
	}
}

// TestIntegrationExec: the kubelet's /exec finds the running container, asks the runtime
// for a streaming URL with the caller's command and streams, and relays the caller's
// upgrade to that URL; what it cannot serve it answers with upstream's statuses.
func TestIntegrationExec(t *testing.T) {
	sk := startStreamingKubelet(t)
	cs, fake, echo, api := sk.cs, sk.fake, sk.echo, sk.api

	if _, err := cs.Pods("default").Create(context.Background(), nginxPod("web", "node-1")); err != nil {
		t.Fatal(err)
	}
	waitRunningReady(t, cs, "web")
	id := fake.RunningContainers("nginx")[0]

	exec := func(method, path, protocol string) *upgradeproxytest.Conn { return sk.dial(t, method, path, protocol) }

	c := exec(http.MethodPost, "/exec/default/web/nginx?command=cat&command=%2Fetc%2Fhostname&input=1&output=1&error=1", upgradeproxytest.Protocol)
	if c.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d %s, want 101", c.Resp.StatusCode, c.Body(t))
	}
	if got := c.Resp.Header.Get("X-Stream-Protocol-Version"); got != "v4.channel.k8s.io" {
		t.Errorf("negotiated %q, want the streaming server's v4.channel.k8s.io", got)
	}
	c.Echo(t, "stdin data")
	c.Finish(t)
	if want := "Exec " + id + " tty=false stdin=true stdout=true stderr=true cat /etc/hostname"; fake.CountCalls(want) != 1 {
		t.Errorf("runtime calls %q, want one %q", fake.Calls(), want)
	}
	if got := echo.Requests()[0].URL.Path; got != "/exec/"+id {
		t.Errorf("streaming server got %s, want the runtime's URL", got)
	}

	// A websocket the streaming server refuses: its 403 comes back, not a hang, so kubectl
	// falls back to SPDY.
	c = exec(http.MethodGet, "/exec/default/web/nginx?command=true&output=1", "websocket")
	if c.Resp.StatusCode != http.StatusForbidden || !strings.Contains(c.Body(t), "not supported") {
		t.Errorf("refused websocket: status %d, want the streaming server's 403", c.Resp.StatusCode)
	}

	for _, tt := range []struct {
		name, path, protocol string
		code                 int
		body                 string
	}{
		{"no upgrade", "/exec/default/web/nginx?command=true&output=1", "", http.StatusBadRequest, "Upgrade request required"},
		{"no stream", "/exec/default/web/nginx?command=true", upgradeproxytest.Protocol, http.StatusBadRequest, "you must specify at least 1 of stdin, stdout, stderr"},
		{"unknown pod", "/exec/default/nope/nginx?command=true&output=1", upgradeproxytest.Protocol, http.StatusNotFound, "pod does not exist"},
		{"unknown container", "/exec/default/web/sidecar?command=true&output=1", upgradeproxytest.Protocol, http.StatusInternalServerError, `container not found ("sidecar")`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c *upgradeproxytest.Conn
			if tt.protocol == "" {
				resp, err := http.Post(api.URL+tt.path, "", nil)
				if err != nil {
					t.Fatal(err)
				}
				c = &upgradeproxytest.Conn{Resp: resp}
				defer resp.Body.Close()
			} else {
				c = exec(http.MethodPost, tt.path, tt.protocol)
			}
			if body := c.Body(t); c.Resp.StatusCode != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("status %d %q, want %d %q", c.Resp.StatusCode, body, tt.code, tt.body)
			}
		})
	}

	// A container that is no longer running cannot be exec'd into.
	if err := fake.Exit(id, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "exited container seen", func() (bool, string) {
		c := exec(http.MethodPost, "/exec/default/web/nginx?command=true&output=1", upgradeproxytest.Protocol)
		return c.Resp.StatusCode != http.StatusSwitchingProtocols, c.Resp.Status
	})
}

// streamingKubelet is a kubelet on the fake runtime whose streaming URLs lead to an
// upgradeproxytest echo server, with its API served over plain HTTP at addr.
type streamingKubelet struct {
	cs   *kube.Clientset
	fake *krt.Fake
	echo *upgradeproxytest.Echo
	addr string
	api  *httptest.Server
}

func startStreamingKubelet(t *testing.T) *streamingKubelet {
	t.Helper()
	srv := apiservertest.Start(t)
	sk := &streamingKubelet{cs: srv.Clientset(true), echo: &upgradeproxytest.Echo{}, fake: krt.NewFake()}
	streaming := httptest.NewServer(sk.echo)
	t.Cleanup(streaming.Close)
	sk.fake.StreamURL = streaming.URL
	k, _ := runTestKubelet(t, sk.cs, sk.fake, "node-1", "")
	sk.api = httptest.NewServer(k.Handler())
	t.Cleanup(sk.api.Close)
	sk.addr = strings.TrimPrefix(sk.api.URL, "http://")
	return sk
}

// dial sends an upgrade request for protocol, offering the v4.channel.k8s.io subprotocol.
func (sk *streamingKubelet) dial(t *testing.T, method, path, protocol string) *upgradeproxytest.Conn {
	t.Helper()
	return upgradeproxytest.Dial(t, sk.addr, upgradeproxytest.Request{Method: method, Path: path, Protocol: protocol,
		Header: http.Header{"X-Stream-Protocol-Version": {"v4.channel.k8s.io"}}})
}
