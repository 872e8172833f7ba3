// Package authz decides whether a user may do what a request asks. The chain asks each
// authorizer in turn: the first Allow or Deny decides; when every one has no opinion the
// chain has none either, and the pipeline forbids the request (anything but Allow is 403).
package authz

import (
	"context"
	"errors"

	"kubelab.io/apiserver/internal/request"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
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

// RuleResolver lists the rules an authorizer grants a user in a namespace ("" for the
// cluster-wide ones only): what a SelfSubjectRulesReview (`kubectl auth can-i --list`)
// answers. incomplete says some of the user's rights cannot be written as rules; err says
// why.
type RuleResolver interface {
	RulesFor(ctx context.Context, u *request.User, namespace string) (rules []*rbacv1.PolicyRule, incomplete bool, err error)
}

// RulesFor gathers the rules of every member that can list them, as Kubernetes' union of
// rule resolvers does. Members that cannot (PrivilegedGroups) are left out: what they grant
// shows through the bindings that go with them (cluster-admin for system:masters).
func (c Chain) RulesFor(ctx context.Context, u *request.User, namespace string) ([]*rbacv1.PolicyRule, bool, error) {
	var (
		rules      []*rbacv1.PolicyRule
		incomplete bool
		errs       []error
	)
	for _, az := range c {
		rr, ok := az.(RuleResolver)
		if !ok {
			continue
		}
		rs, inc, err := rr.RulesFor(ctx, u, namespace)
		rules = append(rules, rs...)
		incomplete = incomplete || inc
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rules, incomplete, errors.Join(errs...)
}

// AllRules are the rules that allow everything: cluster-admin's.
func AllRules() []*rbacv1.PolicyRule {
	return []*rbacv1.PolicyRule{
		{Verbs: []string{"*"}, ApiGroups: []string{"*"}, Resources: []string{"*"}},
		{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
	}
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

func (AlwaysAllow) RulesFor(context.Context, *request.User, string) ([]*rbacv1.PolicyRule, bool, error) {
	return AllRules(), false, nil
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
