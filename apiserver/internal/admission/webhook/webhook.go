// Package webhook is the MutatingAdmissionWebhook and ValidatingAdmissionWebhook admission
// plugins: for each write, the webhooks of the Mutating/ValidatingWebhookConfiguration
// objects whose rules and selectors match are called over HTTPS with an admission.k8s.io/v1
// AdmissionReview (verified against the webhook's caBundle); a mutating webhook's JSONPatch
// is applied to the object, and a webhook that refuses refuses the request with its
// message. A webhook that cannot be reached, times out or answers nonsense is skipped under
// failurePolicy Ignore and refuses the request under Fail (the default).
//
// As in Kubernetes, writes to the webhook configurations themselves are never sent to
// webhooks (so a broken webhook cannot lock its own fix out), nor are the server's own
// internal writes (bootstrap objects, which carry no user).
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/uid"
	admissionregistrationv1 "kubelab.io/proto/api/admissionregistration/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/patch"
	"kubelab.io/proto/runtime"
)

// Plugin names, as used in --enable-admission-plugins.
const (
	MutatingPluginName   = "MutatingAdmissionWebhook"
	ValidatingPluginName = "ValidatingAdmissionWebhook"
)

// Source reads what the plugins need: the configurations (from the watch cache) and
// namespaces, for namespace selectors.
type Source struct {
	Mutating     func(ctx context.Context) ([]*admissionregistrationv1.MutatingWebhookConfiguration, error)
	Validating   func(ctx context.Context) ([]*admissionregistrationv1.ValidatingWebhookConfiguration, error)
	GetNamespace func(ctx context.Context, name string) (*corev1.Namespace, error)
	Log          *slog.Logger
}

// hook is what the two kinds of webhook share.
type hook struct {
	config         string
	name           string
	clientConfig   *admissionregistrationv1.WebhookClientConfig
	rules          []*admissionregistrationv1.RuleWithOperations
	failurePolicy  string
	timeout        time.Duration
	namespaceSel   *metav1.LabelSelector
	objectSel      *metav1.LabelSelector
	reviewVersions []string
	sideEffects    string
}

// Mutating is the MutatingAdmissionWebhook plugin.
type Mutating struct{ c *caller }

// Validating is the ValidatingAdmissionWebhook plugin.
type Validating struct{ c *caller }

func NewMutating(src Source) *Mutating     { return &Mutating{c: newCaller(src)} }
func NewValidating(src Source) *Validating { return &Validating{c: newCaller(src)} }

func (*Mutating) Name() string                     { return MutatingPluginName }
func (*Mutating) Handles(admission.Operation) bool { return true }
func (*Validating) Name() string                   { return ValidatingPluginName }
func (*Validating) Handles(admission.Operation) bool {
	return true
}

func (m *Mutating) Admit(ctx context.Context, a *admission.Attributes) error {
	if skip(a) {
		return nil
	}
	configs, err := m.c.src.Mutating(ctx)
	if err != nil {
		return err
	}
	var hooks []hook
	for _, cfg := range sortByName(configs) {
		for _, w := range cfg.GetWebhooks() {
			hooks = append(hooks, hook{cfg.GetMetadata().GetName(), w.GetName(), w.GetClientConfig(), w.GetRules(), w.GetFailurePolicy(),
				timeout(w.TimeoutSeconds), w.GetNamespaceSelector(), w.GetObjectSelector(), w.GetAdmissionReviewVersions(), w.GetSideEffects()})
		}
	}
	for _, h := range hooks {
		if err := m.c.call(ctx, h, a, true); err != nil {
			return err
		}
	}
	return nil
}

