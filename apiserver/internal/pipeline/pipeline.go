// Package pipeline is the one path every API call takes after its front door (REST or gRPC)
// has authenticated it and decoded its body: resolve the resource, authorize the user, then
// hand the call to the resource's registry Store, which runs admission, defaulting,
// validation and storage. Front doors differ only in how they read requests and write
// answers; what is allowed and what happens is decided here, once.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/request"
	appsv1 "kubelab.io/proto/api/apps/v1"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	authorizationv1 "kubelab.io/proto/api/authorization/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/patch"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

// Pipeline serves API calls.
type Pipeline struct {
	Registry   *registry.Registry
	Stores     map[*registry.Resource]*registry.Store
	Authorizer authz.Authorizer
	// Kubelet reaches kubelets' HTTPS servers for pods/log, exec, attach and portforward:
	// it presents the apiserver's kubelet client certificate and verifies the kubelets'
	// serving certificates. Nil answers those subresources with 503.
	Kubelet *http.Client
	// Tokens issues service account tokens (serviceaccounts/token); nil answers that
	// subresource with 404, as a server without a signing key would.
	Tokens *registry.TokenIssuer
}

// subresources lists which subresources each resource serves, and with which verbs.
var subresources = map[string]map[string][]string{
	"status":   {"*": {"get", "update", "patch"}},
	"binding":  {"pods": {"create"}},
	"eviction": {"pods": {"create"}},
	"token":    {"serviceaccounts": {"create"}},
	"scale":    {"deployments": {"get", "update", "patch"}, "replicasets": {"get", "update", "patch"}, "statefulsets": {"get", "update", "patch"}},
	"finalize": {"namespaces": {"update"}},
	"log":      {"pods": {"get"}},
	// The streaming subresources: POST for SPDY clients, GET for websocket ones (authorized
	// to create as well).
	"exec":        {"pods": {"get", "create"}},
	"attach":      {"pods": {"get", "create"}},
	"portforward": {"pods": {"get", "create"}},
}

// NotFound is Kubernetes' answer for a path that names no resource.
func NotFound() error {
	return &apierrors.StatusError{ErrStatus: &metav1.Status{
		Status: "Failure", Code: http.StatusNotFound, Reason: apierrors.ReasonNotFound,
		Message: "the server could not find the requested resource", Details: &metav1.StatusDetails{},
	}}
}

// Resolve finds the store serving info's resource and checks that the resource serves the
// subresource and verb asked for.
func (p *Pipeline) Resolve(info *request.Info) (*registry.Store, error) {
	res, ok := p.Registry.Lookup(info.APIGroup, info.APIVersion, info.Resource)
	if !ok {
		return nil, NotFound()
	}
	if info.Namespace != "" && !res.Namespaced && info.Resource != "namespaces" {
		return nil, NotFound()
	}
	if res.Virtual && (info.Verb != "create" || info.Subresource != "" || info.Name != "") {
		return nil, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb)
	}
	if info.Subresource != "" {
		byResource, ok := subresources[info.Subresource]
		if !ok {
			return nil, NotFound()
		}
		verbs, ok := byResource[info.Resource]
		if !ok {
			if verbs, ok = byResource["*"]; !ok || !res.StatusSubresource {
				return nil, NotFound()
			}
		}
		if !contains(verbs, info.Verb) {
			return nil, apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb)
		}
		if info.Subresource == "token" && p.Tokens == nil {
			return nil, NotFound()
		}
	}
	return p.Stores[res], nil
}

// storeFor returns the store of a v1 resource, nil when none is registered.
func (p *Pipeline) storeFor(group, resource string) *registry.Store {
	res, ok := p.Registry.Lookup(group, "v1", resource)
	if !ok {
		return nil
	}
	return p.Stores[res]
}

// Authorize asks the authorizer whether the request's user may do what info asks.
func (p *Pipeline) Authorize(ctx context.Context, info *request.Info) error {
	u := request.UserFrom(ctx)
	d, reason, err := p.Authorizer.Authorize(ctx, authz.Attributes{User: u, Info: info})
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if d == authz.Allow {
		return nil
	}
	return forbidden(u, info, reason)
}

