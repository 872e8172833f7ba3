// Package serviceaccount issues and verifies service account tokens, as kube-apiserver does:
// JSON Web Tokens signed RS256 by the apiserver's signing key, whose claims name the
// service account (sub system:serviceaccount:NS:NAME) and, for a bound token, the pod or
// secret it dies with. The package is pure: it signs and checks signatures, times and
// audiences; whether the objects a token names still exist is the authenticator's question.
//
// The JWS code is the standard library's (crypto/rsa, encoding/base64): a service account
// token uses one algorithm and one serialization, so a general JOSE library would add
// surface without adding safety.
package serviceaccount

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"kubelab.io/apiserver/internal/uid"
)

// Names kube-apiserver gives service account users and groups.
const (
	// DefaultIssuer is --service-account-issuer's default, the in-cluster name of the API.
	DefaultIssuer = "https://kubernetes.default.svc.cluster.local"
	// UsernamePrefix starts every service account's user name.
	UsernamePrefix = "system:serviceaccount:"
	// AllGroup holds every service account; GroupPrefix+NS those of one namespace.
	AllGroup    = "system:serviceaccounts"
	GroupPrefix = "system:serviceaccounts:"
)

// Extra keys of a service account user, as upstream's authenticator sets them.
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// Username is the user a service account authenticates as.
func Username(namespace, name string) string {
	return UsernamePrefix + namespace + ":" + name
}

// SplitUsername returns the namespace and name of a service account user name.
func SplitUsername(user string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(user, UsernamePrefix)
	if !found {
		return "", "", false
	}
	namespace, name, found = strings.Cut(rest, ":")
	if !found || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// Groups are the groups of a service account user (the chain adds system:authenticated).
func Groups(namespace string) []string {
	return []string{AllGroup, GroupPrefix + namespace}
}

// Ref names an object a token is about.
type Ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// KubernetesClaims is the private "kubernetes.io" claim: the service account, and what the
// token is bound to (a pod, with the node it runs on, or a secret).
type KubernetesClaims struct {
	Namespace      string `json:"namespace,omitempty"`
	ServiceAccount Ref    `json:"serviceaccount,omitempty"`
	Pod            *Ref   `json:"pod,omitempty"`
	Secret         *Ref   `json:"secret,omitempty"`
	Node           *Ref   `json:"node,omitempty"`
}

// Claims are a token's payload: the registered claims upstream sets, and kubernetes.io.
type Claims struct {
	Issuer     string            `json:"iss"`
	Subject    string            `json:"sub"`
	Audience   Audience          `json:"aud"`
	Expiry     int64             `json:"exp"`
	IssuedAt   int64             `json:"iat"`
	NotBefore  int64             `json:"nbf"`
	ID         string            `json:"jti,omitempty"`
	Kubernetes *KubernetesClaims `json:"kubernetes.io,omitempty"`
}

// Audience is the "aud" claim. RFC 7519 lets it be one string or an array; tokens kubelab
// writes always hold an array, as Kubernetes' do, and either form is read.
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("aud is neither a string nor a list of strings")
	}
	*a = l
	return nil
}

// Intersects reports whether the token is for any of audiences.
func (a Audience) Intersects(audiences []string) bool {
	for _, x := range a {
		for _, y := range audiences {
			if x == y {
				return true
			}
		}
	}
	return false
}

// Binding is what a token is bound to: at most one of Pod and Secret, and, for a pod, the
// node it is scheduled on (informational: the pod's deletion is what ends the token).
type Binding struct {
	Pod, Secret, Node *Ref
}

// NewClaims are the claims of a token for the service account sa in namespace, valid from
// now for lifetime, for audiences, with a fresh jti.
func NewClaims(issuer string, now time.Time, lifetime time.Duration, audiences []string, namespace string, sa Ref, bound Binding) *Claims {
	return &Claims{
		Issuer: issuer, Subject: Username(namespace, sa.Name), Audience: Audience(audiences),
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(lifetime).Unix(), ID: uid.New(),
		Kubernetes: &KubernetesClaims{Namespace: namespace, ServiceAccount: sa, Pod: bound.Pod, Secret: bound.Secret, Node: bound.Node},
	}
}
