package server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// configuredServer starts a test server whose Config edit may change.
func configuredServer(t testing.TB, edit func(*Config)) *Server {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("KUBELAB_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg := Config{
		DataDir: t.TempDir(), SecurePort: 0, BindAddress: "127.0.0.1", UnsafeNoFsync: true,
		DisableAdmissionPlugins: withoutControllerManager,
		Log:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start apiserver: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// userKubeconfig writes a kubeconfig for a user with a client certificate (CN user, O
// groups), for the stock kubectl.
func userKubeconfig(t testing.TB, s *Server, user string, groups ...string) string {
	t.Helper()
	certPEM, keyPEM, err := s.Bundle().IssueClientCert(user, groups, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := s.Bundle().WriteKubeconfig(kc, user, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return kc
}

// userClient speaks as a user with a client certificate (CN user, O groups).
func userClient(t testing.TB, s *Server, user string, groups ...string) *apiClient {
	t.Helper()
	certPEM, keyPEM, err := s.Bundle().IssueClientCert(user, groups, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := anonymousClient(t, s)
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	c.http = &http.Client{Transport: tr}
	return c
}

// headerClient presents no certificate but sends an Authorization header.
func headerClient(t testing.TB, s *Server, authorization string) *apiClient {
	c := anonymousClient(t, s)
	c.http = &http.Client{Transport: authTransport{authorization, c.http.Transport}}
	return c
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

type authTransport struct {
	header string
	next   http.RoundTripper
}

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", a.header)
	return a.next.RoundTrip(r)
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// boundPodJSON is a pod already bound to node.
func boundPodJSON(name, node string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"},"spec":{"nodeName":"` + node + `","containers":[{"name":"c","image":"nginx:1.14.2"}]}}`
}
