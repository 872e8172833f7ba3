package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"kubelab.io/client/kubeconfig"
)

const testURL = "https://127.0.0.1:6443"

func mustEnsure(t *testing.T, cfg Config) *Bundle {
	t.Helper()
	b, err := Ensure(cfg)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return b
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCert(data)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// snapshot returns the contents of every file in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

// changed returns the names whose contents differ between two snapshots.
func changed(before, after map[string]string) []string {
	var names []string
	for name, content := range after {
		if before[name] != content {
			names = append(names, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func TestEnsureFirstRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	b := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL, Hosts: []string{"10.1.2.3", "API.Example.com", " ", "fd00::1"}})

	wantModes := map[string]os.FileMode{
		CACertFile: 0o644, CAKeyFile: 0o600, ServingCertFile: 0o644, ServingKeyFile: 0o600,
		AdminCertFile: 0o644, AdminKeyFile: 0o600, AdminKubeconfigFile: 0o600,
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(wantModes) {
		t.Errorf("dir has %d entries, want %d: %v", len(entries), len(wantModes), entries)
	}
	for name, mode := range wantModes {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s mode = %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	if len(b.Written) != 7 {
		t.Errorf("Written = %v, want 7 files", b.Written)
	}

	ca := readCert(t, b.Paths.CACert)
	if ca.Subject.CommonName != CACommonName || !ca.IsCA {
		t.Errorf("CA subject %q IsCA %v", ca.Subject, ca.IsCA)
	}
	if d := ca.NotAfter.Sub(time.Now()); d < CAValidity-time.Hour || d > CAValidity {
		t.Errorf("CA lifetime %v, want ~10y", d)
	}
	if !ca.Equal(b.CA.Cert) || b.CA.Signer == nil || !bytes.Equal(b.CA.CertPEM, mustRead(t, b.Paths.CACert)) {
		t.Error("Bundle.CA does not match ca.crt")
	}

	srv := readCert(t, b.Paths.ServingCert)
	if !srv.Equal(b.ServingCert.Leaf) {
		t.Error("Bundle.ServingCert.Leaf does not match apiserver.crt")
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("serving cert does not verify for ServerAuth: %v", err)
	}
	if d := srv.NotAfter.Sub(time.Now()); d < ServingValidity-time.Hour || d > ServingValidity {
		t.Errorf("serving lifetime %v, want ~1y", d)
	}
	host, _ := os.Hostname()
	for _, name := range []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", strings.ToLower(host), "api.example.com"} {
		if err := srv.VerifyHostname(name); err != nil {
			t.Errorf("serving cert: %v", err)
		}
	}
	var ips []string
	for _, ip := range srv.IPAddresses {
		ips = append(ips, ip.String())
	}
	slices.Sort(ips)
	if want := []string{"10.1.2.3", "127.0.0.1", "::1", "fd00::1"}; !reflect.DeepEqual(ips, want) {
		t.Errorf("IP SANs = %v, want %v", ips, want)
	}
	if slices.ContainsFunc(srv.DNSNames, func(n string) bool { return net.ParseIP(n) != nil }) {
		t.Errorf("IP in DNS SANs: %v", srv.DNSNames)
	}
}

func TestEnsureReuse(t *testing.T) {
	dir := t.TempDir()
	first := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL, Hosts: []string{"10.0.0.1"}})
	before := snapshot(t, dir)
	second := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL, Hosts: []string{"10.0.0.1"}})

	if second.CA.Cert.SerialNumber.Cmp(first.CA.Cert.SerialNumber) != 0 {
		t.Error("CA was regenerated on restart")
	}
	if !second.ServingCert.Leaf.Equal(first.ServingCert.Leaf) {
		t.Error("serving cert was regenerated on restart")
	}
	if len(second.Written) != 0 {
		t.Errorf("Written = %v, want none", second.Written)
	}
	if c := changed(before, snapshot(t, dir)); len(c) != 0 {
		t.Errorf("files changed on restart: %v", c)
	}
}

