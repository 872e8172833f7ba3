package kubelet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// fakeTokens issues tokens "tok-N" valid for the requested lifetime from now, or fails
// with err, and records every request as namespace/serviceAccount spec-as-JSON.
type fakeTokens struct {
	now func() time.Time

	mu       sync.Mutex
	err      error
	n        int
	requests []string
}

func (f *fakeTokens) CreateToken(_ context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	spec, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(req.GetSpec())
	f.requests = append(f.requests, ns+"/"+sa+" "+strings.ReplaceAll(string(spec), " ", ""))
	if f.err != nil {
		return nil, f.err
	}
	f.n++
	exp := f.now().Add(time.Duration(req.GetSpec().GetExpirationSeconds()) * time.Second)
	return &authenticationv1.TokenRequest{Spec: req.GetSpec(), Status: &authenticationv1.TokenRequestStatus{
		Token: fmt.Sprintf("tok-%d", f.n), ExpirationTimestamp: &metav1.Time{Seconds: exp.Unix()}}}, nil
}

func (f *fakeTokens) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

var tokenEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestTokenManager(t *testing.T) (*tokenManager, *fakeTokens, func(time.Duration)) {
	clk := newFakeClock(tokenEpoch)
	f := &fakeTokens{now: clk.Now}
	m := newTokenManager(f, clk, testLog())
	m.jitter = func() time.Duration { return 0 }
	return m, f, clk.Step
}

func tokenPod(uid string) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web-" + uid, Namespace: "shop", Uid: uid},
		Spec: &corev1.PodSpec{ServiceAccountName: "builder"}}
}

func TestTokenManagerRequestsCachesAndRenews(t *testing.T) {
	m, f, step := newTestTokenManager(t)
	ctx := context.Background()
	pod := tokenPod("u1")
	get := func(aud string, exp int64) string {
		t.Helper()
		tok, err := m.podToken(ctx, pod, aud, exp)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	// The request: the pod's service account, bound to the pod, the API's default lifetime,
	// no audience (the apiserver's).
	if tok := get("", 0); tok != "tok-1" {
		t.Fatalf("token %q", tok)
	}
	want := `shop/builder {"expirationSeconds":"3600","boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web-u1","uid":"u1"}}`
	if f.requests[0] != want {
		t.Errorf("request\n got %s\nwant %s", f.requests[0], want)
	}
	// Cached until 80% of the lifetime has passed.
	step(47 * time.Minute)
	if tok := get("", 3600); tok != "tok-1" || f.calls() != 1 {
		t.Errorf("at 47m: %q after %d requests, want the cached token", tok, f.calls())
	}
	step(2 * time.Minute)
	if tok := get("", 3600); tok != "tok-2" || f.calls() != 2 {
		t.Errorf("at 49m: %q after %d requests, want a renewal", tok, f.calls())
	}

	// Another audience or lifetime is another token.
	if tok := get("vault", 7200); tok != "tok-3" {
		t.Errorf("audience vault: %q", tok)
	}
	if want := `"audiences":["vault"],"expirationSeconds":"7200"`; !strings.Contains(f.requests[2], want) {
		t.Errorf("request %s lacks %s", f.requests[2], want)
	}

	// A renewal that fails keeps the token while it is valid, then fails.
	f.err = errors.New("apiserver down")
	step(50 * time.Minute) // tok-2 issued at 49m, now 99m: due, 10m left
	if tok, err := m.podToken(ctx, pod, "", 3600); err != nil || tok != "tok-2" {
		t.Errorf("failed renewal: %q %v, want the current token", tok, err)
	}
	step(11 * time.Minute)
	if _, err := m.podToken(ctx, pod, "", 3600); err == nil || !strings.Contains(err.Error(), "expired and its renewal failed: apiserver down") {
		t.Errorf("expired token with a failed renewal: %v", err)
	}
	// A first request that fails is an error in Kubernetes' words.
	if _, err := m.podToken(ctx, tokenPod("u2"), "", 3600); err == nil || err.Error() != "failed to fetch token: apiserver down" {
		t.Errorf("first request failing: %v", err)
	}
}

func TestTokenManagerForgetsPods(t *testing.T) {
	m, f, step := newTestTokenManager(t)
	ctx := context.Background()
	for _, uid := range []string{"u1", "u2"} {
		if _, err := m.podToken(ctx, tokenPod(uid), "", 3600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.podToken(ctx, tokenPod("u2"), "", 600); err != nil {
		t.Fatal(err)
	}
	m.forgetPod("u1")
	if len(m.tokens) != 2 {
		t.Fatalf("%d tokens after forgetting u1, want u2's two", len(m.tokens))
	}
	if _, err := m.podToken(ctx, tokenPod("u1"), "", 3600); err != nil || f.calls() != 4 {
		t.Errorf("u1 asked again: %v, %d requests, want a new request", err, f.calls())
	}
	step(11 * time.Minute) // u2's 600s token has expired
	m.gc()
	if len(m.tokens) != 2 {
		t.Errorf("%d tokens after gc, want the two 1h ones", len(m.tokens))
	}
	noSA := tokenPod("u3")
	noSA.Spec.ServiceAccountName = ""
	if _, err := m.podToken(ctx, noSA, "", 3600); err == nil || !strings.Contains(err.Error(), "no serviceAccountName") {
		t.Errorf("pod without a service account: %v", err)
	}
}

func TestTokenNeedsRenewal(t *testing.T) {
	issued := tokenEpoch
	tr := func(ttl time.Duration, granted bool) *authenticationv1.TokenRequest {
		out := &authenticationv1.TokenRequest{Spec: &authenticationv1.TokenRequestSpec{},
			Status: &authenticationv1.TokenRequestStatus{ExpirationTimestamp: &metav1.Time{Seconds: issued.Add(ttl).Unix()}}}
		if granted {
			s := int64(ttl / time.Second)
			out.Spec.ExpirationSeconds = &s
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		tr        *authenticationv1.TokenRequest
		requested int64
		age       time.Duration
		jitter    time.Duration
		want      bool
	}{
		{"1h token at 47m", tr(time.Hour, true), 3600, 47 * time.Minute, 0, false},
		{"1h token past 48m", tr(time.Hour, true), 3600, 48*time.Minute + time.Second, 0, true},
		{"jitter moves it earlier", tr(time.Hour, true), 3600, 47*time.Minute + 55*time.Second, 10 * time.Second, true},
		{"lifetime from the request when the answer has none", tr(time.Hour, false), 3600, 49 * time.Minute, 0, true},
		{"a granted lifetime wins over the request", tr(2*time.Hour, true), 3600, 49 * time.Minute, 0, false},
		{"48h token at 23h", tr(48*time.Hour, true), 48 * 3600, 23 * time.Hour, 0, false},
		{"48h token past 24h", tr(48*time.Hour, true), 48 * 3600, 24*time.Hour + time.Second, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tokenNeedsRenewal(tc.tr, tc.requested, issued.Add(tc.age), tc.jitter); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
