// Package request carries what the apiserver knows about a request as it moves through the
// pipeline: who sent it (set by authentication) and what it asks for (parsed from the path).
// Both front doors, REST and gRPC, fill the same Info, so authorization, admission and the
// registry never know which door a request came through.
package request

import "context"

// User is an authenticated identity.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Well-known groups.
const (
	GroupAuthenticated   = "system:authenticated"
	GroupUnauthenticated = "system:unauthenticated"
	GroupMasters         = "system:masters"
	GroupNodes           = "system:nodes"
	UserAnonymous        = "system:anonymous"
)

// InGroup reports whether u is a member of group.
func (u *User) InGroup(group string) bool {
	for _, g := range u.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// Info is a resource request (or a non-resource one, such as /healthz), as Kubernetes'
// RequestInfo.
type Info struct {
	// IsResourceRequest is false for paths like /version or /api.
	IsResourceRequest bool
	Path              string
	// Verb is the API verb: get, list, watch, create, update, patch, delete, deletecollection
	// for resources; the lower-case HTTP method otherwise.
	Verb        string
	APIGroup    string
	APIVersion  string
	Namespace   string
	Resource    string
	Subresource string
	Name        string
	// FieldSelector is a list or watch's field selector, for authorizers that allow only
	// selected lists (the Node authorizer: a kubelet lists the pods of its own node).
	FieldSelector string
}

type ctxKey int

const (
	userKey ctxKey = iota
	infoKey
)

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey, u)
}

// UserFrom returns the authenticated user, or nil.
func UserFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey).(*User)
	return u
}

// WithInfo returns ctx carrying info.
func WithInfo(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, infoKey, info)
}

// InfoFrom returns the request's Info, or nil.
func InfoFrom(ctx context.Context) *Info {
	i, _ := ctx.Value(infoKey).(*Info)
	return i
}