func TestEnsureReissuesOnlyServing(t *testing.T) {
	start := time.Now()
	tests := []struct {
		name        string
		second      Config
		wantChanged []string
	}{
		{
			name:        "new SAN requested",
			second:      Config{Hosts: []string{"10.0.0.1", "10.0.0.2", "new.example"}},
			wantChanged: []string{ServingCertFile, ServingKeyFile},
		},
		{
			name:        "fewer SANs keeps the cert",
			second:      Config{},
			wantChanged: nil,
		},
		{
			name: "serving cert expires within 30 days",
			// 340 days on, both 1-year leaf certificates are due; the CA is kept.
			second:      Config{Hosts: []string{"10.0.0.1"}, Clock: func() time.Time { return start.Add(340 * 24 * time.Hour) }},
			wantChanged: []string{AdminCertFile, AdminKeyFile, AdminKubeconfigFile, ServingCertFile, ServingKeyFile},
		},
		{
			name:        "advertise URL changed",
			second:      Config{Hosts: []string{"10.0.0.1"}, AdvertiseURL: "https://192.168.1.10:6443"},
			wantChanged: []string{AdminKubeconfigFile},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL, Hosts: []string{"10.0.0.1"}})
			before := snapshot(t, dir)

			cfg := tt.second
			cfg.Dir = dir
			if cfg.AdvertiseURL == "" {
				cfg.AdvertiseURL = testURL
			}
			second := mustEnsure(t, cfg)
			if got := changed(before, snapshot(t, dir)); !reflect.DeepEqual(got, tt.wantChanged) {
				t.Errorf("changed files = %v, want %v", got, tt.wantChanged)
			}
			if second.CA.Cert.SerialNumber.Cmp(first.CA.Cert.SerialNumber) != 0 {
				t.Error("CA was regenerated")
			}
			for _, h := range cfg.Hosts {
				if err := second.ServingCert.Leaf.VerifyHostname(h); err != nil {
					t.Error(err)
				}
			}
			kc, err := kubeconfig.Load(second.Paths.AdminKubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			if kc.Clusters[0].Cluster.Server != cfg.AdvertiseURL {
				t.Errorf("kubeconfig server = %q, want %q", kc.Clusters[0].Cluster.Server, cfg.AdvertiseURL)
			}
		})
	}
}

func TestEnsureRepairs(t *testing.T) {
	tests := []struct {
		name        string
		damage      func(t *testing.T, dir string)
		wantNewCA   bool
		wantChanged []string // when !wantNewCA
	}{
		{
			name:        "deleted serving key",
			damage:      func(t *testing.T, dir string) { mustRemove(t, dir, ServingKeyFile) },
			wantChanged: []string{ServingCertFile, ServingKeyFile},
		},
		{
			name:        "deleted admin cert",
			damage:      func(t *testing.T, dir string) { mustRemove(t, dir, AdminCertFile) },
			wantChanged: []string{AdminCertFile, AdminKeyFile, AdminKubeconfigFile},
		},
		{
			name:        "truncated admin key",
			damage:      func(t *testing.T, dir string) { truncate(t, dir, AdminKeyFile) },
			wantChanged: []string{AdminCertFile, AdminKeyFile, AdminKubeconfigFile},
		},
		{
			name: "serving key from another pair (interrupted re-issue)",
			damage: func(t *testing.T, dir string) {
				_, keyPEM, err := newKey()
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, dir, ServingKeyFile, keyPEM)
			},
			wantChanged: []string{ServingCertFile, ServingKeyFile},
		},
		{
			name:        "corrupt kubeconfig",
			damage:      func(t *testing.T, dir string) { mustWrite(t, dir, AdminKubeconfigFile, []byte("clusters: [")) },
			wantChanged: []string{AdminKubeconfigFile},
		},
		{
			name: "deleted kubeconfig and stale temp file",
			damage: func(t *testing.T, dir string) {
				mustRemove(t, dir, AdminKubeconfigFile)
				mustWrite(t, dir, ".ca.key.tmp-123", []byte("half"))
			},
			wantChanged: []string{".ca.key.tmp-123", AdminKubeconfigFile},
		},
		{
			name:      "deleted CA key",
			damage:    func(t *testing.T, dir string) { mustRemove(t, dir, CAKeyFile) },
			wantNewCA: true,
		},
		{
			name:      "truncated CA cert",
			damage:    func(t *testing.T, dir string) { truncate(t, dir, CACertFile) },
			wantNewCA: true,
		},
		{
			name: "everything but the CA cert missing",
			damage: func(t *testing.T, dir string) {
				mustRemoveAll(t, dir, CAKeyFile, ServingCertFile, ServingKeyFile, AdminKubeconfigFile)
			},
			wantNewCA: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL})
			tt.damage(t, dir)
			before := snapshot(t, dir)
			second := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL})

			newCA := second.CA.Cert.SerialNumber.Cmp(first.CA.Cert.SerialNumber) != 0
			if newCA != tt.wantNewCA {
				t.Errorf("new CA = %v, want %v", newCA, tt.wantNewCA)
			}
			if !tt.wantNewCA {
				if got := changed(before, snapshot(t, dir)); !reflect.DeepEqual(got, tt.wantChanged) {
					t.Errorf("changed files = %v, want %v", got, tt.wantChanged)
				}
			}
			// Whatever happened, the result must be consistent and stable.
			checkConsistent(t, second)
			before = snapshot(t, dir)
			third := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL})
			if len(third.Written) != 0 || len(changed(before, snapshot(t, dir))) != 0 {
				t.Errorf("repair was not stable: third run wrote %v", third.Written)
			}
		})
	}
}

func TestEnsureUnreadableFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	first := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL})
	// A read error other than "does not exist" (here EISDIR; EACCES behaves
	// the same for non-root) must fail Ensure rather than replace the CA.
	mustRemove(t, dir, CAKeyFile)
	if err := os.Mkdir(filepath.Join(dir, CAKeyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(Config{Dir: dir, AdvertiseURL: testURL}); err == nil {
		t.Fatal("Ensure regenerated an unreadable CA instead of failing")
	}
	if !readCert(t, first.Paths.CACert).Equal(first.CA.Cert) {
		t.Error("ca.crt was replaced")
	}
}

func TestEnsureConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{AdvertiseURL: testURL},
		{Dir: dir},
		{Dir: dir, AdvertiseURL: "http://127.0.0.1:6443"},
		{Dir: dir, AdvertiseURL: "127.0.0.1:6443"},
	} {
		if _, err := Ensure(cfg); err == nil {
			t.Errorf("Ensure(%+v) succeeded", cfg)
		}
	}
}

func TestAdminCert(t *testing.T) {
	b := mustEnsure(t, Config{Dir: t.TempDir(), AdvertiseURL: testURL})
	admin := readCert(t, b.Paths.AdminCert)
	if _, err := admin.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert does not verify for ClientAuth: %v", err)
	}
	if _, err := admin.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("admin cert verifies for ServerAuth")
	}
	if admin.Subject.CommonName != "kubernetes-admin" || !reflect.DeepEqual(admin.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin subject = %q", admin.Subject)
	}
}

// newMTLSServer starts an HTTPS server presenting b's serving cert and
// requiring client certs from b's CA. It replies with the client's CN and
// organizations. The server is bound before Ensure so its URL can be the
// advertise URL; it returns the URL and a start func to call after Ensure.
func newMTLSServer(t *testing.T) (url string, start func(b *Bundle)) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := r.TLS.PeerCertificates[0].Subject
		_, _ = io.WriteString(w, s.CommonName+"|"+strings.Join(s.Organization, ","))
	}))
	t.Cleanup(srv.Close)
	return "https://" + srv.Listener.Addr().String(), func(b *Bundle) {
		srv.TLS = &tls.Config{
			Certificates: []tls.Certificate{b.ServingCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    b.CAPool,
		}
		srv.StartTLS()
	}
}

