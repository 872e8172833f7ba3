package kubeconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to dir/name, creating parent directories.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const fileA = `apiVersion: v1
kind: Config
clusters:
- name: shared
  cluster: {server: https://a.example:6443}
- name: only-a
  cluster: {server: https://only-a.example}
users:
- name: shared
  user: {token: token-a}
contexts:
- name: ctx-a
  context: {cluster: shared, user: shared, namespace: ns-a}
- name: shared
  context: {cluster: only-a, user: shared}
`

const fileB = `apiVersion: v1
kind: Config
clusters:
- name: shared
  cluster: {server: https://b.example:6443}
- name: only-b
  cluster: {server: https://only-b.example}
users:
- name: shared
  user: {token: token-b}
contexts:
- name: ctx-b
  context: {cluster: only-b, user: shared}
- name: shared
  context: {cluster: only-b, user: shared}
current-context: ctx-b
`

func TestLoadDefaultPrecedence(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", fileA)
	b := writeFile(t, dir, "b", fileB)
	missing := filepath.Join(dir, "missing")
	sep := string(filepath.ListSeparator)

	tests := []struct {
		name        string
		explicit    string
		env         string
		home        string
		wantCurrent string
		wantFiles   []string
		wantCluster map[string]string // cluster name -> server
		wantCtx     map[string]string // context name -> cluster
		wantHost    string            // of the current context; "" means ErrEmptyConfig
		wantErr     bool
	}{
		{
			name:        "A then B: first definition wins, current-context from B",
			env:         a + sep + b,
			wantCurrent: "ctx-b",
			wantFiles:   []string{a, b},
			wantCluster: map[string]string{"shared": "https://a.example:6443", "only-a": "https://only-a.example", "only-b": "https://only-b.example"},
			wantCtx:     map[string]string{"ctx-a": "shared", "ctx-b": "only-b", "shared": "only-a"},
			wantHost:    "https://only-b.example",
		},
		{
			name:        "B then A",
			env:         b + sep + a,
			wantCurrent: "ctx-b",
			wantFiles:   []string{b, a},
			wantCluster: map[string]string{"shared": "https://b.example:6443", "only-a": "https://only-a.example", "only-b": "https://only-b.example"},
			wantCtx:     map[string]string{"ctx-a": "shared", "ctx-b": "only-b", "shared": "only-b"},
			wantHost:    "https://only-b.example",
		},
		{
			name:        "missing, empty and duplicate entries are skipped",
			env:         missing + sep + sep + a + sep + a,
			wantCurrent: "",
			wantFiles:   []string{missing, a},
			wantCluster: map[string]string{"shared": "https://a.example:6443", "only-a": "https://only-a.example"},
			wantCtx:     map[string]string{"ctx-a": "shared", "shared": "only-a"},
		},
		{
			name:        "explicit path beats KUBECONFIG",
			explicit:    a,
			env:         b,
			wantFiles:   []string{a},
			wantCluster: map[string]string{"shared": "https://a.example:6443", "only-a": "https://only-a.example"},
			wantCtx:     map[string]string{"ctx-a": "shared", "shared": "only-a"},
		},
		{
			name:     "explicit missing path is an error",
			explicit: missing,
			wantErr:  true,
		},
		{
			name:        "home config when KUBECONFIG is unset",
			home:        "withconfig",
			wantCurrent: "ctx-b",
			wantFiles:   []string{filepath.Join(dir, "withconfig", ".kube", "config")},
			wantCluster: map[string]string{"shared": "https://b.example:6443", "only-b": "https://only-b.example"},
			wantCtx:     map[string]string{"ctx-b": "only-b", "shared": "only-b"},
			wantHost:    "https://only-b.example",
		},
		{
			name:        "missing home config is an empty config",
			home:        "empty",
			wantFiles:   []string{filepath.Join(dir, "empty", ".kube", "config")},
			wantCluster: map[string]string{},
			wantCtx:     map[string]string{},
		},
	}
	writeFile(t, dir, "withconfig/.kube/config", fileB)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvVar, tt.env)
			t.Setenv("HOME", filepath.Join(dir, tt.home))
			cfg, files, err := LoadDefault(tt.explicit)
			if tt.wantErr {
				if err == nil {
					t.Fatal("expected error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(files, tt.wantFiles) {
				t.Errorf("files = %v, want %v", files, tt.wantFiles)
			}
			if cfg.CurrentContext != tt.wantCurrent {
				t.Errorf("current-context = %q, want %q", cfg.CurrentContext, tt.wantCurrent)
			}
			gotClusters := map[string]string{}
			for _, c := range cfg.Clusters {
				gotClusters[c.Name] = c.Cluster.Server
			}
			if !reflect.DeepEqual(gotClusters, tt.wantCluster) {
				t.Errorf("clusters = %v, want %v", gotClusters, tt.wantCluster)
			}
			gotCtx := map[string]string{}
			for _, c := range cfg.Contexts {
				gotCtx[c.Name] = c.Context.Cluster
			}
			if !reflect.DeepEqual(gotCtx, tt.wantCtx) {
				t.Errorf("contexts = %v, want %v", gotCtx, tt.wantCtx)
			}
			rc, err := cfg.ClientConfig(Overrides{})
			if tt.wantHost == "" {
				if !errors.Is(err, ErrEmptyConfig) {
					t.Errorf("ClientConfig err = %v, want ErrEmptyConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rc.Host != tt.wantHost {
				t.Errorf("host = %q, want %q", rc.Host, tt.wantHost)
			}
		})
	}
}