func (v *Validating) Validate(ctx context.Context, a *admission.Attributes) error {
	if skip(a) {
		return nil
	}
	configs, err := v.c.src.Validating(ctx)
	if err != nil {
		return err
	}
	var hooks []hook
	for _, cfg := range sortByName(configs) {
		for _, w := range cfg.GetWebhooks() {
			hooks = append(hooks, hook{cfg.GetMetadata().GetName(), w.GetName(), w.GetClientConfig(), w.GetRules(), w.GetFailurePolicy(),
				timeout(w.TimeoutSeconds), w.GetNamespaceSelector(), w.GetObjectSelector(), w.GetAdmissionReviewVersions(), w.GetSideEffects()})
		}
	}
	// Kubernetes calls validating webhooks in parallel; the first refusal (in order) wins.
	errs := make([]error, len(hooks))
	var wg sync.WaitGroup
	for i, h := range hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = v.c.call(ctx, h, a, false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func skip(a *admission.Attributes) bool {
	return a.User == nil || a.Kind.Group == "admissionregistration.k8s.io"
}

func timeout(s *int32) time.Duration {
	if s == nil {
		return 10 * time.Second
	}
	return time.Duration(*s) * time.Second
}

func sortByName[T interface{ GetMetadata() *metav1.ObjectMeta }](in []T) []T {
	out := slices.Clone(in)
	slices.SortFunc(out, func(x, y T) int { return strings.Compare(x.GetMetadata().GetName(), y.GetMetadata().GetName()) })
	return out
}

type caller struct {
	src     Source
	mu      sync.Mutex
	clients map[string]*http.Client // by caBundle
}

func newCaller(src Source) *caller {
	if src.Log == nil {
		src.Log = slog.Default()
	}
	return &caller{src: src, clients: map[string]*http.Client{}}
}

// client returns an HTTPS client trusting caBundle (the system roots when it is empty).
func (c *caller) client(caBundle []byte) (*http.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[string(caBundle)]; ok {
		return cl, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caBundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caBundle) {
			return nil, errors.New("caBundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}}
	c.clients[string(caBundle)] = cl
	return cl, nil
}

// call calls one webhook if it matches the request, and applies or enforces its answer.
func (c *caller) call(ctx context.Context, h hook, a *admission.Attributes, mutating bool) error {
	ok, err := c.matches(ctx, h, a)
	if err != nil || !ok {
		return err
	}
	if a.DryRun && h.sideEffects != "None" && h.sideEffects != "NoneOnDryRun" {
		// A webhook that may act on what it is shown must not see a rehearsal as real.
		return apierrors.NewBadRequest(fmt.Sprintf("admission webhook %q does not support dry run", h.name))
	}
	resp, err := c.send(ctx, h, a)
	if err != nil {
		if h.failurePolicy == "Ignore" {
			c.src.Log.Warn("admission webhook failed; ignored by its failurePolicy", "webhook", h.name, "err", err)
			return nil
		}
		return apierrors.NewInternalError(fmt.Errorf("failed calling webhook %q: %w", h.name, err))
	}
	if !resp.Allowed {
		return denied(h.name, resp.Status)
	}
	if len(resp.Patch) == 0 {
		return nil
	}
	if !mutating {
		return nil // a validating webhook's patch is ignored, as in Kubernetes
	}
	if resp.PatchType != "JSONPatch" {
		return apierrors.NewInternalError(fmt.Errorf("failed calling webhook %q: unsupported patch type %q", h.name, resp.PatchType))
	}
	if a.Object == nil {
		return nil
	}
	original, err := runtime.MarshalJSON(a.Object)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	patched, err := patch.ApplyJSONPatch(original, resp.Patch)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("JSON Patch from webhook %q: %w", h.name, err))
	}
	next := a.Object.ProtoReflect().New().Interface().(runtime.Object)
	if _, err := runtime.UnmarshalJSON(patched, next); err != nil {
		return apierrors.NewInternalError(fmt.Errorf("object patched by webhook %q: %w", h.name, err))
	}
	// The store holds a.Object: change it in place.
	proto.Reset(a.Object)
	proto.Merge(a.Object, next)
	return nil
}

// denied is Kubernetes' refusal: the webhook's status, its message prefixed with who
// refused, and a 4xx code (400 when the webhook gave none).
func denied(name string, st *status) error {
	out := &metav1.Status{Status: "Failure", Code: 400}
	if st != nil {
		out.Code, out.Reason, out.Message = st.Code, st.Reason, st.Message
	}
	if out.Code < 400 {
		out.Code = 400
	}
	by := fmt.Sprintf("admission webhook %q denied the request", name)
	switch {
	case out.Message != "":
		out.Message = by + ": " + out.Message
	case out.Reason != "":
		out.Message = by + ": " + out.Reason
	default:
		out.Message = by + " without explanation"
	}
	out.Kind, out.ApiVersion, out.Metadata = "Status", "v1", &metav1.ListMeta{}
	out.Status = "Failure"
	return apierrors.FromStatus(out)
}

// matches checks the webhook's rules, then its namespace and object selectors.
func (c *caller) matches(ctx context.Context, h hook, a *admission.Attributes) (bool, error) {
	if !slices.ContainsFunc(h.rules, func(r *admissionregistrationv1.RuleWithOperations) bool { return ruleMatches(r, a) }) {
		return false, nil
	}
	if sel := h.objectSel; sel != nil && (len(sel.GetMatchLabels()) > 0 || len(sel.GetMatchExpressions()) > 0) {
		s, err := labels.FromLabelSelector(sel)
		if err != nil {
			return false, nil
		}
		if !(objectMatches(s, a.Object) || objectMatches(s, a.OldObject)) {
			return false, nil
		}
	}
	if sel := h.namespaceSel; sel != nil && (len(sel.GetMatchLabels()) > 0 || len(sel.GetMatchExpressions()) > 0) {
		s, err := labels.FromLabelSelector(sel)
		if err != nil {
			return false, nil
		}
		switch {
		case a.Kind.Group == "" && a.Resource == "namespaces":
			if !(objectMatches(s, a.Object) || objectMatches(s, a.OldObject)) {
				return false, nil
			}
		case a.Namespace != "":
			ns, err := c.src.GetNamespace(ctx, a.Namespace)
			if err != nil {
				if apierrors.IsNotFound(err) {
					return false, nil
				}
				return false, err
			}
			if !s.Matches(ns.GetMetadata().GetLabels()) {
				return false, nil
			}
		}
	}
	return true, nil
}

func objectMatches(s labels.Selector, obj runtime.Object) bool {
	if obj == nil {
		return false
	}
	return s.Matches(obj.GetMetadata().GetLabels())
}

func ruleMatches(r *admissionregistrationv1.RuleWithOperations, a *admission.Attributes) bool {
	if !anyOf(r.GetOperations(), string(a.Operation)) || !anyOf(r.GetApiGroups(), a.Kind.Group) || !anyOf(r.GetApiVersions(), a.Kind.Version) {
		return false
	}
	switch r.GetScope() {
	case "Cluster":
		if a.Namespace != "" && a.Resource != "namespaces" {
			return false
		}
	case "Namespaced":
		if a.Namespace == "" || a.Resource == "namespaces" {
			return false
		}
	}
	for _, res := range r.GetResources() {
		name, sub, _ := strings.Cut(res, "/")
		if (name == "*" || name == a.Resource) && (sub == a.Subresource || sub == "*") {
			return true
		}
	}
	return false
}

func anyOf(list []string, s string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, s)
}

// The admission.k8s.io/v1 AdmissionReview wire format, written
// with encoding/json because object and oldObject are embedded JSON documents.
type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type gvr struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

type userInfo struct {
	Username string   `json:"username,omitempty"`
	UID      string   `json:"uid,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

type request struct {
	UID                string          `json:"uid"`
	Kind               gvk             `json:"kind"`
	Resource           gvr             `json:"resource"`
	SubResource        string          `json:"subResource,omitempty"`
	RequestKind        *gvk            `json:"requestKind,omitempty"`
	RequestResource    *gvr            `json:"requestResource,omitempty"`
	RequestSubResource string          `json:"requestSubResource,omitempty"`
	Name               string          `json:"name,omitempty"`
	Namespace          string          `json:"namespace,omitempty"`
	Operation          string          `json:"operation"`
	UserInfo           userInfo        `json:"userInfo"`
	Object             json.RawMessage `json:"object,omitempty"`
	OldObject          json.RawMessage `json:"oldObject,omitempty"`
	DryRun             *bool           `json:"dryRun,omitempty"`
}

type status struct {
	Code    int32  `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

type response struct {
	UID       string  `json:"uid"`
	Allowed   bool    `json:"allowed"`
	Status    *status `json:"status,omitempty"`
	Patch     []byte  `json:"patch,omitempty"` // base64 on the wire
	PatchType string  `json:"patchType,omitempty"`
}

// send posts the review and returns the webhook's response.
func (c *caller) send(ctx context.Context, h hook, a *admission.Attributes) (*response, error) {
	url := h.clientConfig.GetUrl()
	if url == "" {
		return nil, errors.New("webhook has no clientConfig.url (service references are not supported)")
	}
	if !slices.Contains(h.reviewVersions, "v1") {
		return nil, fmt.Errorf("webhook does not accept admission.k8s.io/v1 (admissionReviewVersions %v)", h.reviewVersions)
	}
	cl, err := c.client(h.clientConfig.GetCaBundle())
	if err != nil {
		return nil, err
	}
	req := &request{
		UID: uid.New(), Kind: gvk{a.Kind.Group, a.Kind.Version, a.Kind.Kind},
		Resource: gvr{a.Kind.Group, a.Kind.Version, a.Resource}, SubResource: a.Subresource,
		Name: a.Name, Namespace: a.Namespace, Operation: string(a.Operation), DryRun: proto.Bool(a.DryRun),
	}
	req.RequestKind, req.RequestResource, req.RequestSubResource = &req.Kind, &req.Resource, req.SubResource
	if u := a.User; u != nil {
		req.UserInfo = userInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	}
	if a.Object != nil {
		if req.Object, err = runtime.MarshalJSON(a.Object); err != nil {
			return nil, err
		}
	}
	if a.OldObject != nil {
		if req.OldObject, err = runtime.MarshalJSON(a.OldObject); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(review{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Request: req})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Accept", "application/json")
	httpResp, err := cl.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("failed to call webhook: %w", err)
	}
	defer httpResp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(httpResp.Body, 3<<20))
	if err != nil {
		return nil, fmt.Errorf("failed to call webhook: %w", err)
	}
	if httpResp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("failed to call webhook: the server responded with HTTP %d", httpResp.StatusCode)
	}
	var out review
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("received invalid webhook response: %w", err)
	}
	if out.Response == nil {
		return nil, errors.New("received invalid webhook response: no response")
	}
	if out.Response.UID != req.UID {
		return nil, fmt.Errorf("expected response.uid=%q, got %q", req.UID, out.Response.UID)
	}
	return out.Response, nil
}
