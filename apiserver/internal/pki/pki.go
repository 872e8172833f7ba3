// Package pki bootstraps the apiserver's certificate directory (--cert-dir):
// a self-signed cluster CA, the apiserver's serving certificate, an admin
// client certificate and an admin kubeconfig that stock kubectl can use.
//
// Ensure creates what is missing on first start and reuses what is there on
// restart. Every file is written atomically (temporary file, fsync, rename),
// keys first and certificates second, so an interrupted bootstrap leaves at
// worst a key that does not match its certificate; the next Ensure detects
// that and regenerates the pair. Ensure must not run concurrently on the same
// directory.
package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"kubelab.io/client/atomicfile"
	"kubelab.io/client/kubeconfig"
)

// Names and lifetimes used by Ensure.
const (
	CACommonName      = "kubelab-ca"
	ServingCommonName = "kube-apiserver"
	AdminCommonName   = "kubernetes-admin"
	MastersGroup      = "system:masters"
	ClusterName       = "kubelab"
	AdminUser         = "admin"

	CAValidity      = 10 * 365 * 24 * time.Hour
	ServingValidity = 365 * 24 * time.Hour
	AdminValidity   = 365 * 24 * time.Hour
	// RenewBefore is how long before expiry Ensure re-issues a leaf certificate.
	RenewBefore = 30 * 24 * time.Hour
)

// File names inside Config.Dir.
const (
	CACertFile          = "ca.crt"
	CAKeyFile           = "ca.key"
	ServingCertFile     = "apiserver.crt"
	ServingKeyFile      = "apiserver.key"
	AdminCertFile       = "admin.crt"
	AdminKeyFile        = "admin.key"
	AdminKubeconfigFile = "admin.kubeconfig"
)

// Config configures Ensure.
type Config struct {
	// Dir is the certificate directory; it is created (0700) if missing.
	Dir string
	// Hosts are extra SANs for the serving certificate (hostnames, advertise
	// address, ...). Entries that parse as IPs become IP SANs, the rest DNS
	// SANs.
	Hosts []string
	// AdvertiseURL is the https URL written into kubeconfigs, e.g.
	// https://127.0.0.1:6443. Required.
	AdvertiseURL string
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// CA is the cluster certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Signer  crypto.Signer
	CertPEM []byte
}

// Paths are the absolute locations of the files Ensure manages.
type Paths struct {
	CACert, CAKey           string
	ServingCert, ServingKey string
	AdminCert, AdminKey     string
	AdminKubeconfig         string
}

// Bundle is the loaded or freshly created PKI of one certificate directory.
type Bundle struct {
	CA CA
	// CAPool contains only the cluster CA; use it to verify client
	// certificates (tls.Config.ClientCAs) and for in-process clients.
	CAPool *x509.CertPool
	// ServingCert is the apiserver's serving certificate with Leaf set.
	ServingCert tls.Certificate
	Paths       Paths
	// AdvertiseURL is the server URL written into kubeconfigs.
	AdvertiseURL string
	// Written lists the files Ensure (re)wrote, in order; it is empty when
	// everything was reused.
	Written []string

	ca  *keyPair
	now func() time.Time
}

// Ensure loads the PKI in cfg.Dir, creating or repairing it as needed:
//
//   - the CA is reused if ca.crt and ca.key parse, match and the CA is
//     currently valid; otherwise a new CA is created, which in turn forces new
//     leaf certificates (they no longer verify).
//   - the serving certificate is re-issued (with the existing CA) if it is
//     missing, corrupt, does not verify for ServerAuth, lacks a requested SAN
//     or expires within RenewBefore.
//   - the admin certificate is re-issued under the same conditions (for
//     ClientAuth, CN kubernetes-admin, O system:masters).
//   - admin.kubeconfig is rewritten unless its current context already
//     resolves to AdvertiseURL with the current CA and admin credentials.
//
// Keys and admin.kubeconfig are 0600, certificates 0644. Files that exist but
// cannot be read for reasons other than absence (e.g. permissions) make
// Ensure fail rather than regenerate.
func Ensure(cfg Config) (*Bundle, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pki: Config.Dir is required")
	}
	if err := checkAdvertiseURL(cfg.AdvertiseURL); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create cert dir: %w", err)
	}
	removeStaleTemps(dir)

	b := &Bundle{
		Paths: Paths{
			CACert: filepath.Join(dir, CACertFile), CAKey: filepath.Join(dir, CAKeyFile),
			ServingCert: filepath.Join(dir, ServingCertFile), ServingKey: filepath.Join(dir, ServingKeyFile),
			AdminCert: filepath.Join(dir, AdminCertFile), AdminKey: filepath.Join(dir, AdminKeyFile),
			AdminKubeconfig: filepath.Join(dir, AdminKubeconfigFile),
		},
		AdvertiseURL: cfg.AdvertiseURL,
		now:          cfg.Clock,
	}
	if b.now == nil {
		b.now = time.Now
	}

	if err := b.ensureCA(); err != nil {
		return nil, err
	}
	serving, err := b.ensureServing(cfg.Hosts)
	if err != nil {
		return nil, err
	}
	b.ServingCert, err = tls.X509KeyPair(serving.certPEM, serving.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: serving certificate: %w", err)
	}
	b.ServingCert.Leaf = serving.cert

	admin, err := b.ensureAdmin()
	if err != nil {
		return nil, err
	}
	if !b.kubeconfigCurrent(b.Paths.AdminKubeconfig, admin) {
		if err := b.WriteKubeconfig(b.Paths.AdminKubeconfig, AdminUser, admin.certPEM, admin.keyPEM); err != nil {
			return nil, err
		}
		b.Written = append(b.Written, b.Paths.AdminKubeconfig)
	}
	return b, nil
}