func forbidden(u *request.User, info *request.Info, reason string) error {
	name := "system:anonymous"
	if u != nil {
		name = u.Name
	}
	if !info.IsResourceRequest {
		msg := fmt.Sprintf("forbidden: User %q cannot %s path %q", name, info.Verb, info.Path)
		if reason != "" {
			msg += ": " + reason
		}
		return &apierrors.StatusError{ErrStatus: &metav1.Status{
			Status: "Failure", Code: http.StatusForbidden, Reason: apierrors.ReasonForbidden, Message: msg,
			Details: &metav1.StatusDetails{},
		}}
	}
	resource := info.Resource
	if info.Subresource != "" {
		resource += "/" + info.Subresource
	}
	detail := fmt.Sprintf("User %q cannot %s resource %q in API group %q", name, info.Verb, resource, info.APIGroup)
	if info.Namespace != "" && info.Resource != "namespaces" {
		detail += fmt.Sprintf(" in the namespace %q", info.Namespace)
	} else {
		detail += " at the cluster scope"
	}
	if reason != "" {
		detail += ": " + reason
	}
	return apierrors.NewForbidden(apierrors.GroupResource{Group: info.APIGroup, Resource: info.Resource}, info.Name, errors.New(detail))
}

// Call is one authorized request, bound to the store that serves it. Front doors get one
// from Begin before they read the body, so an unauthorized client learns nothing from how
// its body would have been decoded.
type Call struct {
	p     *Pipeline
	info  *request.Info
	store *registry.Store
}

// Begin resolves and authorizes the request; every verb starts here.
func (p *Pipeline) Begin(ctx context.Context, info *request.Info) (*Call, error) {
	store, err := p.Resolve(info)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize(ctx, info); err != nil {
		return nil, err
	}
	return &Call{p: p, info: info, store: store}, nil
}

// Resource is the registration of the resource the call acts on.
func (c *Call) Resource() *registry.Resource { return c.store.Resource }

// BodyKind is the kind of object a create of this call takes: the resource's own, or a
// subresource's (a TokenRequest for serviceaccounts/token).
func (c *Call) BodyKind() runtime.GroupVersionKind {
	if c.info.Subresource == "token" {
		return registry.TokenRequestKind
	}
	return c.store.Resource.Kind
}

// Get serves get, for the resource and its status and scale subresources.
func (c *Call) Get(ctx context.Context) (runtime.Object, error) {
	info, store := c.info, c.store
	if info.Subresource == "scale" {
		return store.GetScale(ctx, info.Namespace, info.Name)
	}
	if info.Subresource == "log" {
		return nil, apierrors.NewBadRequest("pods/log is a stream of text, not an object") // served by Logs
	}
	return store.Get(ctx, info.Namespace, info.Name)
}

// List serves list.
func (c *Call) List(ctx context.Context, opts registry.ListOptions) (runtime.ListObject, error) {
	info, store := c.info, c.store
	return store.List(ctx, info.Namespace, opts)
}

// Watch serves watch.
func (c *Call) Watch(ctx context.Context, opts registry.ListOptions) (watch.Interface, error) {
	info, store := c.info, c.store
	return store.Watch(ctx, info.Namespace, opts)
}

// Create serves create; for pods/binding and pods/eviction, body is a Binding or an Eviction
// and the result is nil; for serviceaccounts/token, body is a TokenRequest and so is the
// result, with the token in its status.
func (c *Call) Create(ctx context.Context, body runtime.Object, opts registry.CreateOptions) (runtime.Object, error) {
	info, store := c.info, c.store
	switch info.Subresource {
	case "binding":
		b, ok := body.(*corev1.Binding)
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("expected a Binding, got %s", body.GetKind()))
		}
		return nil, store.Bind(ctx, info.Namespace, info.Name, b, opts)
	case "eviction":
		ev, ok := body.(*policyv1.Eviction)
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("expected an Eviction, got %s", body.GetKind()))
		}
		return nil, store.Evict(ctx, info.Namespace, info.Name, ev, opts, c.p.storeFor(scheme.GroupPolicy, "poddisruptionbudgets"))
	case "token":
		tr, ok := body.(*authenticationv1.TokenRequest)
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("expected a TokenRequest, got %s", body.GetKind()))
		}
		return store.CreateToken(ctx, info.Namespace, info.Name, tr, opts, c.p.Tokens)
	}
	if err := checkKind(store, body); err != nil {
		return nil, err
	}
	if store.Resource.Virtual {
		return c.p.review(ctx, store.Resource, body)
	}
	return store.Create(ctx, info.Namespace, body, opts)
}

// Update serves update, for the resource and its status, scale and finalize subresources.
func (c *Call) Update(ctx context.Context, body runtime.Object, opts registry.UpdateOptions) (runtime.Object, error) {
	info, store := c.info, c.store
	if info.Subresource == "scale" {
		scale, ok := body.(*appsv1.Scale)
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("expected a Scale, got %s", body.GetKind()))
		}
		return store.UpdateScale(ctx, info.Namespace, info.Name, scale, opts)
	}
	if err := checkKind(store, body); err != nil {
		return nil, err
	}
	opts.Subresource = info.Subresource
	return store.Update(ctx, info.Namespace, info.Name, body, opts)
}

