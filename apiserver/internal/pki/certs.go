package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// errInvalid marks file content that exists but cannot be used (malformed,
// mismatched, expired, wrong usage). Such files are regenerated; other I/O
// errors are returned to the caller instead.
var errInvalid = errors.New("invalid")

// clockSkew backdates NotBefore so that hosts with slightly slow clocks
// accept freshly issued certificates.
const clockSkew = 5 * time.Minute

// keyPair is a certificate with its private key and their PEM encodings.
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// regenerable reports whether err means "missing or unusable, make a new one"
// rather than an I/O failure that must be surfaced.
func regenerable(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errInvalid)
}

// loadPair reads and parses certPath and keyPath and checks that the key
// belongs to the certificate. Content problems wrap errInvalid.
func loadPair(certPath, keyPath string) (*keyPair, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("%s does not match %s: %w", keyPath, certPath, errInvalid)
	}
	return &keyPair{cert: cert, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// parseCert decodes a single PEM "CERTIFICATE" block.
func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate: %w", errInvalid)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w: %w", errInvalid, err)
	}
	return cert, nil
}

// parseKey decodes a PEM private key in PKCS#8, SEC 1 (EC) or PKCS#1 (RSA)
// form.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM private key: %w", errInvalid)
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q: %w", block.Type, errInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w: %w", errInvalid, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign: %w", key, errInvalid)
	}
	return signer, nil
}

// newKey generates an ECDSA P-256 key and its PKCS#8 PEM encoding.
func newKey() (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

// newCA creates a self-signed CA valid from now for validity.
func newCA(cn string, now time.Time, validity time.Duration) (*keyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &keyPair{cert: cert, key: key, certPEM: encodeCert(der), keyPEM: keyPEM}, nil
}

// issue signs a new leaf certificate with ca. NotAfter is capped at the CA's
// own expiry.
func issue(ca *keyPair, subject pkix.Name, usage x509.ExtKeyUsage, sans subjectAltNames, now time.Time, validity time.Duration) (*keyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
		DNSNames:              sans.dns,
		IPAddresses:           sans.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %q: %w", subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate for %q: %w", subject.CommonName, err)
	}
	return &keyPair{cert: cert, key: key, certPEM: encodeCert(der), keyPEM: keyPEM}, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// verify checks that cert chains to pool at now for usage and does not expire
// within renewBefore. Failures wrap errInvalid.
func verify(cert *x509.Certificate, pool *x509.CertPool, usage x509.ExtKeyUsage, now time.Time, renewBefore time.Duration) error {
	_, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("certificate %q: %w: %w", cert.Subject.CommonName, errInvalid, err)
	}
	if cert.NotAfter.Sub(now) < renewBefore {
		return fmt.Errorf("certificate %q expires %s: %w", cert.Subject.CommonName, cert.NotAfter.Format(time.RFC3339), errInvalid)
	}
	return nil
}

// subjectAltNames is a set of DNS and IP SANs.
type subjectAltNames struct {
	dns []string
	ips []net.IP
}

// newSANs classifies hosts into IP and DNS SANs, dropping empty entries and
// duplicates. DNS names are lower-cased.
func newSANs(hosts ...string) subjectAltNames {
	var s subjectAltNames
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			if !slices.ContainsFunc(s.ips, ip.Equal) {
				s.ips = append(s.ips, ip)
			}
			continue
		}
		h = strings.ToLower(h)
		if !slices.Contains(s.dns, h) {
			s.dns = append(s.dns, h)
		}
	}
	return s
}

// missingFrom returns the SANs of s that cert does not carry.
func (s subjectAltNames) missingFrom(cert *x509.Certificate) []string {
	var missing []string
	for _, ip := range s.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			missing = append(missing, ip.String())
		}
	}
	for _, name := range s.dns {
		if !slices.ContainsFunc(cert.DNSNames, func(d string) bool { return strings.EqualFold(d, name) }) {
			missing = append(missing, name)
		}
	}
	return missing
}
