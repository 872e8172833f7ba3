package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/utils/clock"

	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
)

// Service account tokens for projected volumes, as Kubernetes' kubelet token manager
// keeps them: a token is requested (serviceaccounts/token) once for each pod, service
// account, audience and lifetime, bound to the pod (so the apiserver refuses it once the
// pod is gone, and the Node authorizer lets a kubelet ask only for its own pods), cached,
// and requested anew when 80% of its lifetime has passed or it is 24h old, so a
// container reading the file always finds a token with time left.

// tokenRequester asks the apiserver for a token of a service account. *kube.Clientset is
// one; tests use a fake.
type tokenRequester interface {
	CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

const (
	// defaultTokenExpirationSeconds is the API's default of serviceAccountToken's
	// expirationSeconds.
	defaultTokenExpirationSeconds = 3600
	// maxTokenAge is when a token is renewed whatever its lifetime: tokens of a long
	// lifetime still rotate daily.
	maxTokenAge = 24 * time.Hour
	// maxTokenJitter spreads renewals, so pods started together do not renew together.
	maxTokenJitter = 10 * time.Second
)

type tokenKey struct {
	namespace, serviceAccount, audience string
	expirationSeconds                   int64
	podUID                              string
}

// tokenManager caches the tokens of the node's pods. Its methods are safe for concurrent
// use by the pod workers; a key is only ever asked for by one pod's worker, so the lock is
// not held while a request is in flight.
type tokenManager struct {
	requester tokenRequester
	clock     clock.PassiveClock
	log       *slog.Logger
	// jitter returns a duration in [0, maxTokenJitter), subtracted from both renewal
	// thresholds.
	jitter func() time.Duration

	mu     sync.Mutex
	tokens map[tokenKey]*authenticationv1.TokenRequest
}

func newTokenManager(r tokenRequester, c clock.PassiveClock, log *slog.Logger) *tokenManager {
	return &tokenManager{
		requester: r, clock: c, log: log,
		jitter: func() time.Duration { return time.Duration(rand.Int64N(int64(maxTokenJitter))) },
		tokens: map[tokenKey]*authenticationv1.TokenRequest{},
	}
}

// podToken is a token of pod's service account for audience (empty: the apiserver's own),
// valid for about expirationSeconds (0: the API's default), bound to pod. It is the cached
// one unless that one is due for renewal; a failed renewal keeps serving the cached token
// while it has not expired, as a container must not lose its credentials to an apiserver
// hiccup.
func (m *tokenManager) podToken(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error) {
	if m == nil || m.requester == nil {
		return "", errors.New("this kubelet requests no service account tokens")
	}
	meta := pod.GetMetadata()
	sa := pod.GetSpec().GetServiceAccountName()
	if sa == "" {
		return "", errors.New("failed to fetch token: the pod has no serviceAccountName")
	}
	if expirationSeconds == 0 {
		expirationSeconds = defaultTokenExpirationSeconds
	}
	key := tokenKey{namespace: meta.GetNamespace(), serviceAccount: sa, audience: audience, expirationSeconds: expirationSeconds, podUID: meta.GetUid()}
	now := m.clock.Now()
	m.mu.Lock()
	cached := m.tokens[key]
	m.mu.Unlock()
	if cached != nil && !tokenNeedsRenewal(cached, expirationSeconds, now, m.jitter()) {
		return cached.GetStatus().GetToken(), nil
	}

	req := &authenticationv1.TokenRequest{Spec: &authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", ApiVersion: "v1", Name: meta.GetName(), Uid: meta.GetUid()},
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	tr, err := m.requester.CreateToken(ctx, key.namespace, sa, req)
	if err == nil && tr.GetStatus().GetToken() == "" {
		err = errors.New("the apiserver returned no token")
	}
	if err != nil {
		switch {
		case cached == nil:
			return "", fmt.Errorf("failed to fetch token: %w", err)
		case !now.Before(tokenExpiry(cached)):
			return "", fmt.Errorf("token of service account %s/%s expired and its renewal failed: %w", key.namespace, sa, err)
		}
		m.log.Warn("service account token renewal failed; keeping the current one", "pod", podDesc(pod), "serviceAccount", sa,
			"audience", audience, "expires", tokenExpiry(cached), "err", err)
		return cached.GetStatus().GetToken(), nil
	}
	m.mu.Lock()
	m.tokens[key] = tr
	m.mu.Unlock()
	m.log.Info("service account token issued", "pod", podDesc(pod), "serviceAccount", sa, "audience", audience,
		"expires", tokenExpiry(tr), "renewal", cached != nil)
	return tr.GetStatus().GetToken(), nil
}

// tokenExpiry is when tr's token expires.
func tokenExpiry(tr *authenticationv1.TokenRequest) time.Time {
	ts := tr.GetStatus().GetExpirationTimestamp()
	return time.Unix(ts.GetSeconds(), int64(ts.GetNanos()))
}

// tokenNeedsRenewal reports whether the token of tr is to be replaced at now: when it
// is older than maxTokenAge, or less than 20% of its lifetime is left (each threshold
// moved earlier by jitter). Its lifetime is what the apiserver granted (spec of the
// answer), else what was requested. It is pure.
func tokenNeedsRenewal(tr *authenticationv1.TokenRequest, requestedSeconds int64, now time.Time, jitter time.Duration) bool {
	ttl := time.Duration(requestedSeconds) * time.Second
	if s := tr.GetSpec().ExpirationSeconds; s != nil {
		ttl = time.Duration(*s) * time.Second
	}
	exp := tokenExpiry(tr)
	issued := exp.Add(-ttl)
	if now.After(issued.Add(maxTokenAge - jitter)) {
		return true
	}
	return now.After(exp.Add(-ttl/5 - jitter))
}

// forgetPod drops the tokens bound to the pod uid: it is gone from the node.
func (m *tokenManager) forgetPod(uid string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.tokens {
		if k.podUID == uid {
			delete(m.tokens, k)
		}
	}
}

// gc drops expired tokens (of pods that finished but are not deleted yet: nothing renews
// them).
func (m *tokenManager) gc() {
	if m == nil {
		return
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, tr := range m.tokens {
		if !now.Before(tokenExpiry(tr)) {
			delete(m.tokens, k)
		}
	}
}
