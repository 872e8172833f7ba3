package cache

import (
	"context"

	"kubelab.io/client/transport"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

// ListerWatcher lists and watches one resource. Implementations apply their own selectors;
// the Reflector sets only ResourceVersion, Limit, Continue and TimeoutSeconds.
type ListerWatcher interface {
	List(ctx context.Context, opts transport.ListOptions) (runtime.ListObject, error)
	Watch(ctx context.Context, opts transport.ListOptions) (watch.Interface, error)
}

// ListWatch is a ListerWatcher over a transport, for one kind in one namespace ("" for
// all namespaces and for cluster-scoped kinds).
type ListWatch struct {
	Transport transport.Interface
	Mapping   scheme.Mapping
	Namespace string
	// Tweak, if set, edits the options of every list and watch (label and field
	// selectors, say). It must not touch ResourceVersion, Limit or Continue.
	Tweak func(*transport.ListOptions)
}

func (lw *ListWatch) ref() transport.Ref {
	ns := lw.Namespace
	if !lw.Mapping.Namespaced {
		ns = ""
	}
	return transport.Ref{Mapping: lw.Mapping, Namespace: ns}
}

func (lw *ListWatch) tweak(opts transport.ListOptions) transport.ListOptions {
	if lw.Tweak != nil {
		rv, limit, cont := opts.ResourceVersion, opts.Limit, opts.Continue
		lw.Tweak(&opts)
		opts.ResourceVersion, opts.Limit, opts.Continue = rv, limit, cont
	}
	return opts
}

func (lw *ListWatch) List(ctx context.Context, opts transport.ListOptions) (runtime.ListObject, error) {
	return lw.Transport.List(ctx, lw.ref(), lw.tweak(opts))
}

func (lw *ListWatch) Watch(ctx context.Context, opts transport.ListOptions) (watch.Interface, error) {
	return lw.Transport.Watch(ctx, lw.ref(), lw.tweak(opts))
}
