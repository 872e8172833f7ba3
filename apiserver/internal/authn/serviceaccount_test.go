package authn

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"reflect"
	"testing"
	"time"

	"kubelab.io/apiserver/internal/serviceaccount"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// fakeObjects answers MetaGetter from a map of "ns/name" to uid.
func fakeObjects(uids map[string]string) MetaGetter {
	return func(_ context.Context, ns, name string) (*metav1.ObjectMeta, error) {
		uid, ok := uids[ns+"/"+name]
		if !ok {
			return nil, apierrors.NewNotFound(apierrors.GroupResource{}, name)
		}
		return &metav1.ObjectMeta{Name: name, Namespace: ns, Uid: uid}, nil
	}
}

func TestServiceAccountTokens(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := serviceaccount.NewSigner(key)
	keys, _ := serviceaccount.NewKeySet(crypto.PublicKey(&key.PublicKey))
	now := time.Unix(1_700_000_000, 0)
	const iss = serviceaccount.DefaultIssuer
	sas := map[string]string{"ns/sa": "sa-uid"}
	pods := map[string]string{"ns/p": "p-uid"}
	a := &ServiceAccountTokens{
		Issuers: []string{iss}, Keys: keys, Audiences: []string{iss},
		ServiceAccounts: fakeObjects(sas), Pods: fakeObjects(pods), Secrets: fakeObjects(nil),
		Clock: func() time.Time { return now },
	}
	sign := func(issuer string, bound serviceaccount.Binding, aud ...string) string {
		c := serviceaccount.NewClaims(issuer, now, time.Hour, aud, "ns", serviceaccount.Ref{Name: "sa", UID: "sa-uid"}, bound)
		c.ID = "jti-1"
		tok, err := signer.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	podBound := serviceaccount.Binding{Pod: &serviceaccount.Ref{Name: "p", UID: "p-uid"}, Node: &serviceaccount.Ref{Name: "n1"}}

	u, ok, err := a.Authenticate(context.Background(), Credentials{Authorization: sign(iss, podBound, iss)})
	if err != nil || !ok {
		t.Fatalf("valid token: ok %v err %v", ok, err)
	}
	want := map[string][]string{
		serviceaccount.ExtraPodName: {"p"}, serviceaccount.ExtraPodUID: {"p-uid"},
		serviceaccount.ExtraNodeName: {"n1"}, serviceaccount.ExtraCredentialID: {"JTI=jti-1"},
	}
	if u.Name != "system:serviceaccount:ns:sa" || u.UID != "sa-uid" ||
		!reflect.DeepEqual(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:ns"}) || !reflect.DeepEqual(u.Extra, want) {
		t.Errorf("user = %+v", u)
	}

	// Not ours: the chain moves on.
	for _, h := range []string{"", "Bearer static-token", sign("https://other-issuer", podBound, iss)} {
		if _, ok, err := a.Authenticate(context.Background(), Credentials{Authorization: h}); ok || err != nil {
			t.Errorf("%q: ok %v err %v, want not recognised", h, ok, err)
		}
	}

	// Ours but invalid: refused.
	valid := sign(iss, podBound, iss)
	delete(pods, "ns/p")
	_, _, errGone := a.Authenticate(context.Background(), Credentials{Authorization: valid})
	pods["ns/p"] = "p-uid-2"
	_, _, errRecreated := a.Authenticate(context.Background(), Credentials{Authorization: valid})
	pods["ns/p"] = "p-uid"
	_, _, errAud := a.Authenticate(context.Background(), Credentials{Authorization: sign(iss, podBound, "vault")})
	sas["ns/sa"] = "sa-uid-2"
	_, _, errSA := a.Authenticate(context.Background(), Credentials{Authorization: valid})
	sas["ns/sa"] = "sa-uid"
	a.Clock = func() time.Time { return now.Add(2 * time.Hour) }
	_, _, errExpired := a.Authenticate(context.Background(), Credentials{Authorization: valid})
	for name, err := range map[string]error{"pod deleted": errGone, "pod recreated": errRecreated, "wrong audience": errAud, "service account recreated": errSA, "expired": errExpired} {
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s: err = %v, want invalid credentials", name, err)
		}
	}
	if !errors.Is(errExpired, serviceaccount.ErrExpired) || !errors.Is(errRecreated, errInvalidated) {
		t.Errorf("reasons: %v / %v", errExpired, errRecreated)
	}
}
