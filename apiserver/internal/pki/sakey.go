package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"kubelab.io/client/atomicfile"
)

// Service account key files inside the certificate directory, as kubeadm names them.
const (
	SAKeyFile = "sa.key"
	SAPubFile = "sa.pub"
	// saKeyBits is kubeadm's size for the service account key.
	saKeyBits = 2048
)

// SAKey is the service account signing key pair of a certificate directory.
type SAKey struct {
	Key              crypto.Signer
	KeyPath, PubPath string
	// Written lists the files EnsureSAKey (re)wrote; empty when both were reused.
	Written []string
}

// EnsureSAKey loads the service account signing key in dir (sa.key, RSA) and its public key
// (sa.pub), generating an RSA-2048 key on first start. The key is kept across restarts:
// replacing it would invalidate every token issued so far. A missing or stale sa.pub is
// rewritten from sa.key; an sa.key that does not parse is replaced, as Ensure replaces a
// broken certificate, but one that cannot be read is an error.
func EnsureSAKey(dir string) (*SAKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create cert dir: %w", err)
	}
	sa := &SAKey{KeyPath: filepath.Join(dir, SAKeyFile), PubPath: filepath.Join(dir, SAPubFile)}
	data, err := os.ReadFile(sa.KeyPath)
	if err == nil {
		var key crypto.Signer
		if key, err = parseKey(data); err == nil {
			if _, isRSA := key.(*rsa.PrivateKey); isRSA {
				sa.Key = key
			} else {
				err = fmt.Errorf("%s is not an RSA key: %w", sa.KeyPath, errInvalid)
			}
		}
	}
	if err != nil && !regenerable(err) {
		return nil, fmt.Errorf("pki: load %s: %w", sa.KeyPath, err)
	}
	if sa.Key == nil {
		key, err := rsa.GenerateKey(rand.Reader, saKeyBits)
		if err != nil {
			return nil, fmt.Errorf("pki: generate service account key: %w", err)
		}
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		if err := atomicfile.Write(sa.KeyPath, keyPEM, 0o600); err != nil {
			return nil, fmt.Errorf("pki: write %s: %w", sa.KeyPath, err)
		}
		sa.Key, sa.Written = key, append(sa.Written, sa.KeyPath)
	}
	der, err := x509.MarshalPKIXPublicKey(sa.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("pki: service account public key: %w", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if cur, err := os.ReadFile(sa.PubPath); err != nil || string(cur) != string(pubPEM) {
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("pki: load %s: %w", sa.PubPath, err)
		}
		if err := atomicfile.Write(sa.PubPath, pubPEM, 0o644); err != nil {
			return nil, fmt.Errorf("pki: write %s: %w", sa.PubPath, err)
		}
		sa.Written = append(sa.Written, sa.PubPath)
	}
	return sa, nil
}
