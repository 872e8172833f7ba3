package serviceaccount

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSigner(t *testing.T, k *rsa.PrivateKey) *Signer {
	t.Helper()
	s, err := NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keySet(t *testing.T, keys ...*rsa.PrivateKey) *KeySet {
	t.Helper()
	var pubs []crypto.PublicKey
	for _, k := range keys {
		pubs = append(pubs, &k.PublicKey)
	}
	ks, err := NewKeySet(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

var now = time.Unix(1_700_000_000, 0)

func testClaims() *Claims {
	return NewClaims(DefaultIssuer, now, time.Hour, []string{DefaultIssuer}, "ns", Ref{Name: "sa", UID: "sa-uid"},
		Binding{Pod: &Ref{Name: "p", UID: "p-uid"}, Node: &Ref{Name: "n1", UID: "n-uid"}})
}

// segment decodes one part of a compact JWT.
func segment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := newKey(t)
	tok, err := newSigner(t, k).Sign(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	// The header is what Kubernetes writes: alg and the kid derived from the public key.
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	sum := sha256.Sum256(der)
	h := segment(t, tok, 0)
	if h["alg"] != "RS256" || h["kid"] != base64.RawURLEncoding.EncodeToString(sum[:]) || len(h) != 2 {
		t.Errorf("header = %v", h)
	}
	// The payload has upstream's claim names, aud as an array.
	p := segment(t, tok, 1)
	if p["iss"] != DefaultIssuer || p["sub"] != "system:serviceaccount:ns:sa" || p["exp"] != float64(now.Unix()+3600) ||
		p["iat"] != float64(now.Unix()) || p["nbf"] != float64(now.Unix()) || len(str(p["jti"])) != 36 {
		t.Errorf("payload = %v", p)
	}
	if aud, ok := p["aud"].([]any); !ok || len(aud) != 1 || aud[0] != DefaultIssuer {
		t.Errorf("aud = %#v, want a one-element array", p["aud"])
	}
	kc, _ := json.Marshal(p["kubernetes.io"])
	if want := `{"namespace":"ns","node":{"name":"n1","uid":"n-uid"},"pod":{"name":"p","uid":"p-uid"},"serviceaccount":{"name":"sa","uid":"sa-uid"}}`; string(kc) != want {
		t.Errorf("kubernetes.io = %s\nwant %s", kc, want)
	}

	c, err := keySet(t, newKey(t), k).Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Subject != "system:serviceaccount:ns:sa" || c.Kubernetes.Pod.UID != "p-uid" || c.Kubernetes.Secret != nil {
		t.Errorf("claims = %+v", c)
	}
	if err := c.Validate(now, []string{"other", DefaultIssuer}); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if iss, ok := PeekIssuer(tok); !ok || iss != DefaultIssuer {
		t.Errorf("PeekIssuer = %q, %v", iss, ok)
	}
}

func str(v any) string { s, _ := v.(string); return s }

func TestVerifyRefuses(t *testing.T) {
	k := newKey(t)
	signer := newSigner(t, k)
	tok, err := signer.Sign(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	other := newKey(t)
	otherTok, _ := newSigner(t, other).Sign(testClaims())

	// A payload changed after signing: the signature no longer holds.
	forged := testClaims()
	forged.Subject = "system:serviceaccount:kube-system:admin"
	fp, _ := json.Marshal(forged)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(fp) + "." + parts[2]

	// The right kid but another key's signature.
	wrongSig := parts[0] + "." + parts[1] + "." + strings.Split(otherTok, ".")[2]

	// alg none, as in the classic JWT attack.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."

	// No kid (signed by another tool): tried against every key, and still refused when
	// none signed it.
	noKidInput := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + parts[1]
	digest := sha256.Sum256([]byte(noKidInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	noKid := noKidInput + "." + base64.RawURLEncoding.EncodeToString(sig)

	for _, tc := range []struct {
		name, token string
		keys        *KeySet
		want        error
	}{
		{"tampered payload", tampered, keySet(t, k), ErrSignature},
		{"bad signature", wrongSig, keySet(t, k), ErrSignature},
		{"unknown kid", otherTok, keySet(t, k), ErrUnknownKey},
		{"alg none", none, keySet(t, k), ErrSignature},
		{"two parts", parts[0] + "." + parts[1], keySet(t, k), ErrMalformed},
		{"garbage", "a.b.c", keySet(t, k), ErrMalformed},
	} {
		if _, err := tc.keys.Verify(tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := keySet(t, other, k).Verify(noKid); err != nil {
		t.Errorf("a token without kid signed by a known key: %v", err)
	}
	if _, err := keySet(t, other).Verify(noKid); !errors.Is(err, ErrSignature) {
		t.Errorf("a token without kid signed by an unknown key: %v", err)
	}
}

func TestValidate(t *testing.T) {
	c := testClaims()
	for _, tc := range []struct {
		name string
		at   time.Time
		aud  []string
		want error
	}{
		{"fresh", now, []string{DefaultIssuer}, nil},
		{"within leeway after expiry", now.Add(time.Hour + 30*time.Second), []string{DefaultIssuer}, nil},
		{"expired", now.Add(time.Hour + 2*time.Minute), []string{DefaultIssuer}, ErrExpired},
		{"within leeway before nbf", now.Add(-30 * time.Second), []string{DefaultIssuer}, nil},
		{"before nbf", now.Add(-2 * time.Minute), []string{DefaultIssuer}, ErrNotYetValid},
		{"wrong audience", now, []string{"https://elsewhere"}, ErrWrongAudience},
	} {
		if err := c.Validate(tc.at, tc.aud); !errors.Is(err, tc.want) {
			t.Errorf("%s: Validate = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestAudienceReadsStringOrList(t *testing.T) {
	var c Claims
	if err := json.Unmarshal([]byte(`{"aud":"api"}`), &c); err != nil || len(c.Audience) != 1 || c.Audience[0] != "api" {
		t.Errorf("string aud: %v %v", c.Audience, err)
	}
	if err := json.Unmarshal([]byte(`{"aud":["a","b"]}`), &c); err != nil || len(c.Audience) != 2 {
		t.Errorf("list aud: %v %v", c.Audience, err)
	}
	if err := json.Unmarshal([]byte(`{"aud":3}`), &c); err == nil {
		t.Error("numeric aud accepted")
	}
}

func TestPeekIssuerIgnoresOthers(t *testing.T) {
	for _, tok := range []string{"abc", "static-token-from-a-file", "a.b.c", "e30.e30.x"} {
		if iss, ok := PeekIssuer(tok); ok {
			t.Errorf("PeekIssuer(%q) = %q", tok, iss)
		}
	}
}

func TestSplitUsername(t *testing.T) {
	for user, want := range map[string][2]string{
		"system:serviceaccount:ns:sa": {"ns", "sa"},
		"system:serviceaccount:ns":    {},
		"system:serviceaccount::sa":   {},
		"system:node:n1":              {},
		"system:serviceaccount:a:b:c": {},
	} {
		ns, name, ok := SplitUsername(user)
		if got := [2]string{ns, name}; got != want || ok != (want != [2]string{}) {
			t.Errorf("SplitUsername(%q) = %q %q %v", user, ns, name, ok)
		}
	}
}

func TestKeysAndDiscovery(t *testing.T) {
	k := newKey(t)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	priv, err := ParsePrivateKey(keyPEM)
	if err != nil || !k.Equal(priv) {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	// A public key file and the private key file read as the same key.
	pubs, err := ParsePublicKeys(append(append([]byte{}, pubPEM...), keyPEM...))
	if err != nil || len(pubs) != 2 {
		t.Fatalf("ParsePublicKeys: %v (%d keys)", err, len(pubs))
	}
	ks, err := NewKeySet(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := ks.Keys(); len(keys) != 1 {
		t.Errorf("duplicate key kept: %d keys", len(keys))
	}
	if _, err := ParsePublicKeys([]byte("not pem")); err == nil {
		t.Error("ParsePublicKeys accepted no key")
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewSigner(small); err == nil {
		t.Error("a 1024-bit signing key was accepted")
	}

	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(JWKS(ks), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %v %s", err, JWKS(ks))
	}
	jwk := set.Keys[0]
	kid, _ := KeyID(&k.PublicKey)
	n, _ := base64.RawURLEncoding.DecodeString(jwk["n"])
	if jwk["kty"] != "RSA" || jwk["alg"] != "RS256" || jwk["use"] != "sig" || jwk["kid"] != kid || jwk["e"] != "AQAB" ||
		new(big.Int).SetBytes(n).Cmp(k.N) != 0 {
		t.Errorf("jwk = %v", jwk)
	}
	var oidc map[string]any
	if err := json.Unmarshal(OpenIDConfiguration(DefaultIssuer, "https://h/openid/v1/jwks"), &oidc); err != nil ||
		oidc["issuer"] != DefaultIssuer || oidc["jwks_uri"] != "https://h/openid/v1/jwks" {
		t.Errorf("openid-configuration = %v (%v)", oidc, err)
	}
}
