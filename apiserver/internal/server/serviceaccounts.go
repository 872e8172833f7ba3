package server

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"kubelab.io/apiserver/internal/authn"
	"kubelab.io/apiserver/internal/authz/node"
	"kubelab.io/apiserver/internal/pki"
	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/serviceaccount"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// serviceAccounts is what the server issues and verifies service account tokens with.
type serviceAccounts struct {
	signer    *serviceaccount.Signer
	keys      *serviceaccount.KeySet
	issuers   []string
	audiences []string
}

// loadServiceAccountKeys reads the signing key (--service-account-signing-key-file, or
// sa.key in the certificate directory, generated on first start) and the verification keys
// (--service-account-key-file, default the signing key's public half), and settles the
// issuers and API audiences from their flags' defaults.
func (s *Server) loadServiceAccountKeys() (*serviceAccounts, error) {
	var key crypto.Signer
	if path := s.cfg.ServiceAccountSigningKeyFile; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--service-account-signing-key-file: %w", err)
		}
		if key, err = serviceaccount.ParsePrivateKey(data); err != nil {
			return nil, fmt.Errorf("--service-account-signing-key-file %s: %w", path, err)
		}
	} else {
		sa, err := pki.EnsureSAKey(s.cfg.CertDir)
		if err != nil {
			return nil, err
		}
		for _, f := range sa.Written {
			s.log.Info("wrote service account key file", "path", f)
		}
		key = sa.Key
	}
	signer, err := serviceaccount.NewSigner(key)
	if err != nil {
		return nil, err
	}
	pubs := []crypto.PublicKey{signer.Public()}
	if len(s.cfg.ServiceAccountKeyFiles) > 0 {
		pubs = nil // as given: a rotated-out key stays only while its file is listed
		for _, path := range s.cfg.ServiceAccountKeyFiles {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("--service-account-key-file: %w", err)
			}
			keys, err := serviceaccount.ParsePublicKeys(data)
			if err != nil {
				return nil, fmt.Errorf("--service-account-key-file %s: %w", path, err)
			}
			pubs = append(pubs, keys...)
		}
	}
	keys, err := serviceaccount.NewKeySet(pubs...)
	if err != nil {
		return nil, fmt.Errorf("--service-account-key-file: %w", err)
	}
	if signerKid, _ := serviceaccount.KeyID(signer.Public()); !hasKey(keys, signerKid) {
		s.log.Warn("the service account signing key is not among the verification keys (--service-account-key-file): tokens this server issues will not authenticate here")
	}
	sa := &serviceAccounts{signer: signer, keys: keys, issuers: s.cfg.ServiceAccountIssuers, audiences: s.cfg.APIAudiences}
	if len(sa.issuers) == 0 {
		sa.issuers = []string{serviceaccount.DefaultIssuer}
	}
	if len(sa.audiences) == 0 {
		sa.audiences = sa.issuers // as kube-apiserver: the API's audience is its issuer
	}
	return sa, nil
}

func hasKey(ks *serviceaccount.KeySet, kid string) bool {
	_, ids := ks.Keys()
	for _, id := range ids {
		if id == kid {
			return true
		}
	}
	return false
}

// tokenAuthenticator is the service account token authenticator. It reads what a token
// names from the watch caches, as namespacelifecycle's lookup does, so a request with a
// valid token costs no etcd read; an object the cache lacks (deleted, or written a moment
// ago through another server) is read from etcd.
func (s *Server) tokenAuthenticator(sa *serviceAccounts) *authn.ServiceAccountTokens {
	meta := func(plural string) authn.MetaGetter {
		st := s.store("", plural)
		return func(ctx context.Context, namespace, name string) (*metav1.ObjectMeta, error) {
			obj, err := cachedGet(ctx, st, namespace, name)
			if err != nil {
				return nil, err
			}
			return obj.GetMetadata(), nil
		}
	}
	return &authn.ServiceAccountTokens{
		Issuers: sa.issuers, Keys: sa.keys, Audiences: sa.audiences,
		ServiceAccounts: meta("serviceaccounts"), Pods: meta("pods"), Secrets: meta("secrets"),
		Log: s.log,
	}
}

// cachedPods reads pods from their watch cache (NodeRestriction's look at the pod a kubelet's
// token is bound to).
func (s *Server) cachedPods() node.PodGetter {
	pods := s.store("", "pods")
	return func(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
		obj, err := cachedGet(ctx, pods, namespace, name)
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.Pod), nil
	}
}

// tokenIssuer serves serviceaccounts/token; nil until the keys are loaded.
func (s *Server) tokenIssuer() *registry.TokenIssuer {
	if s.serviceAccounts == nil {
		return nil
	}
	sa := s.serviceAccounts
	return &registry.TokenIssuer{
		Signer: sa.signer, Issuer: sa.issuers[0], Audiences: sa.audiences, MaxExpiration: s.cfg.ServiceAccountMaxTokenExpiration,
		Pods: s.store("", "pods"), Secrets: s.store("", "secrets"), Nodes: s.store("", "nodes"),
	}
}

// issuerDiscovery serves service account issuer discovery: the OpenID configuration and the
// JWKS, as kube-apiserver does when its issuer is an https URL (the only kind an OIDC client
// can fetch from). Who may read them is RBAC's: the bootstrap policy lets every service
// account (system:service-account-issuer-discovery).
func (s *Server) issuerDiscovery() map[string]http.HandlerFunc {
	sa := s.serviceAccounts
	if sa == nil {
		return nil
	}
	if u, err := url.Parse(sa.issuers[0]); err != nil || u.Scheme != "https" {
		s.log.Info("service account issuer discovery is off: the issuer is not an https URL", "issuer", sa.issuers[0])
		return nil
	}
	config := serviceaccount.OpenIDConfiguration(sa.issuers[0], s.bundle.AdvertiseURL+serviceaccount.JWKSPath)
	jwks := serviceaccount.JWKS(sa.keys)
	serve := func(contentType string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(time.Hour/time.Second)))
			_, _ = w.Write(body)
		}
	}
	return map[string]http.HandlerFunc{
		serviceaccount.OpenIDConfigPath: serve("application/json", config),
		serviceaccount.JWKSPath:         serve("application/jwk-set+json", jwks),
	}
}
