package serviceaccount

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
)

// Service account issuer discovery (KEP 1393): an OIDC-shaped description of the issuer and
// the keys that verify its tokens, so that services outside the cluster (a cloud's workload
// identity, Vault) can accept service account tokens without asking the apiserver about
// each one.

// Paths of the discovery documents, as kube-apiserver serves them.
const (
	OpenIDConfigPath = "/.well-known/openid-configuration"
	JWKSPath         = "/openid/v1/jwks"
)

// OpenIDConfiguration is the document at OpenIDConfigPath.
func OpenIDConfiguration(issuer, jwksURI string) []byte {
	b, _ := json.Marshal(struct {
		Issuer           string   `json:"issuer"`
		JWKSURI          string   `json:"jwks_uri"`
		ResponseTypes    []string `json:"response_types_supported"`
		SubjectTypes     []string `json:"subject_types_supported"`
		SigningAlgValues []string `json:"id_token_signing_alg_values_supported"`
	}{issuer, jwksURI, []string{"id_token"}, []string{"public"}, []string{alg}})
	return b
}

// JWKS is the JSON Web Key Set of the verification keys, at JWKSPath.
func JWKS(ks *KeySet) []byte {
	type jwk struct {
		Use string `json:"use"`
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	keys, ids := ks.Keys()
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for i, k := range keys {
		set.Keys = append(set.Keys, jwk{
			Use: "sig", Kty: "RSA", Kid: ids[i], Alg: alg,
			N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	b, _ := json.Marshal(set)
	return b
}
