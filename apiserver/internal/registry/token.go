package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/apiserver/internal/serviceaccount"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/validation"
)

// TokenRequestKind is the body and answer of serviceaccounts/token.
var TokenRequestKind = runtime.GroupVersionKind{Group: scheme.GroupAuthentication, Version: "v1", Kind: "TokenRequest"}

// TokenIssuer is what the serviceaccounts/token subresource needs besides the service
// accounts' Store: the key and names tokens are issued with, and the stores of the objects
// a token may be bound to.
type TokenIssuer struct {
	Signer *serviceaccount.Signer
	// Issuer is the iss of every token (the first --service-account-issuer).
	Issuer string
	// Audiences are the API's own (--api-audiences): a request that names none gets these.
	Audiences []string
	// MaxExpiration caps a token's lifetime (--service-account-max-token-expiration); 0 means
	// no cap.
	MaxExpiration        time.Duration
	Pods, Secrets, Nodes *Store
	// Clock is injected for tests; nil means time.Now.
	Clock func() time.Time
}

// CreateToken issues a token for the service account namespace/name (POST
// serviceaccounts/{name}/token), as upstream's TokenREST: the body's name, namespace and uid,
// when set, must be the account's; its lifetime is defaulted and validated, admission runs
// (NodeRestriction checks a kubelet's request), then the object the token is bound to, if
// any, must exist with the uid named, and a pod must run as this service account. Nothing
// is stored: the answer is the request with status.token and status.expirationTimestamp.
func (s *Store) CreateToken(ctx context.Context, namespace, name string, tr *authenticationv1.TokenRequest, opts CreateOptions, iss *TokenIssuer) (*authenticationv1.TokenRequest, error) {
	gk := func(field string, value any, detail string) error {
		return apierrors.NewInvalid(TokenRequestKind.Kind, TokenRequestKind.Group, name, apierrors.FieldErrors{apierrors.Invalid(field, value, detail)})
	}
	tr = proto.Clone(tr).(*authenticationv1.TokenRequest)
	if tr.Metadata == nil {
		tr.Metadata = &metav1.ObjectMeta{}
	}
	m := tr.Metadata
	if m.Name != "" && m.Name != name {
		return nil, gk("metadata.name", m.Name, "must match the service account name if specified")
	}
	if m.Namespace != "" && m.Namespace != namespace {
		return nil, gk("metadata.namespace", m.Namespace, "must match the service account namespace if specified")
	}
	obj, err := s.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	sa := obj.(*corev1.ServiceAccount)
	saUID := sa.GetMetadata().GetUid()
	trGR := apierrors.GroupResource{Group: TokenRequestKind.Group, Resource: TokenRequestKind.Kind}
	if m.Uid != "" && m.Uid != saUID {
		return nil, apierrors.NewConflict(trGR, name, fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", m.Uid, saUID))
	}
	if tr.Spec == nil {
		tr.Spec = &authenticationv1.TokenRequestSpec{}
	}
	if len(tr.Spec.Audiences) == 0 {
		tr.Spec.Audiences = append([]string(nil), iss.Audiences...)
	}
	m.Name, m.Namespace, m.Uid = name, namespace, saUID
	now := time.Now()
	if iss.Clock != nil {
		now = iss.Clock()
	}
	m.CreationTimestamp = &metav1.Time{Seconds: now.Unix()}
	tr.Status = nil
	defaults.TokenRequest(tr)
	if errs := validation.ValidateTokenRequest(tr); len(errs) > 0 {
		return nil, apierrors.NewInvalid(TokenRequestKind.Kind, TokenRequestKind.Group, "", errs)
	}
	attrs := &admission.Attributes{
		Operation: admission.Create, Kind: TokenRequestKind, Resource: s.Resource.Plural, ResourceGroup: s.Resource.Kind.Group, Subresource: "token",
		Namespace: namespace, Name: name, Object: tr, User: request.UserFrom(ctx), DryRun: opts.DryRun,
	}
	if err := s.Admission.Admit(ctx, attrs); err != nil {
		return nil, err
	}
	if err := s.Admission.Validate(ctx, attrs); err != nil {
		return nil, err
	}
	bound, err := iss.resolveBinding(ctx, namespace, name, tr.Spec.GetBoundObjectRef())
	if err != nil {
		return nil, err
	}
	if max := int64(iss.MaxExpiration / time.Second); max > 0 && tr.Spec.GetExpirationSeconds() > max {
		tr.Spec.ExpirationSeconds = proto.Int64(max)
	}
	lifetime := time.Duration(tr.Spec.GetExpirationSeconds()) * time.Second
	claims := serviceaccount.NewClaims(iss.Issuer, now, lifetime, tr.Spec.Audiences, namespace,
		serviceaccount.Ref{Name: name, UID: saUID}, bound)
	token, err := iss.Signer.Sign(claims)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %w", err))
	}
	tr.Kind, tr.ApiVersion = TokenRequestKind.Kind, TokenRequestKind.APIVersion()
	tr.Status = &authenticationv1.TokenRequestStatus{
		Token: token, ExpirationTimestamp: &metav1.Time{Seconds: now.Add(lifetime).Unix()},
	}
	if s.Log != nil {
		s.Log.Debug("issued service account token", "serviceaccount", namespace+"/"+name, "jti", claims.ID,
			"audiences", tr.Spec.Audiences, "expirationSeconds", tr.Spec.GetExpirationSeconds())
	}
	return tr, nil
}

