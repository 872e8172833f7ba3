// Package cachetest provides an in-memory transport.Interface for testing informers and
// controllers without an apiserver: it keeps objects, a resourceVersion counter and an
// event history, serves paged lists and watches from a resourceVersion, and can break
// watches, drop history (so watches get 410 Gone) and expire list continuations on demand.
package cachetest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

// Transport is the fake. The zero value is not usable; call New.
type Transport struct {
	mu        sync.Mutex
	rv        int64
	objects   map[runtime.GroupVersionKind]map[string]runtime.Object
	history   []entry
	compacted int64 // watches from a resourceVersion below this get 410 Gone
	watchers  map[*watcher]struct{}
	lists     map[runtime.GroupVersionKind][]transport.ListOptions
	watches   map[runtime.GroupVersionKind][]transport.ListOptions

	// ExpireContinue makes every list continuation fail with 410 Gone.
	ExpireContinue bool
	// GoneOnWatchCall makes a too-old watch fail in the Watch call itself instead of with
	// an ERROR event on the stream.
	GoneOnWatchCall bool
}

type entry struct {
	gvk runtime.GroupVersionKind
	rv  int64
	ev  watch.Event
}

var _ transport.Interface = (*Transport)(nil)

func New() *Transport {
	return &Transport{
		objects:  map[runtime.GroupVersionKind]map[string]runtime.Object{},
		watchers: map[*watcher]struct{}{},
		lists:    map[runtime.GroupVersionKind][]transport.ListOptions{},
		watches:  map[runtime.GroupVersionKind][]transport.ListOptions{},
	}
}

// ListCalls returns the options of every List call for kind.
func (f *Transport) ListCalls(gvk runtime.GroupVersionKind) []transport.ListOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.lists[gvk])
}

// WatchCalls returns the options of every Watch call for kind.
func (f *Transport) WatchCalls(gvk runtime.GroupVersionKind) []transport.ListOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.watches[gvk])
}

// OpenWatches counts the watches of kind not yet ended.
func (f *Transport) OpenWatches(gvk runtime.GroupVersionKind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for w := range f.watchers {
		if w.gvk == gvk {
			n++
		}
	}
	return n
}

// Objects returns the stored objects of kind, in key order, without counting as a List.
func (f *Transport) Objects(gvk runtime.GroupVersionKind) []runtime.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.objects[gvk]))
	for k := range f.objects[gvk] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]runtime.Object, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.objects[gvk][k])
	}
	return out
}

// ResourceVersion is the latest resourceVersion.
func (f *Transport) ResourceVersion() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strconv.FormatInt(f.rv, 10)
}

// Tx applies changes inside Offline.
type Tx struct{ f *Transport }

func (tx Tx) Add(obj runtime.Object) runtime.Object    { return tx.f.putLocked(obj, false, false) }
func (tx Tx) Update(obj runtime.Object) runtime.Object { return tx.f.putLocked(obj, true, false) }
func (tx Tx) Delete(obj runtime.Object) bool           { return tx.f.deleteLocked(obj, false) }

// AddObject stores a copy of obj with a new resourceVersion, tells the watchers and
// returns the stored copy.
func (f *Transport) AddObject(obj runtime.Object) runtime.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.putLocked(obj, false, true)
}

// UpdateObject is AddObject for an object that exists (MODIFIED instead of ADDED).
func (f *Transport) UpdateObject(obj runtime.Object) runtime.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.putLocked(obj, true, true)
}

// DeleteObject removes the object with obj's namespace and name; false if there was none.
func (f *Transport) DeleteObject(obj runtime.Object) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deleteLocked(obj, true)
}

// Offline applies changes no open watch sees, then ends every open watch, as a network
// partition would. Watching again from an older resourceVersion replays them, unless
// compact is set: then history is dropped and such a watch gets 410 Gone.
func (f *Transport) Offline(compact bool, changes func(tx Tx)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	changes(Tx{f})
	if compact {
		f.compacted = f.rv + 1
		f.history = nil
	}
	f.closeWatchesLocked()
}

