package controllertest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/informers"
	"kubelab.io/client/transport"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/patch"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// Transport is cachetest's in-memory transport plus what the controller's writes need
// (generateName, uids, strategic merge patches, delete preconditions, injected failures),
// recording every write as "verb resource namespace/name[/subresource]".
type Transport struct {
	*cachetest.Transport
	mu      sync.Mutex
	actions []string
	n       int
	// CreateErr, when set, fails every create (after recording it).
	CreateErr error
}

func (f *Transport) record(verb string, ref transport.Ref, name, sub string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := verb + " " + ref.Mapping.Plural + " " + ref.Namespace + "/" + name
	if sub != "" {
		a += "/" + sub
	}
	f.actions = append(f.actions, a)
}

// TakeActions returns the writes recorded since the last call, sorted, and forgets them.
func (f *Transport) TakeActions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.actions
	f.actions = nil
	sort.Strings(out)
	return out
}

// Actions returns the recorded writes, sorted (pods are written concurrently).
func (f *Transport) Actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.actions)
	sort.Strings(out)
	return out
}

func (f *Transport) Create(ctx context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	obj = proto.Clone(obj).(runtime.Object)
	m := runtime.Meta(obj)
	f.mu.Lock()
	if m.Name == "" {
		f.n++
		m.Name = fmt.Sprintf("%s%05d", m.GenerateName, f.n)
	}
	m.Uid = "uid-" + m.Name
	err := f.CreateErr
	f.mu.Unlock()
	f.record("create", ref, "", "")
	if err != nil {
		return nil, err
	}
	return f.Transport.Create(ctx, ref, obj)
}

func (f *Transport) Update(ctx context.Context, ref transport.Ref, obj runtime.Object, sub string) (runtime.Object, error) {
	f.record("update", ref, ref.Name, sub)
	return f.Transport.Update(ctx, ref, obj, sub)
}

func (f *Transport) Patch(ctx context.Context, ref transport.Ref, pt transport.PatchType, data []byte, sub string) (runtime.Object, error) {
	f.record("patch", ref, ref.Name, sub)
	cur, err := f.Transport.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	orig, err := runtime.MarshalJSON(cur)
	if err != nil {
		return nil, err
	}
	out, err := patch.Apply(patch.Type(pt), orig, data, cur.GetKind())
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	next := cur.ProtoReflect().New().Interface().(runtime.Object)
	if _, err := runtime.UnmarshalJSON(out, next); err != nil {
		return nil, err
	}
	if next.GetMetadata().GetUid() != cur.GetMetadata().GetUid() {
		return nil, apierrors.NewConflict(apierrors.GroupResource{Resource: ref.Mapping.Plural}, ref.Name, fmt.Errorf("uid mismatch"))
	}
	return f.Transport.UpdateObject(next), nil
}

func (f *Transport) Delete(ctx context.Context, ref transport.Ref, opts *metav1.DeleteOptions) (runtime.Object, error) {
	f.record("delete", ref, ref.Name, "")
	if pre := opts.GetPreconditions(); pre != nil && pre.Uid != nil {
		cur, err := f.Transport.Get(ctx, ref)
		if err == nil && cur.GetMetadata().GetUid() != pre.GetUid() {
			return nil, apierrors.NewConflict(apierrors.GroupResource{Resource: ref.Mapping.Plural}, ref.Name, fmt.Errorf("uid mismatch"))
		}
	}
	return f.Transport.Delete(ctx, ref, opts)
}

// NewTransport is an empty recording Transport.
func NewTransport() *Transport { return &Transport{Transport: cachetest.New()} }

// Put stores objs in tr and in the caches of inf's informers of their kinds, as synced
// informers would hold them, so a controller's sync (called directly, the informers never
// run) sees exactly these objects.
func Put(tb testing.TB, tr *Transport, inf *informers.SharedInformerFactory, objs ...runtime.Object) {
	tb.Helper()
	for _, obj := range objs {
		stored := tr.UpdateObject(obj)
		if err := indexerFor(tb, inf, stored).Update(stored); err != nil {
			tb.Fatal(err)
		}
	}
}

// Remove deletes obj from tr and from inf's cache.
func Remove(tb testing.TB, tr *Transport, inf *informers.SharedInformerFactory, obj runtime.Object) {
	tb.Helper()
	tr.DeleteObject(obj)
	if err := indexerFor(tb, inf, obj).Delete(obj); err != nil {
		tb.Fatal(err)
	}
}

func indexerFor(tb testing.TB, inf *informers.SharedInformerFactory, obj runtime.Object) cache.Indexer {
	tb.Helper()
	gvk, ok := scheme.Scheme.KindFor(obj)
	m, found := scheme.MappingFor(gvk)
	if !ok || !found {
		tb.Fatalf("no mapping for %T", obj)
	}
	return inf.ForMapping(m).GetIndexer()
}