// Patch serves patch: the stored object (or its Scale) is patched as JSON and the result goes
// through the update path. checkUnknown sees the fields of the patched document the schema
// lacks before anything is written, and may refuse them. A patch that does not pin a
// resourceVersion is retried when a concurrent write wins the race, as Kubernetes does.
func (c *Call) Patch(ctx context.Context, patchType patch.Type, data []byte, checkUnknown func([]string) error, opts registry.UpdateOptions) (runtime.Object, error) {
	info, store := c.info, c.store
	opts.Subresource = info.Subresource
	const attempts = 5
	for i := 0; ; i++ {
		var current runtime.Object
		var err error
		if info.Subresource == "scale" {
			current, err = store.GetScale(ctx, info.Namespace, info.Name)
		} else {
			current, err = store.Get(ctx, info.Namespace, info.Name)
		}
		if err != nil {
			return nil, err
		}
		original, err := runtime.MarshalJSON(current)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := patch.Apply(patchType, original, data, current.GetKind())
		if err != nil {
			return nil, patchError(err, store, info.Name)
		}
		next := current.ProtoReflect().New().Interface().(runtime.Object)
		unknown, err := runtime.UnmarshalJSON(patched, next)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if err := checkUnknown(unknown); err != nil {
			return nil, err
		}
		pinned := runtime.Meta(next).ResourceVersion != current.GetMetadata().GetResourceVersion()
		if !pinned {
			runtime.Meta(next).ResourceVersion = current.GetMetadata().GetResourceVersion()
		}
		var out runtime.Object
		if scale, ok := next.(*appsv1.Scale); ok {
			out, err = store.UpdateScale(ctx, info.Namespace, info.Name, scale, opts)
		} else {
			out, err = store.Update(ctx, info.Namespace, info.Name, next, opts)
		}
		if apierrors.IsConflict(err) && !pinned && i < attempts-1 {
			continue
		}
		return out, err
	}
}

// patchError answers a patch that could not be applied with the code Kubernetes uses for
// it: 400 for a malformed patch, 422 for one that cannot apply, 415 for an unsupported type.
func patchError(err error, store *registry.Store, name string) error {
	switch code := patch.HTTPStatus(err); code {
	case http.StatusUnprocessableEntity:
		return apierrors.NewInvalid(store.Resource.Kind.Kind, store.Resource.Kind.Group, name, apierrors.FieldErrors{
			apierrors.Invalid("patch", nil, err.Error()),
		})
	case http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge:
		return &apierrors.StatusError{ErrStatus: &metav1.Status{
			Status: "Failure", Code: int32(code), Reason: map[int]string{
				http.StatusUnsupportedMediaType:  apierrors.ReasonUnsupportedMediaType,
				http.StatusRequestEntityTooLarge: apierrors.ReasonRequestEntityTooLarge,
			}[code], Message: err.Error(),
		}}
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(err.Error())
	default:
		return apierrors.NewInternalError(err)
	}
}

// Delete serves delete.
func (c *Call) Delete(ctx context.Context, opts *metav1.DeleteOptions) (*registry.DeleteResult, error) {
	info, store := c.info, c.store
	return store.Delete(ctx, info.Namespace, info.Name, opts)
}

// DeleteCollection serves deletecollection.
func (c *Call) DeleteCollection(ctx context.Context, listOpts registry.ListOptions, opts *metav1.DeleteOptions) (runtime.ListObject, error) {
	info, store := c.info, c.store
	return store.DeleteCollection(ctx, info.Namespace, listOpts, opts)
}

