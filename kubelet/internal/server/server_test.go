package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// client issues a client certificate for user in groups.
func (ca *testCA) client(t *testing.T, user string, groups ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: user, Organization: groups},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// start serves a stub kubelet API through New on a loopback port.
func start(t *testing.T, cfg Config) (addr string) {
	t.Helper()
	mux := http.NewServeMux()
	for _, p := range []string{"/healthz", "/pods", "/containerLogs/default/web/nginx"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "data of "+p) })
	}
	cfg.Handler = mux
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func get(addr, path string, cert *tls.Certificate, roots *x509.CertPool) (int, string, error) {
	tc := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if roots == nil {
		tc.InsecureSkipVerify = true // the server's identity is not what these tests check
	}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestClientCertAuthnAuthz(t *testing.T) {
	ca, other := newCA(t, "cluster-ca"), newCA(t, "someone-else")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := start(t, Config{ClientCAFile: caFile, SelfSignedDir: filepath.Join(dir, "pki"), Hosts: []string{"node-1", "127.0.0.1"}})

	apiserver := ca.client(t, APIServerUser)
	admin := ca.client(t, "kubernetes-admin", MastersGroup)
	node := ca.client(t, "system:node:node-1", "system:nodes")
	user := ca.client(t, "alice", "developers")
	stranger := other.client(t, APIServerUser, MastersGroup)

	for _, tt := range []struct {
		name   string
		cert   *tls.Certificate
		path   string
		status int // 0: the TLS handshake fails
	}{
		{"anonymous pods", nil, "/pods", 0},
		{"anonymous healthz", nil, "/healthz", 0},
		{"cert of another CA", &stranger, "/pods", 0},
		{"apiserver pods", &apiserver, "/pods", 200},
		{"apiserver logs", &apiserver, "/containerLogs/default/web/nginx", 200},
		{"admin pods", &admin, "/pods", 200},
		{"admin logs", &admin, "/containerLogs/default/web/nginx", 200},
		{"node pods", &node, "/pods", 403},
		{"node logs", &node, "/containerLogs/default/web/nginx", 403},
		{"node healthz", &node, "/healthz", 200},
		{"user pods", &user, "/pods", 403},
		{"user healthz", &user, "/healthz", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body, err := get(addr, tt.path, tt.cert, nil)
			if tt.status == 0 {
				if err == nil {
					t.Fatalf("GET %s: %d %q, want a failed handshake", tt.path, code, body)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET %s: %v", tt.path, err)
			}
			if code != tt.status {
				t.Fatalf("GET %s: %d %q, want %d", tt.path, code, body, tt.status)
			}
			if code == 403 && !strings.Contains(body, "Forbidden (user=") {
				t.Errorf("403 body %q", body)
			}
			if code == 200 && body != "data of "+tt.path {
				t.Errorf("body %q", body)
			}
		})
	}

	// No plain-HTTP access to the same port.
	resp, err := http.Get("http://" + addr + "/pods")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "data of") {
			t.Errorf("plain HTTP: %d %q", resp.StatusCode, b)
		}
	}
}

func TestNoClientCAFileRefusesEveryone(t *testing.T) {
	ca := newCA(t, "cluster-ca")
	addr := start(t, Config{})
	admin := ca.client(t, "kubernetes-admin", MastersGroup)
	if code, body, err := get(addr, "/pods", &admin, nil); err == nil {
		t.Fatalf("without --client-ca-file: %d %q, want a failed handshake", code, body)
	}
}

func TestSelfSignedServingCert(t *testing.T) {
	ca := newCA(t, "cluster-ca")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(dir, "pki")
	addr := start(t, Config{ClientCAFile: caFile, SelfSignedDir: pki, Hosts: []string{"node-1", "127.0.0.1"}})
	b, err := os.ReadFile(filepath.Join(pki, "kubelet.crt"))
	if err != nil {
		t.Fatalf("self-signed certificate not kept: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(b)
	admin := ca.client(t, "kubernetes-admin", MastersGroup)
	// A client that trusts the kept certificate verifies the server for its IP.
	if code, _, err := get(addr, "/healthz", &admin, roots); err != nil || code != 200 {
		t.Fatalf("verified GET: %d %v", code, err)
	}
	// A second start reuses it.
	start(t, Config{ClientCAFile: caFile, SelfSignedDir: pki, Hosts: []string{"node-1", "127.0.0.1"}})
	b2, _ := os.ReadFile(filepath.Join(pki, "kubelet.crt"))
	if string(b) != string(b2) {
		t.Error("self-signed certificate regenerated on restart")
	}
	// New hosts make a new one.
	start(t, Config{ClientCAFile: caFile, SelfSignedDir: pki, Hosts: []string{"node-2"}})
	b3, _ := os.ReadFile(filepath.Join(pki, "kubelet.crt"))
	if string(b) == string(b3) {
		t.Error("self-signed certificate not regenerated for new hosts")
	}
}

func TestCertFlagsGoTogether(t *testing.T) {
	if _, err := New(Config{CertFile: "x.crt", Handler: http.NotFoundHandler()}); err == nil {
		t.Error("--tls-cert-file without a key accepted")
	}
	if _, err := New(Config{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key", Handler: http.NotFoundHandler()}); err == nil {
		t.Error("missing certificate files accepted")
	}
}

// TestForbiddenNamesVerb: the 403 names the verb as upstream's kubelet does, create for an
// exec's SPDY POST and get otherwise.
func TestForbiddenNamesVerb(t *testing.T) {
	h := Authorize(http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	node := &x509.Certificate{Subject: pkix.Name{CommonName: "system:node:node-1", Organization: []string{"system:nodes"}}}
	for method, verb := range map[string]string{http.MethodPost: "create", http.MethodGet: "get"} {
		r := httptest.NewRequest(method, "/exec/default/web/nginx?command=true", nil)
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{node}}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		want := "Forbidden (user=system:node:node-1, verb=" + verb + ", resource=nodes, subresource=proxy)"
		if w.Code != http.StatusForbidden || strings.TrimSpace(w.Body.String()) != want {
			t.Errorf("%s: %d %q, want 403 %q", method, w.Code, w.Body.String(), want)
		}
	}
}