// checkAdvertiseURL requires an absolute https URL.
func checkAdvertiseURL(s string) error {
	if s == "" {
		return errors.New("pki: Config.AdvertiseURL is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("pki: AdvertiseURL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("pki: AdvertiseURL %q must be an https URL with a host", s)
	}
	return nil
}

// ensureCA loads or creates the CA and sets b.ca, b.CA and b.CAPool.
func (b *Bundle) ensureCA() error {
	now := b.now()
	ca, err := loadPair(b.Paths.CACert, b.Paths.CAKey)
	if err == nil {
		err = checkCA(ca.cert, now)
	}
	if err != nil {
		if !regenerable(err) {
			return fmt.Errorf("pki: load CA: %w", err)
		}
		if ca, err = newCA(CACommonName, now, CAValidity); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		if err := b.writePair(ca, b.Paths.CACert, b.Paths.CAKey); err != nil {
			return err
		}
	}
	b.ca = ca
	b.CA = CA{Cert: ca.cert, Signer: ca.key, CertPEM: ca.certPEM}
	b.CAPool = x509.NewCertPool()
	b.CAPool.AddCert(ca.cert)
	return nil
}

// checkCA reports (wrapping errInvalid) a certificate that cannot serve as
// the cluster CA at now.
func checkCA(cert *x509.Certificate, now time.Time) error {
	switch {
	case !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%q is not a CA certificate: %w", cert.Subject.CommonName, errInvalid)
	case now.Before(cert.NotBefore) || now.After(cert.NotAfter):
		return fmt.Errorf("CA %q is not valid at %s: %w", cert.Subject.CommonName, now.Format(time.RFC3339), errInvalid)
	}
	return nil
}

// ensureServing loads or (re-)issues the serving certificate.
func (b *Bundle) ensureServing(hosts []string) (*keyPair, error) {
	now := b.now()
	sans := servingSANs(hosts)
	kp, err := loadPair(b.Paths.ServingCert, b.Paths.ServingKey)
	if err == nil {
		err = verify(kp.cert, b.CAPool, x509.ExtKeyUsageServerAuth, now, RenewBefore)
	}
	if err == nil {
		if missing := sans.missingFrom(kp.cert); len(missing) > 0 {
			err = fmt.Errorf("serving certificate lacks SANs %v: %w", missing, errInvalid)
		}
	}
	if err == nil {
		return kp, nil
	}
	if !regenerable(err) {
		return nil, fmt.Errorf("pki: load serving certificate: %w", err)
	}
	kp, err = issue(b.ca, pkix.Name{CommonName: ServingCommonName}, x509.ExtKeyUsageServerAuth, sans, now, ServingValidity)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := b.writePair(kp, b.Paths.ServingCert, b.Paths.ServingKey); err != nil {
		return nil, err
	}
	return kp, nil
}

// servingSANs is the fixed SAN set of the apiserver plus the host name and
// extra.
func servingSANs(extra []string) subjectAltNames {
	hosts := []string{"localhost", "127.0.0.1", "::1", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return newSANs(append(hosts, extra...)...)
}

// ensureAdmin loads or (re-)issues the admin client certificate.
func (b *Bundle) ensureAdmin() (*keyPair, error) {
	now := b.now()
	kp, err := loadPair(b.Paths.AdminCert, b.Paths.AdminKey)
	if err == nil {
		err = verify(kp.cert, b.CAPool, x509.ExtKeyUsageClientAuth, now, RenewBefore)
	}
	if err == nil && (kp.cert.Subject.CommonName != AdminCommonName || !slices.Contains(kp.cert.Subject.Organization, MastersGroup)) {
		err = fmt.Errorf("admin certificate has subject %q: %w", kp.cert.Subject, errInvalid)
	}
	if err == nil {
		return kp, nil
	}
	if !regenerable(err) {
		return nil, fmt.Errorf("pki: load admin certificate: %w", err)
	}
	subject := pkix.Name{CommonName: AdminCommonName, Organization: []string{MastersGroup}}
	kp, err = issue(b.ca, subject, x509.ExtKeyUsageClientAuth, subjectAltNames{}, now, AdminValidity)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := b.writePair(kp, b.Paths.AdminCert, b.Paths.AdminKey); err != nil {
		return nil, err
	}
	return kp, nil
}

// writePair writes the key (0600) and then the certificate (0644).
func (b *Bundle) writePair(kp *keyPair, certPath, keyPath string) error {
	if err := atomicfile.Write(keyPath, kp.keyPEM, 0o600); err != nil {
		return fmt.Errorf("pki: write %s: %w", keyPath, err)
	}
	if err := atomicfile.Write(certPath, kp.certPEM, 0o644); err != nil {
		return fmt.Errorf("pki: write %s: %w", certPath, err)
	}
	b.Written = append(b.Written, keyPath, certPath)
	return nil
}

// kubeconfigCurrent reports whether the kubeconfig at path resolves, through
// its current context, to b.AdvertiseURL with the CA and the credentials of
// kp and nothing else that would change how it connects.
func (b *Bundle) kubeconfigCurrent(path string, kp *keyPair) bool {
	cfg, err := kubeconfig.Load(path)
	if err != nil {
		return false
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		return false
	}
	return rc.Host == b.AdvertiseURL &&
		!rc.TLS.Insecure && rc.TLS.ServerName == "" &&
		rc.BearerToken == "" && rc.Username == "" && rc.Password == "" &&
		bytes.Equal(rc.TLS.CAData, b.CA.CertPEM) &&
		bytes.Equal(rc.TLS.CertData, kp.certPEM) &&
		bytes.Equal(rc.TLS.KeyData, kp.keyPEM)
}

// IssueClientCert issues a client certificate (ExtKeyUsage ClientAuth) signed
// by the cluster CA with the given common name (the user name, e.g.
// "system:node:node-1") and organizations (the groups, e.g. "system:nodes").
// Validity must be positive; it is capped at the CA's expiry. The key is a
// fresh ECDSA P-256 key in PKCS#8 PEM. Nothing is written to disk.
func (b *Bundle) IssueClientCert(commonName string, organizations []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if commonName == "" {
		return nil, nil, errors.New("pki: issue client certificate: empty common name")
	}
	if validity <= 0 {
		return nil, nil, fmt.Errorf("pki: issue client certificate %q: validity %v must be positive", commonName, validity)
	}
	subject := pkix.Name{CommonName: commonName, Organization: slices.Clone(organizations)}
	kp, err := issue(b.ca, subject, x509.ExtKeyUsageClientAuth, subjectAltNames{}, b.now(), validity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	return kp.certPEM, kp.keyPEM, nil
}

// WriteKubeconfig atomically writes (0600) a self-contained kubeconfig for
// user at path: cluster "kubelab" at b.AdvertiseURL with the CA embedded,
// user named user with certPEM/keyPEM embedded, and context "<user>@kubelab"
// as current-context. The certificate must match the key and chain to the
// cluster CA for ClientAuth.
func (b *Bundle) WriteKubeconfig(path, user string, certPEM, keyPEM []byte) error {
	if user == "" {
		return errors.New("pki: write kubeconfig: empty user name")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("pki: write kubeconfig for %q: %w", user, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("pki: write kubeconfig for %q: %w", user, err)
	}
	if err := verify(leaf, b.CAPool, x509.ExtKeyUsageClientAuth, b.now(), 0); err != nil {
		return fmt.Errorf("pki: write kubeconfig for %q: %w", user, err)
	}
	contextName := user + "@" + ClusterName
	cfg := &kubeconfig.Config{
		Clusters: []kubeconfig.NamedCluster{{Name: ClusterName, Cluster: kubeconfig.Cluster{
			Server:                   b.AdvertiseURL,
			CertificateAuthorityData: b.CA.CertPEM,
		}}},
		Users: []kubeconfig.NamedUser{{Name: user, User: kubeconfig.AuthInfo{
			ClientCertificateData: certPEM,
			ClientKeyData:         keyPEM,
		}}},
		Contexts: []kubeconfig.NamedContext{{Name: contextName, Context: kubeconfig.Context{
			Cluster: ClusterName,
			User:    user,
		}}},
		CurrentContext: contextName,
	}
	if err := kubeconfig.Write(path, cfg); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