// checkKind refuses a body of another kind than the resource's (a Pod posted to
// deployments), as Kubernetes does.
func checkKind(store *registry.Store, body runtime.Object) error {
	want := store.Resource.Kind
	got, ok := scheme.Scheme.KindFor(body)
	if !ok || got != want {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", body.GetApiVersion(), want.APIVersion()))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// review answers a virtual resource's create: a question about the caller, answered from
// who the request runs as (under impersonation, the impersonated user). Nothing is stored.
func (p *Pipeline) review(ctx context.Context, res *registry.Resource, body runtime.Object) (runtime.Object, error) {
	if res.Validate != nil {
		if errs := res.Validate(body); len(errs) > 0 {
			return nil, apierrors.NewInvalid(res.Kind.Kind, res.Kind.Group, body.GetMetadata().GetName(), errs)
		}
	}
	u := request.UserFrom(ctx)
	if u == nil {
		return nil, apierrors.NewBadRequest("no user present on request") // as Kubernetes words it
	}
	switch r := body.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		return p.accessReview(ctx, res, r)
	case *authenticationv1.SelfSubjectReview:
		return selfReview(res, u), nil
	case *authorizationv1.SelfSubjectRulesReview:
		return p.rulesReview(ctx, res, u, r)
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("unexpected %s", body.GetKind()))
}

// selfReview is `kubectl auth whoami`: the user as authenticated, stamped with the time of
// the answer as Kubernetes does.
func selfReview(res *registry.Resource, u *request.User) *authenticationv1.SelfSubjectReview {
	info := &authenticationv1.UserInfo{Username: u.Name, Uid: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		info.Extra = make(map[string]*authenticationv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			info.Extra[k] = &authenticationv1.ExtraValue{Items: v}
		}
	}
	return &authenticationv1.SelfSubjectReview{
		Kind: res.Kind.Kind, ApiVersion: res.Kind.APIVersion(),
		Metadata: &metav1.ObjectMeta{CreationTimestamp: &metav1.Time{Seconds: time.Now().Unix()}},
		Status:   &authenticationv1.SelfSubjectReviewStatus{UserInfo: info},
	}
}

// rulesReview is `kubectl auth can-i --list`: the rules the authorizers grant the caller in
// the namespace (cluster-wide ones included), split into resource and non-resource rules as
// Kubernetes does. Like Kubernetes it wants a namespace, and answers with the status alone.
func (p *Pipeline) rulesReview(ctx context.Context, res *registry.Resource, u *request.User, r *authorizationv1.SelfSubjectRulesReview) (runtime.Object, error) {
	namespace := r.GetSpec().GetNamespace()
	if namespace == "" {
		return nil, apierrors.NewBadRequest("no namespace on request")
	}
	status := &authorizationv1.SubjectRulesReviewStatus{}
	rr, ok := p.Authorizer.(authz.RuleResolver)
	if !ok {
		status.Incomplete = true
	} else {
		rules, incomplete, err := rr.RulesFor(ctx, u, namespace)
		status.Incomplete = incomplete
		if err != nil {
			status.EvaluationError = err.Error()
		}
		for _, rule := range rules {
			if len(rule.GetResources()) > 0 {
				status.ResourceRules = append(status.ResourceRules, &authorizationv1.ResourceRule{
					Verbs: rule.GetVerbs(), ApiGroups: rule.GetApiGroups(), Resources: rule.GetResources(), ResourceNames: rule.GetResourceNames(),
				})
			}
			if len(rule.GetNonResourceURLs()) > 0 {
				status.NonResourceRules = append(status.NonResourceRules, &authorizationv1.NonResourceRule{
					Verbs: rule.GetVerbs(), NonResourceURLs: rule.GetNonResourceURLs(),
				})
			}
		}
	}
	return &authorizationv1.SelfSubjectRulesReview{
		Kind: res.Kind.Kind, ApiVersion: res.Kind.APIVersion(), Metadata: &metav1.ObjectMeta{},
		Spec: &authorizationv1.SelfSubjectRulesReviewSpec{}, Status: status,
	}, nil
}

// accessReview is `kubectl auth can-i`: the chain's own decision for the caller, on the
// request the review describes.
func (p *Pipeline) accessReview(ctx context.Context, res *registry.Resource, r *authorizationv1.SelfSubjectAccessReview) (runtime.Object, error) {
	var info *request.Info
	if ra := r.GetSpec().GetResourceAttributes(); ra != nil {
		info = &request.Info{
			IsResourceRequest: true, Verb: ra.GetVerb(), APIGroup: ra.GetGroup(), APIVersion: ra.GetVersion(),
			Namespace: ra.GetNamespace(), Resource: ra.GetResource(), Subresource: ra.GetSubresource(), Name: ra.GetName(),
		}
	} else {
		na := r.GetSpec().GetNonResourceAttributes()
		info = &request.Info{Path: na.GetPath(), Verb: na.GetVerb()}
	}
	d, reason, err := p.Authorizer.Authorize(ctx, authz.Attributes{User: request.UserFrom(ctx), Info: info})
	status := &authorizationv1.SubjectAccessReviewStatus{Allowed: d == authz.Allow, Denied: d == authz.Deny, Reason: reason}
	if err != nil {
		status.EvaluationError = err.Error()
	}
	if status.Denied && strings.TrimSpace(status.Reason) == "" {
		status.Reason = "denied"
	}
	out := &authorizationv1.SelfSubjectAccessReview{
		Kind: res.Kind.Kind, ApiVersion: res.Kind.APIVersion(), Metadata: r.GetMetadata(), Spec: r.GetSpec(), Status: status,
	}
	if out.Metadata == nil {
		out.Metadata = &metav1.ObjectMeta{}
	}
	return out, nil
}
