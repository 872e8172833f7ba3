package incluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "ca.crt", string(testCA(t)))
	write(t, dir, "namespace", "kube-system\n")
	env := map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
	cfg, err := Config(dir, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.96.0.1:443" || cfg.Namespace != "kube-system" || cfg.TLS.ServerName != ServerName || len(cfg.TLS.CAData) == 0 {
		t.Errorf("config %+v", cfg)
	}
	env["KUBERNETES_SERVICE_HOST"] = "fd00::1"
	if cfg, _ := Config(dir, func(k string) string { return env[k] }); cfg.Host != "https://[fd00::1]:443" {
		t.Errorf("IPv6 host: %s", cfg.Host)
	}
	if _, err := Config(dir, func(string) string { return "" }); !errors.Is(err, ErrNotInCluster) {
		t.Errorf("no environment: %v, want ErrNotInCluster", err)
	}
}

// TestTokenRotation: the transport rereads the token file once Reread has passed, and a
// changed token gets a new client; a missing file keeps the last one.
func TestTokenRotation(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "ca.crt", string(testCA(t)))
	token := write(t, dir, "token", "one")
	cfg, err := Config(dir, env{"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "1"}.get)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	tr, err := NewTransport(TransportConfig{REST: cfg, TokenFile: token, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := tr.current()
	write(t, dir, "token", "two")
	if c, _ := tr.current(); c != first || tr.token != "one" {
		t.Errorf("token reread before a minute passed")
	}
	now = now.Add(time.Minute)
	second, _ := tr.current()
	if second == first || tr.token != "two" {
		t.Errorf("token %q after the file changed and a minute passed, want a new client with \"two\"", tr.token)
	}
	os.Remove(token)
	now = now.Add(time.Minute)
	if c, err := tr.current(); err != nil || c != second {
		t.Errorf("token file gone: %v, want the last client kept", err)
	}
	if _, err := NewTransport(TransportConfig{REST: cfg, TokenFile: token}); err == nil {
		t.Error("NewTransport without a token file succeeded")
	}
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
