package apiservertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"kubelab.io/apiserver/internal/pki"
	"kubelab.io/apiserver/internal/streamtranslator/spdytest"
	"kubelab.io/client/kubeconfig"
)

// StreamingKubelet is a node's kubelet that serves only the streaming endpoints, as a
// kubelet does once the runtime's streaming server takes over: /exec and /attach speak
// SPDY remotecommand with spdytest's built-in commands (echo, cat, fail; attach is cat),
// and /portForward speaks SPDY port-forward to Dial. It checks the apiserver's client
// certificate as a kubelet does, so the whole apiserver side of kubectl's streams is real.
type StreamingKubelet struct {
	backend *spdytest.Server
}

// Requests are the streaming requests the kubelet got ("METHOD uri"), oldest first.
func (k *StreamingKubelet) Requests() []string { return k.backend.Requests() }

// StartStreamingKubelet serves a StreamingKubelet for node, which it registers (with the
// kubelet's address), and stops it when the test ends. dial connects a forwarded port
// (nil refuses every port).
func (s *Server) StartStreamingKubelet(node string, dial func(port uint16) (net.Conn, error)) *StreamingKubelet {
	s.tb.Helper()
	k := &StreamingKubelet{backend: &spdytest.Server{Dial: dial}}
	certPEM, keyPEM, err := s.srv.Bundle().IssueServingCert(node, []string{node, "127.0.0.1"}, time.Hour)
	if err != nil {
		s.tb.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		s.tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user := r.TLS.VerifiedChains[0][0].Subject.CommonName; user != pki.KubeletClientCommonName {
			http.Error(w, "Forbidden (user="+user+")", http.StatusForbidden)
			return
		}
		for _, p := range []string{"/exec/", "/attach/", "/portForward/"} {
			if strings.HasPrefix(r.URL.Path, p) {
				k.backend.ServeHTTP(w, r)
				return
			}
		}
		http.NotFound(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: s.srv.Bundle().CAPool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	s.tb.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	s.post("/api/v1/nodes", fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q},
"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":%d}}}}`, node, port))
	return k
}

// post sends body to path as the admin and fails the test unless it is created.
func (s *Server) post(path, body string) {
	s.tb.Helper()
	cfg, err := kubeconfig.Load(s.Kubeconfig())
	if err != nil {
		s.tb.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		s.tb.Fatal(err)
	}
	tlsCfg, err := rc.TLSClientConfig()
	if err != nil {
		s.tb.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 10 * time.Second}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, rc.Host+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		s.tb.Fatalf("POST %s: %s", path, resp.Status)
	}
}
