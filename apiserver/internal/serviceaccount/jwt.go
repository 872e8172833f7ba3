package serviceaccount

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// alg is the only signature algorithm kubelab signs with and accepts: RS256, what
// kube-apiserver uses for RSA keys and what every OIDC client supports.
const alg = "RS256"

// Leeway is how far clocks may disagree when exp, nbf and iat are checked (upstream's
// jwt.DefaultLeeway): a token a moment past its expiry on a fast-clocked server still works.
const Leeway = time.Minute

// Errors of Verify and Validate. They are classes for tests and logs; the client always gets
// a bare 401, as from kube-apiserver.
var (
	ErrMalformed     = errors.New("token is not a well-formed JWT")
	ErrSignature     = errors.New("token signature is invalid")
	ErrUnknownKey    = errors.New("token is signed by an unknown key")
	ErrExpired       = errors.New("service account token has expired")
	ErrNotYetValid   = errors.New("service account token is not valid yet")
	ErrWrongAudience = errors.New("token audiences are not for this server")
)

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
}

var b64 = base64.RawURLEncoding

// KeyID is the "kid" of a public key, as kube-apiserver derives it: base64url of the SHA-256
// of the key's DER (PKIX) encoding. It is stable across restarts and the same in the JWKS,
// so clients pick the right key without trying each.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return b64.EncodeToString(sum[:]), nil
}

// Signer signs tokens with one RSA private key.
type Signer struct {
	key *rsa.PrivateKey
	kid string
}

// NewSigner returns a Signer for key; keys shorter than 2048 bits are refused, as NIST and
// kubeadm's defaults require.
func NewSigner(key crypto.Signer) (*Signer, error) {
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("service account signing key is a %T; kubelab signs with RSA keys only", key)
	}
	if rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("service account signing key has %d bits; at least 2048 are required", rk.N.BitLen())
	}
	kid, err := KeyID(&rk.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Signer{key: rk, kid: kid}, nil
}

// Public is the public key that verifies the Signer's tokens.
func (s *Signer) Public() *rsa.PublicKey { return &s.key.PublicKey }

// Sign returns the compact serialization of c signed RS256, with the key's kid.
func (s *Signer) Sign(c *Claims) (string, error) {
	h, err := json.Marshal(header{Alg: alg, Kid: s.kid})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	signingInput := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signingInput + "." + b64.EncodeToString(sig), nil
}

// PeekIssuer returns a token's "iss" without verifying anything, so an authenticator can
// tell its own tokens (whose failures are final) from anyone else's (which the next
// authenticator may know). ok is false for anything that is not a JWT with an issuer.
func PeekIssuer(token string) (iss string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	p, err := b64.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(p, &c) != nil || c.Iss == "" {
		return "", false
	}
	return c.Iss, true
}

// KeySet verifies tokens against the public keys of --service-account-key-file.
type KeySet struct {
	keys []*rsa.PublicKey
	ids  []string
	byID map[string]*rsa.PublicKey
}

// NewKeySet builds a KeySet; every key must be RSA, the only kind kubelab signs with.
func NewKeySet(pubs ...crypto.PublicKey) (*KeySet, error) {
	ks := &KeySet{byID: map[string]*rsa.PublicKey{}}
	for _, pub := range pubs {
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("service account public key is a %T; only RSA keys are supported", pub)
		}
		kid, err := KeyID(rk)
		if err != nil {
			return nil, err
		}
		if _, dup := ks.byID[kid]; dup {
			continue // the same key given twice (a file and its private key)
		}
		ks.keys, ks.ids = append(ks.keys, rk), append(ks.ids, kid)
		ks.byID[kid] = rk
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("no service account public keys")
	}
	return ks, nil
}

// Keys returns the keys and their kids, in the order given (for the JWKS).
func (k *KeySet) Keys() ([]*rsa.PublicKey, []string) { return k.keys, k.ids }

// Verify checks token's signature and returns its claims; it does not look at times or
// audiences (see Validate). A token that names a kid is checked against that key only; one
// without a kid (signed elsewhere with an older tool) against each key in turn.
func (k *KeySet) Verify(token string) (*Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ErrMalformed
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Alg != alg {
		return nil, fmt.Errorf("%w: algorithm %q, want %s", ErrSignature, h.Alg, alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	candidates := k.keys
	if h.Kid != "" {
		key, ok := k.byID[h.Kid]
		if !ok {
			return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, h.Kid)
		}
		candidates = []*rsa.PublicKey{key}
	}
	verified := false
	for _, key := range candidates {
		if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, ErrSignature
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	return &c, nil
}

// Validate checks the claims' times at now, with Leeway, and that the token is for one of
// audiences.
func (c *Claims) Validate(now time.Time, audiences []string) error {
	t := now.Unix()
	lw := int64(Leeway / time.Second)
	switch {
	case c.Expiry == 0 || t > c.Expiry+lw:
		return ErrExpired
	case t+lw < c.NotBefore, t+lw < c.IssuedAt:
		return ErrNotYetValid
	case !c.Audience.Intersects(audiences):
		return fmt.Errorf("%w: token audiences %q are invalid for the target audiences %q", ErrWrongAudience, []string(c.Audience), audiences)
	}
	return nil
}