// resolveBinding finds the object a token is to be bound to. Only a Pod (with the node it
// is scheduled on) or a Secret in the account's namespace may be named; a uid that is not
// the object's means it was deleted and recreated since the client looked, a 409.
func (iss *TokenIssuer) resolveBinding(ctx context.Context, namespace, saName string, ref *authenticationv1.BoundObjectReference) (serviceaccount.Binding, error) {
	var b serviceaccount.Binding
	if ref == nil {
		return b, nil
	}
	group, version := "", ref.GetApiVersion()
	if g, v, ok := strings.Cut(version, "/"); ok {
		group, version = g, v
	}
	var uid string
	switch {
	case group == "" && ref.GetKind() == "Pod":
		obj, err := iss.Pods.Get(ctx, namespace, ref.GetName())
		if err != nil {
			return b, err
		}
		pod := obj.(*corev1.Pod)
		if sa := pod.GetSpec().GetServiceAccountName(); sa != saName {
			return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		uid = pod.GetMetadata().GetUid()
		b.Pod = &serviceaccount.Ref{Name: pod.GetMetadata().GetName(), UID: uid}
		if nodeName := pod.GetSpec().GetNodeName(); nodeName != "" {
			// A node that is gone still leaves its name in the token, as upstream: it
			// tells whoever inspects the token where the pod ran.
			b.Node = &serviceaccount.Ref{Name: nodeName}
			if n, err := iss.Nodes.Get(ctx, "", nodeName); err == nil {
				b.Node.UID = n.GetMetadata().GetUid()
			} else if !apierrors.IsNotFound(err) {
				return b, err
			}
		}
	case group == "" && ref.GetKind() == "Secret":
		obj, err := iss.Secrets.Get(ctx, namespace, ref.GetName())
		if err != nil {
			return b, err
		}
		uid = obj.GetMetadata().GetUid()
		b.Secret = &serviceaccount.Ref{Name: ref.GetName(), UID: uid}
	default:
		return b, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s/%s, Kind=%s", group, version, ref.GetKind()))
	}
	if ref.GetUid() != "" && ref.GetUid() != uid {
		return b, apierrors.NewConflict(apierrors.GroupResource{Group: group, Resource: ref.GetKind()}, ref.GetName(),
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.GetUid()))
	}
	return b, nil
}
