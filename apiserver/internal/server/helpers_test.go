package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/admission/serviceaccount"
	"kubelab.io/client/kubeconfig"
)

// withoutControllerManager turns off the admission plugins that need objects only the
// controller-manager creates (ServiceAccount needs each namespace's "default" account), as
// Kubernetes' own integration tests do; the plugin's tests turn it on.
var withoutControllerManager = []string{serviceaccount.PluginName}

// testServer starts an apiserver on embedded etcd in a temp dir, on a free port.
func testServer(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	level := slog.LevelWarn
	if os.Getenv("KUBELAB_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	s, err := Start(context.Background(), Config{
		DataDir: dir, SecurePort: 0, BindAddress: "127.0.0.1", UnsafeNoFsync: true,
		DisableAdmissionPlugins: withoutControllerManager,
		Log:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		t.Fatalf("start apiserver: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// restart closes s and starts a server on its data directory again, as a restart of the
// binary would; the new server is closed when the test ends.
func restart(t testing.TB, s *Server) *Server {
	t.Helper()
	dir := s.cfg.DataDir
	s.Close()
	s2, err := Start(context.Background(), Config{DataDir: dir, BindAddress: "127.0.0.1", UnsafeNoFsync: true,
		DisableAdmissionPlugins: s.cfg.DisableAdmissionPlugins, Log: s.log})
	if err != nil {
		t.Fatalf("restart apiserver: %v", err)
	}
	t.Cleanup(s2.Close)
	return s2
}

// apiClient speaks HTTPS to a test server as the admin (or as nobody).
type apiClient struct {
	t    testing.TB
	base string
	http *http.Client
}

func adminClient(t testing.TB, s *Server) *apiClient {
	t.Helper()
	cfg, err := kubeconfig.Load(s.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := rc.TLSClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, base: rc.Host, http: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 100}}}
}

// anonymousClient trusts the server but presents no certificate.
func anonymousClient(t testing.TB, s *Server) *apiClient {
	c := adminClient(t, s)
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = nil
	c.http = &http.Client{Transport: tr}
	return c
}

type response struct {
	code   int
	body   []byte
	header http.Header
}

// json decodes the body into a generic map.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%v): %s", err, r.body)
	}
	return m
}

func (c *apiClient) do(method, path, contentType, body string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: b, header: resp.Header}
}

func (c *apiClient) get(path string) response { return c.do("GET", path, "", "") }
func (c *apiClient) post(path, body string) response {
	return c.do("POST", path, "application/json", body)
}
func (c *apiClient) put(path, body string) response {
	return c.do("PUT", path, "application/json", body)
}
func (c *apiClient) del(path string) response { return c.do("DELETE", path, "", "") }

// must fails the test unless the response has the wanted code.
func (r response) must(t testing.TB, code int) response {
	t.Helper()
	if r.code != code {
		t.Fatalf("got HTTP %d, want %d: %s", r.code, code, r.body)
	}
	return r
}

// dig walks a decoded JSON document: dig(m, "metadata", "name").
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
