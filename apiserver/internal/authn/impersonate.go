package authn

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"kubelab.io/apiserver/internal/request"
	"kubelab.io/apiserver/internal/serviceaccount"
	"kubelab.io/proto/apierrors"
)

// The impersonation headers, as Kubernetes names them. The gRPC front door reads the same
// names in lower case from the call's metadata.
const (
	HeaderImpersonateUser        = "Impersonate-User"
	HeaderImpersonateGroup       = "Impersonate-Group"
	HeaderImpersonateUID         = "Impersonate-Uid"
	HeaderImpersonateExtraPrefix = "Impersonate-Extra-"
)

// Impersonation is what a request asks to act as: a user, and with it optionally groups, a
// uid and extra values. Every part must be granted to the requester with the verb
// `impersonate` before the request runs as the new identity.
type Impersonation struct {
	User   string
	Groups []string
	UID    string
	// Extra is keyed by the lower-case, %-decoded header suffix.
	Extra map[string][]string
}

// ParseImpersonation reads the impersonation headers from an HTTP header or gRPC metadata
// (any key case). It returns nil when the request asks for none, and an InternalError Status
// when it names groups, extras or a uid without a user: Kubernetes answers that with 500
// and the same message.
func ParseImpersonation(h map[string][]string) (*Impersonation, error) {
	var im Impersonation
	found := false
	for k, vs := range h {
		lk := strings.ToLower(k)
		switch {
		case lk == "impersonate-user":
			if len(vs) > 0 {
				im.User = vs[0]
			}
		case lk == "impersonate-group":
			im.Groups = append(im.Groups, vs...)
		case lk == "impersonate-uid":
			if len(vs) > 0 {
				im.UID = vs[0]
			}
		case strings.HasPrefix(lk, "impersonate-extra-"):
			key := lk[len("impersonate-extra-"):]
			if dec, err := url.PathUnescape(key); err == nil {
				key = dec
			}
			if im.Extra == nil {
				im.Extra = map[string][]string{}
			}
			im.Extra[key] = append(im.Extra[key], vs...)
		default:
			continue
		}
		found = true
	}
	if !found {
		return nil, nil
	}
	if im.User == "" && (len(im.Groups) > 0 || len(im.Extra) > 0 || im.UID != "") {
		return nil, apierrors.NewInternalError(fmt.Errorf("requested %s without impersonating a user", im.describe()))
	}
	if im.User == "" {
		return nil, nil // empty headers ask for nothing, as upstream
	}
	return &im, nil
}

// IsImpersonationHeader reports whether a header (or metadata key) is one of those, so a
// front door can remove them once the identity has changed.
func IsImpersonationHeader(k string) bool {
	lk := strings.ToLower(k)
	return lk == "impersonate-user" || lk == "impersonate-group" || lk == "impersonate-uid" ||
		strings.HasPrefix(lk, "impersonate-extra-")
}

// extraKeys are Extra's keys in order, so the first refusal is the same on every run.
func (im *Impersonation) extraKeys() []string {
	keys := make([]string, 0, len(im.Extra))
	for k := range im.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Checks are the authorization requests the impersonation needs, in Kubernetes' order: the
// user (or service account), each group, each extra value, the uid.
func (im *Impersonation) Checks() []*request.Info {
	imp := func(group, resource, sub, ns, name string) *request.Info {
		return &request.Info{
			IsResourceRequest: true, Verb: "impersonate", APIGroup: group, APIVersion: "v1",
			Namespace: ns, Resource: resource, Subresource: sub, Name: name,
		}
	}
	var out []*request.Info
	// Impersonating a service account is authorized on the serviceaccounts resource of its
	// namespace, as in Kubernetes.
	if ns, name, ok := serviceaccount.SplitUsername(im.User); ok {
		out = append(out, imp("", "serviceaccounts", "", ns, name))
	} else {
		out = append(out, imp("", "users", "", "", im.User))
	}
	for _, g := range im.Groups {
		out = append(out, imp("", "groups", "", "", g))
	}
	for _, k := range im.extraKeys() {
		for _, v := range im.Extra[k] {
			out = append(out, imp("authentication.k8s.io", "userextras", k, "", v))
		}
	}
	if im.UID != "" {
		out = append(out, imp("authentication.k8s.io", "uids", "", "", im.UID))
	}
	return out
}

// Identity is the user the request runs as once every check passed. Named groups are the
// whole list, plus system:authenticated (system:unauthenticated for system:anonymous) unless
// either is named; a service account without named groups gets its fixed groups.
func (im *Impersonation) Identity() *request.User {
	u := &request.User{Name: im.User, UID: im.UID, Groups: append([]string(nil), im.Groups...)}
	if ns, _, ok := serviceaccount.SplitUsername(im.User); ok && len(im.Groups) == 0 {
		u.Groups = serviceaccount.Groups(ns)
	}
	if len(im.Extra) > 0 {
		u.Extra = make(map[string][]string, len(im.Extra))
		for k, v := range im.Extra {
			u.Extra[k] = append([]string(nil), v...)
		}
	}
	if im.User == request.UserAnonymous {
		if !u.InGroup(request.GroupUnauthenticated) {
			u.Groups = append(u.Groups, request.GroupUnauthenticated)
		}
	} else if !u.InGroup(request.GroupAuthenticated) && !u.InGroup(request.GroupUnauthenticated) {
		u.Groups = append(u.Groups, request.GroupAuthenticated)
	}
	return u
}

// Impersonate authorizes each of im's checks for the requester on ctx (authorize is the
// pipeline's, so its 403 names the requester and what they may not impersonate) and
// returns the identity to serve the request as. The first refusal ends it.
func Impersonate(ctx context.Context, im *Impersonation, authorize func(context.Context, *request.Info) error) (*request.User, error) {
	for _, info := range im.Checks() {
		if err := authorize(ctx, info); err != nil {
			return nil, err
		}
	}
	return im.Identity(), nil
}

// describe lists what was asked for as Kubernetes' message prints its object references
// (Go's %v of []ObjectReference), so the 500 reads the same.
func (im *Impersonation) describe() string {
	const authnV1 = "authentication.k8s.io/v1"
	ref := func(kind, name, apiVersion, fieldPath string) string {
		// Kind Namespace Name UID APIVersion ResourceVersion FieldPath
		return "{" + strings.Join([]string{kind, "", name, "", apiVersion, "", fieldPath}, " ") + "}"
	}
	var refs []string
	for _, g := range im.Groups {
		refs = append(refs, ref("Group", g, "", ""))
	}
	for _, k := range im.extraKeys() {
		for _, v := range im.Extra[k] {
			refs = append(refs, ref("UserExtra", v, authnV1, k))
		}
	}
	if im.UID != "" {
		refs = append(refs, ref("UID", im.UID, authnV1, ""))
	}
	return "[" + strings.Join(refs, " ") + "]"
}
