// Package server is the kubelet server's security shell: HTTPS with a serving
// certificate (from files, or self-signed at start), client-certificate authentication
// against --client-ca-file, and authorization of the caller before any pod data is read.
//
// Authentication is the TLS handshake itself: the server requires a client certificate
// and verifies it against the client CA, so there is no anonymous access and no
// read-only port. The verified certificate names the caller as Kubernetes does: the
// subject's CommonName is the user, its Organizations are the groups.
//
// Authorization is a fixed rule, the one upstream's default RBAC gives the kubelet API:
// /healthz answers every authenticated caller; everything else (/pods,
// /containerLogs/…, /exec/…, /attach/…, /portForward/…) only the apiserver's kubelet client (user
// "kube-apiserver-kubelet-client") and cluster admins (group "system:masters").
package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	// APIServerUser is the user the apiserver's kubelet client certificate names.
	APIServerUser = "kube-apiserver-kubelet-client"
	// MastersGroup is the cluster-admin group.
	MastersGroup = "system:masters"
)

// User is an authenticated caller.
type User struct {
	Name   string
	Groups []string
}

// UserFrom returns the caller that r's verified client certificate names; ok is false
// when r carries no verified certificate.
func UserFrom(r *http.Request) (u User, ok bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return User{}, false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if leaf.Subject.CommonName == "" {
		return User{}, false
	}
	return User{Name: leaf.Subject.CommonName, Groups: leaf.Subject.Organization}, true
}

// Allowed is the authorization rule: may u GET path?
func Allowed(u User, path string) bool {
	if path == "/healthz" {
		return true
	}
	return u.Name == APIServerUser || slices.Contains(u.Groups, MastersGroup)
}

// Authorize wraps h: unauthenticated requests get 401, unauthorized ones 403, with the
// plain-text bodies upstream's kubelet writes.
func Authorize(h http.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom(r)
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		if !Allowed(u, r.URL.Path) {
			log.Info("kubelet server: forbidden", "user", u.Name, "groups", u.Groups, "path", r.URL.Path)
			// Upstream names the verb by method: an exec's SPDY POST asks to create.
			verb := "get"
			if r.Method == http.MethodPost {
				verb = "create"
			}
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=proxy)", u.Name, verb), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Config configures the kubelet server.
type Config struct {
	Addr    string
	Handler http.Handler
	// CertFile and KeyFile are the serving certificate; when both are empty a
	// self-signed one is used, kept in SelfSignedDir (kubelet.crt, kubelet.key) when set.
	CertFile, KeyFile string
	SelfSignedDir     string
	// Hosts are the names and IPs a self-signed certificate is for (the node name, its IP).
	Hosts []string
	// ClientCAFile holds the CAs whose client certificates are accepted. Without it no
	// client is accepted at all (there is no anonymous access).
	ClientCAFile string
	Log          *slog.Logger
}

// New returns the kubelet server, ready for ListenAndServeTLS("", "") or
// ServeTLS(ln, "", ""): its TLSConfig carries the serving certificate and requires a
// verified client certificate, and its handler authorizes every request.
func New(cfg Config) (*http.Server, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	var cert tls.Certificate
	var err error
	switch {
	case cfg.CertFile != "" && cfg.KeyFile != "":
		if cert, err = tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("kubelet server certificate: %w", err)
		}
	case cfg.CertFile != "" || cfg.KeyFile != "":
		return nil, errors.New("kubelet server: --tls-cert-file and --tls-private-key-file go together")
	default:
		var where string
		if cert, where, err = selfSigned(cfg.SelfSignedDir, cfg.Hosts, time.Now()); err != nil {
			return nil, fmt.Errorf("kubelet server: self-signed certificate: %w", err)
		}
		log.Info("kubelet server: no --tls-cert-file given; serving a self-signed certificate", "hosts", cfg.Hosts, "cert", where)
	}
	pool := x509.NewCertPool()
	if cfg.ClientCAFile != "" {
		b, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--client-ca-file %s: no PEM certificates", cfg.ClientCAFile)
		}
	} else {
		log.Warn("kubelet server: no --client-ca-file; no client can authenticate, so every request is refused")
	}
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           Authorize(cfg.Handler, log),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}, nil
}

// selfSigned loads the self-signed serving certificate kept in dir, or makes one for
// hosts (valid a year) and keeps it there. It returns where it is kept ("" in memory).
func selfSigned(dir string, hosts []string, now time.Time) (tls.Certificate, string, error) {
	var certPath, keyPath string
	if dir != "" {
		certPath, keyPath = filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key")
		if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && c.Leaf != nil && now.Before(c.Leaf.NotAfter) && coversHosts(c.Leaf, hosts) {
			return c, certPath, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	cn := "kubelet"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", cn, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: it is its own CA, as upstream's is
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if dir == "" {
		return c, "", nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, "", err
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, "", err
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	return c, certPath, nil
}

func coversHosts(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if h != "" && c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}