func TestMergeUserFromFirstFile(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(writeFile(t, dir, "a", fileA))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(writeFile(t, dir, "b", fileB))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := Merge(b, nil, a).ClientConfig(Overrides{Context: "ctx-a"})
	if err != nil {
		t.Fatal(err)
	}
	// ctx-a only exists in A, but cluster/user "shared" come from B (first).
	if rc.Host != "https://b.example:6443" || rc.BearerToken != "token-b" || rc.Namespace != "ns-a" {
		t.Errorf("got %+v", rc)
	}
}

func TestClientConfigOverrides(t *testing.T) {
	dir := t.TempDir()
	caPath := writeFile(t, dir, "override-ca.crt", "OVERRIDE-CA")
	certPath := writeFile(t, dir, "override.crt", "OVERRIDE-CERT")
	keyPath := writeFile(t, dir, "override.key", "OVERRIDE-KEY")
	cfg := &Config{
		Clusters: []NamedCluster{
			{Name: "prod", Cluster: Cluster{Server: "https://prod:6443", CertificateAuthorityData: []byte("PROD-CA"), TLSServerName: "prod.internal"}},
			{Name: "dev", Cluster: Cluster{Server: "https://dev:6443", InsecureSkipTLSVerify: true}},
		},
		Users: []NamedUser{
			{Name: "alice", User: AuthInfo{Token: "alice-token"}},
			{Name: "bob", User: AuthInfo{Username: "bob", Password: "secret"}},
			{Name: "carol", User: AuthInfo{ClientCertificateData: []byte("CAROL-CERT"), ClientKeyData: []byte("CAROL-KEY")}},
		},
		Contexts: []NamedContext{
			{Name: "prod-alice", Context: Context{Cluster: "prod", User: "alice", Namespace: "team"}},
			{Name: "dev-bob", Context: Context{Cluster: "dev", User: "bob"}},
		},
		CurrentContext: "prod-alice",
	}

	tests := []struct {
		name string
		o    Overrides
		want RESTConfig
	}{
		{
			name: "no overrides",
			want: RESTConfig{Host: "https://prod:6443", Namespace: "team", BearerToken: "alice-token",
				TLS: TLSConfig{CAData: []byte("PROD-CA"), ServerName: "prod.internal"}},
		},
		{
			name: "context override, namespace defaults",
			o:    Overrides{Context: "dev-bob"},
			want: RESTConfig{Host: "https://dev:6443", Namespace: "default", Username: "bob", Password: "secret",
				TLS: TLSConfig{Insecure: true}},
		},
		{
			name: "cluster, user and namespace overrides",
			o:    Overrides{Cluster: "dev", User: "carol", Namespace: "kube-system"},
			want: RESTConfig{Host: "https://dev:6443", Namespace: "kube-system",
				TLS: TLSConfig{Insecure: true, CertData: []byte("CAROL-CERT"), KeyData: []byte("CAROL-KEY")}},
		},
		{
			name: "server override clears tls-server-name",
			o:    Overrides{Server: "https://10.0.0.1:6443"},
			want: RESTConfig{Host: "https://10.0.0.1:6443", Namespace: "team", BearerToken: "alice-token",
				TLS: TLSConfig{CAData: []byte("PROD-CA")}},
		},
		{
			name: "insecure override drops the CA",
			o:    Overrides{InsecureSkipTLSVerify: true},
			want: RESTConfig{Host: "https://prod:6443", Namespace: "team", BearerToken: "alice-token",
				TLS: TLSConfig{Insecure: true, ServerName: "prod.internal"}},
		},
		{
			name: "CA override clears insecure",
			o:    Overrides{Context: "dev-bob", CertificateAuthority: caPath},
			want: RESTConfig{Host: "https://dev:6443", Namespace: "default", Username: "bob", Password: "secret",
				TLS: TLSConfig{CAData: []byte("OVERRIDE-CA")}},
		},
		{
			name: "token and client cert overrides",
			o:    Overrides{Token: "t2", ClientCertificate: certPath, ClientKey: keyPath},
			want: RESTConfig{Host: "https://prod:6443", Namespace: "team", BearerToken: "t2",
				TLS: TLSConfig{CAData: []byte("PROD-CA"), ServerName: "prod.internal", CertData: []byte("OVERRIDE-CERT"), KeyData: []byte("OVERRIDE-KEY")}},
		},
		{
			name: "basic auth overrides",
			o:    Overrides{Context: "dev-bob", Username: "root", Password: "pw"},
			want: RESTConfig{Host: "https://dev:6443", Namespace: "default", Username: "root", Password: "pw",
				TLS: TLSConfig{Insecure: true}},
		},
		{
			name: "server override keeps the context's credentials and CA",
			o:    Overrides{Server: "http://localhost:8080"},
			want: RESTConfig{Host: "http://localhost:8080", Namespace: "team", BearerToken: "alice-token",
				TLS: TLSConfig{CAData: []byte("PROD-CA")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cfg.ClientConfig(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}

	t.Run("server override on empty config", func(t *testing.T) {
		got, err := (&Config{}).ClientConfig(Overrides{Server: "https://x:1"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Host != "https://x:1" || got.Namespace != "default" {
			t.Errorf("got %+v", got)
		}
	})
}

func TestClientConfigErrors(t *testing.T) {
	cfg := &Config{
		Clusters: []NamedCluster{
			{Name: "c", Cluster: Cluster{Server: "https://c"}},
			{Name: "noserver", Cluster: Cluster{}},
			{Name: "badca", Cluster: Cluster{Server: "https://c", CertificateAuthority: "/nonexistent/ca.crt"}},
		},
		Users: []NamedUser{
			{Name: "u", User: AuthInfo{Token: "t"}},
			{Name: "both", User: AuthInfo{Token: "t", Username: "x", Password: "y"}},
			{Name: "certonly", User: AuthInfo{ClientCertificateData: []byte("C")}},
		},
		Contexts: []NamedContext{
			{Name: "ok", Context: Context{Cluster: "c", User: "u"}},
			{Name: "dangling-cluster", Context: Context{Cluster: "gone", User: "u"}},
			{Name: "dangling-user", Context: Context{Cluster: "c", User: "gone"}},
		},
	}
	tests := []struct {
		name    string
		cfg     *Config
		o       Overrides
		wantMsg string
		wantIs  error
	}{
		{name: "empty config", cfg: &Config{}, wantMsg: "invalid configuration: no configuration has been provided", wantIs: ErrEmptyConfig},
		{name: "nil config", cfg: nil, wantIs: ErrEmptyConfig},
		{name: "no current context", cfg: cfg, wantIs: ErrEmptyConfig},
		{name: "missing context override", cfg: cfg, o: Overrides{Context: "x"}, wantMsg: `context "x" does not exist`},
		{name: "missing current context", cfg: &Config{CurrentContext: "gone"}, wantMsg: `context "gone" does not exist`},
		{name: "context names missing cluster", cfg: cfg, o: Overrides{Context: "dangling-cluster"}, wantMsg: `cluster "gone" does not exist`},
		{name: "context names missing user", cfg: cfg, o: Overrides{Context: "dangling-user"}, wantMsg: `user "gone" does not exist`},
		{name: "missing cluster override", cfg: cfg, o: Overrides{Context: "ok", Cluster: "nope"}, wantMsg: `cluster "nope" does not exist`},
		{name: "missing user override", cfg: cfg, o: Overrides{Context: "ok", User: "nope"}, wantMsg: `user "nope" does not exist`},
		{name: "cluster without server", cfg: cfg, o: Overrides{Context: "ok", Cluster: "noserver"}, wantMsg: `invalid configuration: no server found for cluster "noserver"`},
		{name: "unreadable CA", cfg: cfg, o: Overrides{Context: "ok", Cluster: "badca"}, wantMsg: `read certificate-authority of cluster "badca"`, wantIs: os.ErrNotExist},
		{name: "token and basic auth", cfg: cfg, o: Overrides{Context: "ok", User: "both"}, wantMsg: "only one is allowed"},
		{name: "cert without key", cfg: cfg, o: Overrides{Context: "ok", User: "certonly"}, wantMsg: "must be set together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.ClientConfig(tt.o)
			if err == nil {
				t.Fatal("expected error")
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}

	var nf *NotExistError
	_, err := cfg.ClientConfig(Overrides{Context: "x"})
	if !errors.As(err, &nf) || nf.Kind != "context" || nf.Name != "x" {
		t.Errorf("want *NotExistError{context x}, got %#v", err)
	}
}

func TestRelativePaths(t *testing.T) {
	root := t.TempDir()
	// Two kubeconfigs in different directories, each with relative paths.
	writeFile(t, root, "one/pki/ca.crt", "CA-ONE")
	writeFile(t, root, "one/pki/user.crt", "CERT-ONE")
	writeFile(t, root, "one/pki/user.key", "KEY-ONE")
	one := writeFile(t, root, "one/config", `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: {server: https://one, certificate-authority: pki/ca.crt}
users:
- name: one
  user: {client-certificate: pki/user.crt, client-key: ./pki/user.key}
contexts:
- name: one
  context: {cluster: one, user: one}
current-context: one
`)
	writeFile(t, root, "two/token", "  TOKEN-TWO\n")
	writeFile(t, root, "two/ca.crt", "CA-TWO")
	two := writeFile(t, root, "two/config", `apiVersion: v1
kind: Config
clusters:
- name: two
  cluster: {server: https://two, certificate-authority: ca.crt}
users:
- name: two
  user: {tokenFile: token}
contexts:
- name: two
  context: {cluster: two, user: two}
`)
	// Run from an unrelated directory so cwd-relative resolution would fail.
	t.Chdir(t.TempDir())
	t.Setenv(EnvVar, one+string(filepath.ListSeparator)+two)

	cfg, _, err := LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ctx  string
		want RESTConfig
	}{
		{"one", RESTConfig{Host: "https://one", Namespace: "default",
			TLS: TLSConfig{CAData: []byte("CA-ONE"), CertData: []byte("CERT-ONE"), KeyData: []byte("KEY-ONE")}}},
		{"two", RESTConfig{Host: "https://two", Namespace: "default", BearerToken: "TOKEN-TWO",
			TLS: TLSConfig{CAData: []byte("CA-TWO")}}},
	}
	for _, tt := range tests {
		t.Run(tt.ctx, func(t *testing.T) {
			got, err := cfg.ClientConfig(Overrides{Context: tt.ctx})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}

	// Override paths are relative to the working directory instead.
	writeFile(t, ".", "cwd-ca.crt", "CA-CWD")
	got, err := cfg.ClientConfig(Overrides{Context: "one", CertificateAuthority: "cwd-ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.TLS.CAData) != "CA-CWD" {
		t.Errorf("CA = %q, want CA-CWD", got.TLS.CAData)
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "config")
	in := &Config{
		Clusters: []NamedCluster{{Name: "kubelab", Cluster: Cluster{
			Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("-----BEGIN CERTIFICATE-----\nx\n"),
			TLSServerName: "kubernetes", InsecureSkipTLSVerify: false, CertificateAuthority: "ca.crt",
		}}},
		Users: []NamedUser{
			{Name: "admin", User: AuthInfo{ClientCertificateData: []byte{0, 1, 2, 255}, ClientKeyData: []byte("key"), ClientCertificate: "a.crt", ClientKey: "a.key"}},
			{Name: "tok", User: AuthInfo{Token: "t", TokenFile: "tf", Username: "u", Password: "p"}},
		},
		Contexts:       []NamedContext{{Name: "admin@kubelab", Context: Context{Cluster: "kubelab", User: "admin", Namespace: "ns"}}},
		CurrentContext: "admin@kubelab",
	}
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	if in.APIVersion != "" || in.Kind != "" {
		t.Error("Write modified its input")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apiVersion: v1", "kind: Config", "current-context: admin@kubelab",
		"client-certificate-data: AAEC/w==", "certificate-authority-data: ", "tls-server-name: kubernetes", "tokenFile: tf", "preferences: {}"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("written YAML lacks %q:\n%s", want, raw)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("leftover files next to config: %v", entries)
	}

	out, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range out.Clusters {
		if out.Clusters[i].Cluster.LocationOfOrigin != path {
			t.Errorf("cluster origin = %q, want %q", out.Clusters[i].Cluster.LocationOfOrigin, path)
		}
		out.Clusters[i].Cluster.LocationOfOrigin = ""
	}
	for i := range out.Users {
		out.Users[i].User.LocationOfOrigin = ""
	}
	want := *in
	want.APIVersion, want.Kind = APIVersion, Kind
	if !reflect.DeepEqual(*out, want) {
		t.Errorf("round trip mismatch:\ngot  %+v\nwant %+v", *out, want)
	}

	// Overwriting replaces the file atomically and keeps 0600.
	in.CurrentContext = ""
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	out, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.CurrentContext != "" {
		t.Errorf("current-context after rewrite = %q", out.CurrentContext)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, wantMsg string
	}{
		{"malformed yaml", "clusters: [", "load kubeconfig"},
		{"duplicate cluster", "clusters:\n- name: a\n  cluster: {server: x}\n- name: a\n  cluster: {server: y}\n", `duplicate cluster name "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, dir, tt.name, tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want %q", err, tt.wantMsg)
			}
		})
	}
	empty, err := Load(writeFile(t, dir, "empty", ""))
	if err != nil || !empty.isEmpty() {
		t.Errorf("empty file: cfg=%+v err=%v", empty, err)
	}
}

// testPKI is a CA plus a serving and a client certificate, PEM encoded.
type testPKI struct {
	caPEM, serverCert, serverKey, clientCert, clientKey []byte
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey := mustKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		key := mustKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	p := testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.serverCert, p.serverKey = issue(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTLSClientConfig(t *testing.T) {
	p := newTestPKI(t)
	other := newTestPKI(t)

	serverCert, err := tls.X509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(p.caPEM)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	srv.StartTLS()
	defer srv.Close()

	tests := []struct {
		name       string
		tls        TLSConfig
		wantBuild  string // error substring from TLSClientConfig
		wantReqErr bool
	}{
		{name: "CA and client cert", tls: TLSConfig{CAData: p.caPEM, CertData: p.clientCert, KeyData: p.clientKey}},
		{name: "insecure with client cert", tls: TLSConfig{Insecure: true, CertData: p.clientCert, KeyData: p.clientKey}},
		{name: "server name mismatch", tls: TLSConfig{CAData: p.caPEM, CertData: p.clientCert, KeyData: p.clientKey, ServerName: "wrong.example"}, wantReqErr: true},
		{name: "wrong CA", tls: TLSConfig{CAData: other.caPEM, CertData: p.clientCert, KeyData: p.clientKey}, wantReqErr: true},
		{name: "client cert from another CA", tls: TLSConfig{CAData: p.caPEM, CertData: other.clientCert, KeyData: other.clientKey}, wantReqErr: true},
		{name: "no client cert", tls: TLSConfig{CAData: p.caPEM}, wantReqErr: true},
		{name: "garbage CA", tls: TLSConfig{CAData: []byte("nope")}, wantBuild: "no valid PEM"},
		{name: "cert without key", tls: TLSConfig{CertData: p.clientCert}, wantBuild: "must be set together"},
		{name: "mismatched key", tls: TLSConfig{CertData: p.clientCert, KeyData: other.clientKey}, wantBuild: "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &RESTConfig{Host: srv.URL, TLS: tt.tls}
			tc, err := rc.TLSClientConfig()
			if tt.wantBuild != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantBuild) {
					t.Fatalf("err = %v, want %q", err, tt.wantBuild)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.InsecureSkipVerify != tt.tls.Insecure || tc.ServerName != tt.tls.ServerName {
				t.Errorf("tls.Config fields not copied: %+v", tc)
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
			resp, err := client.Get(rc.Host)
			if tt.wantReqErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("expected request to fail")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 64)
			n, _ := resp.Body.Read(buf)
			if got := string(buf[:n]); got != "client" {
				t.Errorf("server saw CN %q, want client", got)
			}
		})
	}
}
