package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestIssueServingCert(t *testing.T) {
	b := mustEnsure(t, Config{Dir: t.TempDir(), AdvertiseURL: testURL})
	certPEM, keyPEM, err := b.IssueServingCert("node-1", []string{"node-1", "127.0.0.1", "", "Node-1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "node-1" || !slices.Equal(cert.DNSNames, []string{"node-1"}) ||
		len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("subject %q, DNS SANs %v, IP SANs %v", cert.Subject, cert.DNSNames, cert.IPAddresses)
	}
	for _, host := range []string{"node-1", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: b.CAPool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("a serving certificate verifies for client auth")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: b.CAPool, DNSName: "other"}); err == nil {
		t.Error("verifies for a host it was not issued for")
	}
	if d := cert.NotAfter.Sub(time.Now()); d > time.Hour || d < 50*time.Minute {
		t.Errorf("validity ends in %v, want about an hour", d)
	}

	for _, bad := range []struct {
		cn    string
		hosts []string
		v     time.Duration
	}{{"", []string{"a"}, time.Hour}, {"a", nil, time.Hour}, {"a", []string{" "}, time.Hour}, {"a", []string{"a"}, 0}} {
		if _, _, err := b.IssueServingCert(bad.cn, bad.hosts, bad.v); err == nil {
			t.Errorf("IssueServingCert(%q, %q, %v) succeeded", bad.cn, bad.hosts, bad.v)
		}
	}
}

func TestEnsureClientCertFiles(t *testing.T) {
	dir := t.TempDir()
	b := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL})
	certPath, keyPath := filepath.Join(dir, KubeletClientCertFile), filepath.Join(dir, KubeletClientKeyFile)
	ensure := func(b *Bundle) tls.Certificate {
		t.Helper()
		pair, err := b.EnsureClientCertFiles(certPath, keyPath, KubeletClientCommonName, nil, KubeletClientValidity)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}

	first := ensure(b)
	if !slices.Equal(b.Written[len(b.Written)-2:], []string{keyPath, certPath}) {
		t.Errorf("Written = %v", b.Written)
	}
	cert := readCert(t, certPath)
	if cert.Subject.CommonName != KubeletClientCommonName || len(cert.Subject.Organization) != 0 {
		t.Errorf("subject %q", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}
	if fi, _ := os.Stat(keyPath); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi)
	}

	// Reused on restart.
	b2 := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL})
	if again := ensure(b2); !bytes.Equal(again.Certificate[0], first.Certificate[0]) || len(b2.Written) != 0 {
		t.Errorf("certificate not reused (written %v)", b2.Written)
	}

	// Re-issued when it names someone else, or when it no longer chains to the CA.
	other, otherKey, _ := b.IssueClientCert("someone", []string{"system:masters"}, time.Hour)
	mustWrite(t, dir, KubeletClientCertFile, other)
	mustWrite(t, dir, KubeletClientKeyFile, otherKey)
	if again := ensure(b2); bytes.Equal(again.Certificate[0], first.Certificate[0]) || readCert(t, certPath).Subject.CommonName != KubeletClientCommonName {
		t.Error("a certificate for another user was kept")
	}
	mustRemoveAll(t, dir, CACertFile, CAKeyFile)
	b3 := mustEnsure(t, Config{Dir: dir, AdvertiseURL: testURL})
	ensure(b3)
	if _, err := readCert(t, certPath).Verify(x509.VerifyOptions{Roots: b3.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("not re-issued under the new CA: %v", err)
	}
}
