// Package authz decides whether a user may do what a request asks. The chain asks each
// authorizer in turn: the first Allow or Deny decides; when every one has no opinion the
// chain has none either, and the pipeline forbids the request (anything but Allow is 403).
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
	return NoOpinion, reasons, nil
}

// Authorization modes, as --authorization-mode names them.
const (
	ModeAlwaysAllow = "AlwaysAllow"
	ModeAlwaysDeny  = "AlwaysDeny"
	ModeNode        = "Node"
	ModeRBAC        = "RBAC"
)

// AlwaysAllow admits every request, even an anonymous one. It is only ever used when asked
// for by name (--authorization-mode=AlwaysAllow).
type AlwaysAllow struct{}

func (AlwaysAllow) Authorize(context.Context, Attributes) (Decision, string, error) {
	return Allow, "", nil
}

// AlwaysDeny refuses every request that reaches it.
type AlwaysDeny struct{}

func (AlwaysDeny) Authorize(context.Context, Attributes) (Decision, string, error) {
	return Deny, "Everything is forbidden.", nil
}

// PrivilegedGroups admits members of its groups without asking anyone else. kube-apiserver
// puts system:masters in front of every chain this way, so the admin credentials keep
// working even when RBAC objects are missing or broken; kubelab does the same.
type PrivilegedGroups []string

func (p PrivilegedGroups) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.User == nil {
		return NoOpinion, "", nil
	}
	for _, g := range p {
		if a.User.InGroup(g) {
			return Allow, "", nil
		}
	}
	return NoOpinion, "", nil
}
