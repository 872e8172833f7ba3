package pki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The apiserver's client certificate for kubelets (--kubelet-client-certificate and
// --kubelet-client-key default to these files in the certificate directory). The kubelet
// server authorizes this user name, as upstream's default RBAC binds it to
// system:kubelet-api-admin; it carries no group, so at the apiserver it is nobody special.
const (
	KubeletClientCommonName = "kube-apiserver-kubelet-client"
	KubeletClientCertFile   = "apiserver-kubelet-client.crt"
	KubeletClientKeyFile    = "apiserver-kubelet-client.key"
	KubeletClientValidity   = 365 * 24 * time.Hour
)

// IssueServingCert issues a serving certificate (ExtKeyUsage ServerAuth) signed by the
// cluster CA for hosts (IPs become IP SANs, the rest DNS SANs), e.g. a kubelet's node name
// and address. At least one host is required. Validity must be positive; it is capped at
// the CA's expiry. Nothing is written to disk.
func (b *Bundle) IssueServingCert(commonName string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if commonName == "" {
		return nil, nil, errors.New("pki: issue serving certificate: empty common name")
	}
	if validity <= 0 {
		return nil, nil, fmt.Errorf("pki: issue serving certificate %q: validity %v must be positive", commonName, validity)
	}
	sans := newSANs(hosts...)
	if len(sans.dns) == 0 && len(sans.ips) == 0 {
		return nil, nil, fmt.Errorf("pki: issue serving certificate %q: no hosts", commonName)
	}
	kp, err := issue(b.ca, pkix.Name{CommonName: commonName}, x509.ExtKeyUsageServerAuth, sans, b.now(), validity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	return kp.certPEM, kp.keyPEM, nil
}

// EnsureClientCertFiles loads the client certificate at certPath and keyPath and reuses it
// when it chains to the cluster CA for ClientAuth, names commonName with exactly
// organizations, and does not expire within RenewBefore. Otherwise it issues a new one with
// IssueClientCert and writes it atomically (key 0600 first, then certificate 0644),
// recording both paths in b.Written. Files that exist but cannot be read for reasons other
// than absence make it fail rather than overwrite them.
func (b *Bundle) EnsureClientCertFiles(certPath, keyPath, commonName string, organizations []string, validity time.Duration) (tls.Certificate, error) {
	kp, err := loadPair(certPath, keyPath)
	if err == nil {
		err = verify(kp.cert, b.CAPool, x509.ExtKeyUsageClientAuth, b.now(), RenewBefore)
	}
	if err == nil && (kp.cert.Subject.CommonName != commonName || !slices.Equal(kp.cert.Subject.Organization, organizations)) {
		err = fmt.Errorf("%s has subject %q: %w", certPath, kp.cert.Subject, errInvalid)
	}
	if err != nil {
		if !regenerable(err) {
			return tls.Certificate{}, fmt.Errorf("pki: load %s: %w", certPath, err)
		}
		certPEM, keyPEM, err := b.IssueClientCert(commonName, organizations, validity)
		if err != nil {
			return tls.Certificate{}, err
		}
		kp = &keyPair{certPEM: certPEM, keyPEM: keyPEM}
		if err := b.writePair(kp, certPath, keyPath); err != nil {
			return tls.Certificate{}, err
		}
	}
	pair, err := tls.X509KeyPair(kp.certPEM, kp.keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	return pair, nil
}