// CloseWatches ends every open watch cleanly, as a server-side timeout does.
func (f *Transport) CloseWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeWatchesLocked()
}

func (f *Transport) closeWatchesLocked() {
	for w := range f.watchers {
		w.closeLocked()
	}
}

func gvkOf(obj runtime.Object) runtime.GroupVersionKind {
	gvk, _ := scheme.Scheme.KindFor(obj)
	return gvk
}

func keyOf(obj runtime.Object) string {
	m := obj.GetMetadata()
	return m.GetNamespace() + "/" + m.GetName()
}

func (f *Transport) putLocked(obj runtime.Object, update, broadcast bool) runtime.Object {
	gvk := gvkOf(obj)
	obj = proto.Clone(obj).(runtime.Object)
	f.rv++
	runtime.Meta(obj).ResourceVersion = strconv.FormatInt(f.rv, 10)
	if f.objects[gvk] == nil {
		f.objects[gvk] = map[string]runtime.Object{}
	}
	typ := watch.Added
	if _, exists := f.objects[gvk][keyOf(obj)]; exists && update {
		typ = watch.Modified
	}
	f.objects[gvk][keyOf(obj)] = obj
	f.recordLocked(gvk, watch.Event{Type: typ, Object: obj}, broadcast)
	return obj
}

func (f *Transport) deleteLocked(obj runtime.Object, broadcast bool) bool {
	gvk := gvkOf(obj)
	old, ok := f.objects[gvk][keyOf(obj)]
	if !ok {
		return false
	}
	delete(f.objects[gvk], keyOf(obj))
	f.rv++
	old = proto.Clone(old).(runtime.Object)
	runtime.Meta(old).ResourceVersion = strconv.FormatInt(f.rv, 10)
	f.recordLocked(gvk, watch.Event{Type: watch.Deleted, Object: old}, broadcast)
	return true
}

func (f *Transport) recordLocked(gvk runtime.GroupVersionKind, ev watch.Event, broadcast bool) {
	f.history = append(f.history, entry{gvk: gvk, rv: f.rv, ev: ev})
	if !broadcast {
		return
	}
	for w := range f.watchers {
		w.sendLocked(gvk, ev)
	}
}

func matches(ref transport.Ref, sel labels.Selector, obj runtime.Object) bool {
	m := obj.GetMetadata()
	if ref.Namespace != "" && m.GetNamespace() != ref.Namespace {
		return false
	}
	return sel.Matches(m.GetLabels())
}

func (f *Transport) Get(_ context.Context, ref transport.Ref) (runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, ok := f.objects[ref.Mapping.Kind][ref.Namespace+"/"+ref.Name]
	if !ok {
		return nil, apierrors.NewNotFound(apierrors.GroupResource{Group: ref.Mapping.Kind.Group, Resource: ref.Mapping.Plural}, ref.Name)
	}
	return obj, nil
}

