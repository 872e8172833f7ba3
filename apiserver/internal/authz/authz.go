// Package authz decides whether a user may do what a request asks. The chain asks each
// authorizer in turn: the first Allow or Deny decides; when every one has no opinion the
// request is forbidden.
package authz

import (
	"context"

	"kubelab.io/apiserver/internal/request"
)

// Decision is an authorizer's answer.
type Decision int

const (
	NoOpinion Decision = iota
	Allow
	Deny
)

// Attributes are what authorization looks at.
type Attributes struct {
	User *request.User
	Info *request.Info
}

// Authorizer answers for one mode (RBAC, Node, …). reason explains a Deny or NoOpinion.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (d Decision, reason string, err error)
}

// Chain asks each authorizer in order.
type Chain []Authorizer

func (c Chain) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var reasons string
	for _, az := range c {
		d, reason, err := az.Authorize(ctx, a)
		if err != nil {
			return Deny, "", err
		}
		if d != NoOpinion {
			return d, reason, nil
		}
		if reason != "" {
			reasons = reason
		}
	}
	return Deny, reasons, nil
}

// AlwaysAllowAuthenticated admits every authenticated user. It stands in until RBAC and the
// Node authorizer arrive; the seam they plug into is this Authorizer interface.
type AlwaysAllowAuthenticated struct{}

func (AlwaysAllowAuthenticated) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.User != nil && a.User.InGroup(request.GroupAuthenticated) {
		return Allow, "", nil
	}
	return NoOpinion, "not authenticated", nil
}
