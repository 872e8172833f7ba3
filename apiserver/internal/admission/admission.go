// Package admission runs the admission chain: every mutating plugin in order, then every
// validating plugin, on each write after authorization and before storage. Any plugin's error
// refuses the request and nothing is written.
package admission

import (
	"context"

	"kubelab.io/apiserver/internal/request"
	"kubelab.io/proto/runtime"
)

// Operation is what a write does.
type Operation string

const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Attributes describe one write. Object is the object about to be stored (nil for Delete);
// OldObject is the stored one (nil for Create). Mutating plugins may change Object.
type Attributes struct {
	Operation Operation
	Kind      runtime.GroupVersionKind
	Resource  string // plural, e.g. "pods"
	// ResourceGroup is Resource's API group. Kind is the body's kind, which for a
	// subresource may belong to another group (serviceaccounts/token takes an
	// authentication.k8s.io TokenRequest, pods/eviction a policy Eviction).
	ResourceGroup string
	Subresource   string
	Namespace     string
	Name          string
	Object        runtime.Object
	OldObject     runtime.Object
	User          *request.User
	// DryRun is set when nothing will be written: plugins with side effects (ResourceQuota's
	// charge) must check without acting.
	DryRun bool
}

// Plugin is one admission plugin. A plugin implements Mutator, Validator or both.
type Plugin interface {
	Name() string
	// Handles reports whether the plugin cares about op; others are skipped.
	Handles(op Operation) bool
}

// Mutator may change a.Object.
type Mutator interface {
	Plugin
	Admit(ctx context.Context, a *Attributes) error
}

// Validator may only refuse.
type Validator interface {
	Plugin
	Validate(ctx context.Context, a *Attributes) error
}

// Chain is the ordered list of enabled plugins.
type Chain []Plugin

// Admit runs every mutating plugin, in order.
func (c Chain) Admit(ctx context.Context, a *Attributes) error {
	for _, p := range c {
		if m, ok := p.(Mutator); ok && p.Handles(a.Operation) {
			if err := m.Admit(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate runs every validating plugin, in order.
func (c Chain) Validate(ctx context.Context, a *Attributes) error {
	for _, p := range c {
		if v, ok := p.(Validator); ok && p.Handles(a.Operation) {
			if err := v.Validate(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}