// List serves pages in key order; the continue token is the offset.
func (f *Transport) List(_ context.Context, ref transport.Ref, opts transport.ListOptions) (runtime.ListObject, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gvk := ref.Mapping.Kind
	f.lists[gvk] = append(f.lists[gvk], opts)
	sel, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	start := 0
	if opts.Continue != "" {
		if f.ExpireContinue {
			return nil, apierrors.NewGone("the continue token has expired")
		}
		if start, err = strconv.Atoi(opts.Continue); err != nil {
			return nil, apierrors.NewBadRequest("bad continue token")
		}
	}
	keys := make([]string, 0, len(f.objects[gvk]))
	for k, o := range f.objects[gvk] {
		if matches(ref, sel, o) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	end := len(keys)
	if opts.Limit > 0 && int64(end-start) > opts.Limit {
		end = start + int(opts.Limit)
	}
	list, err := scheme.Scheme.NewList(gvk)
	if err != nil {
		return nil, err
	}
	items := make([]runtime.Object, 0, max(end-start, 0))
	for _, k := range keys[min(start, len(keys)):end] {
		items = append(items, f.objects[gvk][k])
	}
	runtime.SetItems(list, items)
	lm := runtime.ListMeta(list)
	lm.ResourceVersion = strconv.FormatInt(f.rv, 10)
	if end < len(keys) {
		lm.Continue = strconv.Itoa(end)
	}
	return list, nil
}

func (f *Transport) Watch(_ context.Context, ref transport.Ref, opts transport.ListOptions) (watch.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gvk := ref.Mapping.Kind
	f.watches[gvk] = append(f.watches[gvk], opts)
	sel, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	from := f.rv
	if opts.ResourceVersion != "" {
		if from, err = strconv.ParseInt(opts.ResourceVersion, 10, 64); err != nil {
			return nil, apierrors.NewBadRequest("bad resourceVersion")
		}
	}
	w := &watcher{f: f, gvk: gvk, ref: ref, sel: sel, ch: make(chan watch.Event, 10000)}
	if from+1 < f.compacted {
		gone := apierrors.NewGone(fmt.Sprintf("too old resource version: %d (%d)", from, f.compacted-1))
		if f.GoneOnWatchCall {
			return nil, gone
		}
		w.ch <- watch.Event{Type: watch.Error, Status: gone.ErrStatus}
		close(w.ch)
		w.closed = true
		return w, nil
	}
	for _, e := range f.history {
		if e.rv > from {
			w.sendLocked(e.gvk, e.ev)
		}
	}
	f.watchers[w] = struct{}{}
	return w, nil
}

func (f *Transport) Create(_ context.Context, _ transport.Ref, obj runtime.Object) (runtime.Object, error) {
	return f.AddObject(obj), nil
}

func (f *Transport) Update(_ context.Context, _ transport.Ref, obj runtime.Object, _ string) (runtime.Object, error) {
	return f.UpdateObject(obj), nil
}

func (f *Transport) Patch(_ context.Context, ref transport.Ref, _ transport.PatchType, _ []byte, _ string) (runtime.Object, error) {
	return nil, apierrors.NewMethodNotSupported(apierrors.GroupResource{Group: ref.Mapping.Kind.Group, Resource: ref.Mapping.Plural}, "patch")
}

func (f *Transport) Delete(ctx context.Context, ref transport.Ref, _ *metav1.DeleteOptions) (runtime.Object, error) {
	obj, err := f.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	f.DeleteObject(obj)
	return nil, nil
}

func (f *Transport) Bind(_ context.Context, ref transport.Ref, _ *corev1.Binding) error {
	return apierrors.NewMethodNotSupported(apierrors.GroupResource{Resource: "pods"}, "bind")
}

func (f *Transport) CreateSubresource(_ context.Context, ref transport.Ref, subresource string, _ runtime.Object) (runtime.Object, error) {
	return nil, apierrors.NewMethodNotSupported(apierrors.GroupResource{Group: ref.Mapping.Kind.Group, Resource: ref.Mapping.Plural + "/" + subresource}, "create")
}

type watcher struct {
	f      *Transport
	gvk    runtime.GroupVersionKind
	ref    transport.Ref
	sel    labels.Selector
	ch     chan watch.Event
	closed bool
}

func (w *watcher) ResultChan() <-chan watch.Event { return w.ch }

func (w *watcher) Stop() {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	w.closeLocked()
}

func (w *watcher) closeLocked() {
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	delete(w.f.watchers, w)
}

func (w *watcher) sendLocked(gvk runtime.GroupVersionKind, ev watch.Event) {
	if w.closed || gvk != w.gvk || !matches(w.ref, w.sel, ev.Object) {
		return
	}
	select {
	case w.ch <- ev:
	default: // a consumer this far behind is cut off, as the apiserver does
		w.closeLocked()
	}
}
