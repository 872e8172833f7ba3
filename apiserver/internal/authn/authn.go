// Package authn finds out who sent a request. Each front door gathers the request's
// credentials (its TLS state, its Authorization header) and the chain tries every
// authenticator in turn until one recognises them.
package authn

import (
	"context"
	"crypto/tls"
	"errors"

	"kubelab.io/apiserver/internal/request"
)

// Credentials are what a request presents, from either front door.
type Credentials struct {
	// TLS is the connection state; its VerifiedChains are set when the client sent a
	// certificate that the server verified against the client CA.
	TLS *tls.ConnectionState
	// Authorization is the HTTP Authorization header or the gRPC "authorization" metadata.
	Authorization string
}

// Authenticator recognises credentials. ok is false when these credentials are not of its
// kind (the chain moves on); err is set when they are of its kind but wrong (the chain stops
// and the request gets 401).
type Authenticator interface {
	Authenticate(ctx context.Context, c Credentials) (u *request.User, ok bool, err error)
}

// ErrUnauthorized is returned when no authenticator recognised the request and anonymous
// requests are off.
var ErrUnauthorized = errors.New("Unauthorized")

// Chain tries each authenticator in order.
type Chain struct {
	Authenticators []Authenticator
	// Anonymous lets unrecognised requests through as system:anonymous (off by default).
	Anonymous bool
}

func (c *Chain) Authenticate(ctx context.Context, creds Credentials) (*request.User, error) {
	for _, a := range c.Authenticators {
		u, ok, err := a.Authenticate(ctx, creds)
		if err != nil {
			return nil, ErrUnauthorized
		}
		if ok {
			if !u.InGroup(request.GroupAuthenticated) {
				u.Groups = append(u.Groups, request.GroupAuthenticated)
			}
			return u, nil
		}
	}
	if c.Anonymous {
		return &request.User{Name: request.UserAnonymous, Groups: []string{request.GroupUnauthenticated}}, nil
	}
	return nil, ErrUnauthorized
}

// X509 authenticates by verified client certificate: the subject's common name is the user
// and its organizations are the groups, as in Kubernetes. Verification itself (chain to the
// client CA, client-auth usage, validity) is done by the TLS handshake.
type X509 struct{}

func (X509) Authenticate(_ context.Context, c Credentials) (*request.User, bool, error) {
	if c.TLS == nil || len(c.TLS.VerifiedChains) == 0 || len(c.TLS.VerifiedChains[0]) == 0 {
		return nil, false, nil
	}
	cert := c.TLS.VerifiedChains[0][0]
	if cert.Subject.CommonName == "" {
		return nil, false, errors.New("client certificate has no common name")
	}
	groups := append([]string(nil), cert.Subject.Organization...)
	return &request.User{Name: cert.Subject.CommonName, Groups: groups}, true, nil
}
