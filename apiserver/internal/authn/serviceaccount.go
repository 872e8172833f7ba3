package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"kubelab.io/apiserver/internal/request"
	"kubelab.io/apiserver/internal/serviceaccount"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// MetaGetter reads the metadata of a namespaced object (from the watch cache where
// possible: every request with a service account token costs one to three of these).
type MetaGetter func(ctx context.Context, namespace, name string) (*metav1.ObjectMeta, error)

// ServiceAccountTokens authenticates the bearer tokens the apiserver issues for service
// accounts (serviceaccounts/token), as kube-apiserver's service account authenticator: a
// JWT whose issuer is one of Issuers, signed by one of Keys, for one of Audiences, not
// expired, whose service account — and the pod or secret it is bound to — still exists with
// the uid it names. A token issued by someone else, or no JWT at all, is not its kind: the
// chain moves on (a static token file may know it). A token of ours that fails any check is
// refused outright, and the reason logged, never told to the client.
type ServiceAccountTokens struct {
	Issuers   []string
	Keys      *serviceaccount.KeySet
	Audiences []string
	// ServiceAccounts, Pods and Secrets look up what a token names.
	ServiceAccounts, Pods, Secrets MetaGetter
	// Clock is injected for tests; nil means time.Now.
	Clock func() time.Time
	Log   *slog.Logger
}

// errInvalidated is a token whose object is gone or was replaced.
var errInvalidated = errors.New("token has been invalidated")

func (a *ServiceAccountTokens) Authenticate(ctx context.Context, c Credentials) (*request.User, bool, error) {
	token, ok := bearerToken(c.Authorization)
	if !ok {
		return nil, false, nil
	}
	iss, ok := serviceaccount.PeekIssuer(token)
	if !ok || !slices.Contains(a.Issuers, iss) {
		return nil, false, nil
	}
	u, err := a.authenticate(ctx, token)
	if err != nil {
		if a.Log != nil {
			a.Log.Info("refused service account token", "err", err)
		}
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidCredentials, err)
	}
	return u, true, nil
}

func (a *ServiceAccountTokens) authenticate(ctx context.Context, token string) (*request.User, error) {
	claims, err := a.Keys.Verify(token)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if a.Clock != nil {
		now = a.Clock()
	}
	if err := claims.Validate(now, a.Audiences); err != nil {
		return nil, err
	}
	k := claims.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" || k.ServiceAccount.UID == "" {
		return nil, errors.New("token lacks the kubernetes.io claims of a service account")
	}
	if ns, name, ok := serviceaccount.SplitUsername(claims.Subject); !ok || ns != k.Namespace || name != k.ServiceAccount.Name {
		return nil, fmt.Errorf("sub %q does not name the service account %s/%s", claims.Subject, k.Namespace, k.ServiceAccount.Name)
	}
	// An object deleted gracefully keeps its tokens for the leeway after its deletion
	// time, as upstream: the pod's containers are still stopping.
	gone := now.Add(-serviceaccount.Leeway)
	check := func(what string, get MetaGetter, ref *serviceaccount.Ref) error {
		if ref == nil {
			return nil
		}
		if get == nil {
			return fmt.Errorf("cannot look up %s %s/%s", what, k.Namespace, ref.Name)
		}
		m, err := get(ctx, k.Namespace, ref.Name)
		if err != nil {
			return fmt.Errorf("%w: %s %s/%s: %v", errInvalidated, what, k.Namespace, ref.Name, err)
		}
		if m.GetUid() != ref.UID {
			return fmt.Errorf("%w: %s UID (%s) does not match claim (%s)", errInvalidated, what, m.GetUid(), ref.UID)
		}
		if dt := m.GetDeletionTimestamp(); dt != nil && time.Unix(dt.GetSeconds(), 0).Before(gone) {
			return fmt.Errorf("%w: %s %s/%s has been deleted", errInvalidated, what, k.Namespace, ref.Name)
		}
		return nil
	}
	if err := check("service account", a.ServiceAccounts, &k.ServiceAccount); err != nil {
		return nil, err
	}
	if err := check("secret", a.Secrets, k.Secret); err != nil {
		return nil, err
	}
	if err := check("pod", a.Pods, k.Pod); err != nil {
		return nil, err
	}
	u := &request.User{
		Name: claims.Subject, UID: k.ServiceAccount.UID, Groups: serviceaccount.Groups(k.Namespace),
	}
	extra := map[string][]string{}
	if k.Pod != nil {
		extra[serviceaccount.ExtraPodName] = []string{k.Pod.Name}
		extra[serviceaccount.ExtraPodUID] = []string{k.Pod.UID}
	}
	if k.Node != nil {
		extra[serviceaccount.ExtraNodeName] = []string{k.Node.Name}
		if k.Node.UID != "" {
			extra[serviceaccount.ExtraNodeUID] = []string{k.Node.UID}
		}
	}
	if claims.ID != "" {
		extra[serviceaccount.ExtraCredentialID] = []string{"JTI=" + claims.ID}
	}
	if len(extra) > 0 {
		u.Extra = extra
	}
	return u, nil
}