// get performs a request with the kubeconfig at path and returns the body.
func get(t *testing.T, path string) (string, error) {
	t.Helper()
	cfg, err := kubeconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := rc.TLSClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	resp, err := client.Get(rc.Host + "/version")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestAdminKubeconfigWorks(t *testing.T) {
	url, start := newMTLSServer(t)
	b := mustEnsure(t, Config{Dir: t.TempDir(), AdvertiseURL: url})
	start(b)

	kc, err := kubeconfig.Load(b.Paths.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if kc.CurrentContext != "admin@kubelab" || kc.Clusters[0].Name != "kubelab" || kc.Users[0].Name != "admin" {
		t.Errorf("unexpected names in kubeconfig: %+v", kc)
	}
	if kc.Clusters[0].Cluster.CertificateAuthority != "" || kc.Users[0].User.ClientCertificate != "" || len(kc.Users[0].User.ClientKeyData) == 0 {
		t.Error("kubeconfig must embed data, not reference files")
	}
	body, err := get(t, b.Paths.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if body != "kubernetes-admin|system:masters" {
		t.Errorf("server saw %q", body)
	}
}

func TestIssueClientCertAndWriteKubeconfig(t *testing.T) {
	url, start := newMTLSServer(t)
	dir := t.TempDir()
	b := mustEnsure(t, Config{Dir: dir, AdvertiseURL: url})
	start(b)

	tests := []struct {
		cn   string
		orgs []string
		user string
		want string
	}{
		{"system:kube-scheduler", nil, "scheduler", "system:kube-scheduler|"},
		{"system:node:node-1", []string{"system:nodes"}, "node-1", "system:node:node-1|system:nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			certPEM, keyPEM, err := b.IssueClientCert(tt.cn, tt.orgs, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := parseCert(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			if d := cert.NotAfter.Sub(time.Now()); d > 24*time.Hour || d < 23*time.Hour {
				t.Errorf("validity %v, want ~24h", d)
			}
			path := filepath.Join(dir, "kubeconfigs", tt.user+".kubeconfig")
			if err := b.WriteKubeconfig(path, tt.user, certPEM, keyPEM); err != nil {
				t.Fatal(err)
			}
			kc, err := kubeconfig.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if kc.CurrentContext != tt.user+"@kubelab" {
				t.Errorf("current-context = %q", kc.CurrentContext)
			}
			body, err := get(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if body != tt.want {
				t.Errorf("server saw %q, want %q", body, tt.want)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		if _, _, err := b.IssueClientCert("", nil, time.Hour); err == nil {
			t.Error("empty CN accepted")
		}
		if _, _, err := b.IssueClientCert("x", nil, 0); err == nil {
			t.Error("zero validity accepted")
		}
		certPEM, keyPEM, err := b.IssueClientCert("x", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, otherKey, err := b.IssueClientCert("y", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.WriteKubeconfig(filepath.Join(dir, "bad"), "x", certPEM, otherKey); err == nil {
			t.Error("mismatched key accepted")
		}
		if err := b.WriteKubeconfig(filepath.Join(dir, "bad"), "", certPEM, keyPEM); err == nil {
			t.Error("empty user accepted")
		}
		foreign := mustEnsure(t, Config{Dir: t.TempDir(), AdvertiseURL: testURL})
		fc, fk, err := foreign.IssueClientCert("x", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.WriteKubeconfig(filepath.Join(dir, "bad"), "x", fc, fk); err == nil {
			t.Error("certificate from another CA accepted")
		}
		if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
			t.Error("a rejected kubeconfig was written")
		}
	})
}

// TestStockKubectl checks that /usr/bin/kubectl accepts admin.kubeconfig.
func TestStockKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil || testing.Short() {
		t.Skip("kubectl not available")
	}
	url, start := newMTLSServer(t)
	b := mustEnsure(t, Config{Dir: t.TempDir(), AdvertiseURL: url})
	start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", b.Paths.AdminKubeconfig, "get", "--raw", "/version")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "kubernetes-admin|system:masters" {
		t.Errorf("kubectl output %q", got)
	}
}

// checkConsistent verifies that the files on disk form a working set.
func checkConsistent(t *testing.T, b *Bundle) {
	t.Helper()
	for _, pair := range [][2]string{{b.Paths.CACert, b.Paths.CAKey}, {b.Paths.ServingCert, b.Paths.ServingKey}, {b.Paths.AdminCert, b.Paths.AdminKey}} {
		if _, err := tls.LoadX509KeyPair(pair[0], pair[1]); err != nil {
			t.Errorf("%s: %v", pair[0], err)
		}
	}
	for _, p := range []string{b.Paths.ServingCert, b.Paths.AdminCert} {
		if _, err := readCert(t, p).Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !b.kubeconfigCurrent(b.Paths.AdminKubeconfig, mustPair(t, b.Paths.AdminCert, b.Paths.AdminKey)) {
		t.Error("admin.kubeconfig does not match the admin cert and CA")
	}
}

func mustPair(t *testing.T, certPath, keyPath string) *keyPair {
	t.Helper()
	kp, err := loadPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustWrite(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func mustRemoveAll(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		mustRemove(t, dir, n)
	}
}

// truncate cuts a PEM file in half, as an interrupted non-atomic write would.
func truncate(t *testing.T, dir, name string) {
	t.Helper()
	p := filepath.Join(dir, name)
	data := mustRead(t, p)
	if block, _ := pem.Decode(data); block == nil {
		t.Fatalf("%s is not PEM", name)
	}
	mustWrite(t, dir, name, data[:len(data)/2])
}
