package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"kubelab.io/apiserver/internal/pki"
)

// kubeletClient builds the HTTPS client the apiserver reaches kubelets with (pods/log). It
// presents --kubelet-client-certificate/--kubelet-client-key, or else a certificate for
// kube-apiserver-kubelet-client issued by the cluster CA into --cert-dir (reused on restart),
// and verifies each kubelet's serving certificate against --kubelet-certificate-authority,
// or else the cluster CA. There is deliberately no way to skip that verification: a kubelet
// serving a self-signed certificate is refused, with a message saying so.
func (s *Server) kubeletClient() (*http.Client, error) {
	var cert tls.Certificate
	var err error
	switch {
	case s.cfg.KubeletClientCertFile != "" && s.cfg.KubeletClientKeyFile != "":
		if cert, err = tls.LoadX509KeyPair(s.cfg.KubeletClientCertFile, s.cfg.KubeletClientKeyFile); err != nil {
			return nil, fmt.Errorf("--kubelet-client-certificate: %w", err)
		}
	case s.cfg.KubeletClientCertFile != "" || s.cfg.KubeletClientKeyFile != "":
		return nil, errors.New("--kubelet-client-certificate and --kubelet-client-key must be given together")
	default:
		n := len(s.bundle.Written)
		cert, err = s.bundle.EnsureClientCertFiles(
			filepath.Join(s.cfg.CertDir, pki.KubeletClientCertFile), filepath.Join(s.cfg.CertDir, pki.KubeletClientKeyFile),
			pki.KubeletClientCommonName, nil, pki.KubeletClientValidity)
		if err != nil {
			return nil, fmt.Errorf("kubelet client certificate: %w", err)
		}
		for _, f := range s.bundle.Written[n:] {
			s.log.Info("wrote certificate file", "path", f)
		}
	}
	roots := s.bundle.CAPool
	if s.cfg.KubeletCAFile != "" {
		pem, err := os.ReadFile(s.cfg.KubeletCAFile)
		if err != nil {
			return nil, fmt.Errorf("--kubelet-certificate-authority: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kubelet-certificate-authority %s holds no PEM certificate", s.cfg.KubeletCAFile)
		}
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      roots,
			Certificates: []tls.Certificate{cert},
		},
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 10,
	}}, nil
}
