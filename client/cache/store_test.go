package cache

import (
	"slices"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

func TestKeyFuncs(t *testing.T) {
	node := &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "node-1"}}
	for _, tc := range []struct {
		obj      any
		key      string
		ns, name string
	}{
		{pod("default", "web"), "default/web", "default", "web"},
		{node, "node-1", "", "node-1"},
		{DeletedFinalStateUnknown{Key: "ns/gone"}, "ns/gone", "ns", "gone"},
	} {
		key, err := MetaNamespaceKeyFunc(tc.obj)
		if err != nil || key != tc.key {
			t.Fatalf("key(%T) = %q, %v; want %q", tc.obj, key, err, tc.key)
		}
		ns, name, err := SplitMetaNamespaceKey(key)
		if err != nil || ns != tc.ns || name != tc.name {
			t.Fatalf("split(%q) = %q, %q, %v", key, ns, name, err)
		}
	}
	if _, err := MetaNamespaceKeyFunc(&corev1.Pod{}); err == nil {
		t.Fatal("object without metadata: no error")
	}
	if _, err := MetaNamespaceKeyFunc("a string"); err == nil {
		t.Fatal("non-object: no error")
	}
	if _, _, err := SplitMetaNamespaceKey("a/b/c"); err == nil {
		t.Fatal("split a/b/c: no error")
	}
}

func newPodIndexer() Indexer {
	return NewIndexer(MetaNamespaceKeyFunc, Indexers{
		NamespaceIndex:   MetaNamespaceIndexFunc,
		OwnerUIDIndex:    OwnerUIDIndexFunc,
		PodNodeNameIndex: PodNodeNameIndexFunc,
	})
}

func byIndex(t *testing.T, idx Indexer, name, value string) []string {
	t.Helper()
	objs, err := idx.ByIndex(name, value)
	if err != nil {
		t.Fatal(err)
	}
	return keys(t, objs)
}

func TestIndexerMaintainsIndexes(t *testing.T) {
	idx := newPodIndexer()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(idx.Add(withOwners(withNode(pod("a", "p1"), "n1"), "rs1")))
	must(idx.Add(withOwners(withNode(pod("a", "p2"), "n2"), "rs1", "rs2")))
	must(idx.Add(pod("b", "p3")))

	if got := byIndex(t, idx, NamespaceIndex, "a"); !slices.Equal(got, []string{"a/p1", "a/p2"}) {
		t.Fatalf("namespace a = %v", got)
	}
	if got := byIndex(t, idx, OwnerUIDIndex, "rs1"); !slices.Equal(got, []string{"a/p1", "a/p2"}) {
		t.Fatalf("owner rs1 = %v", got)
	}
	if got := byIndex(t, idx, OwnerUIDIndex, "rs2"); !slices.Equal(got, []string{"a/p2"}) {
		t.Fatalf("owner rs2 = %v", got)
	}
	if got := byIndex(t, idx, PodNodeNameIndex, ""); !slices.Equal(got, []string{"b/p3"}) {
		t.Fatalf("unscheduled = %v", got)
	}

	// An update moves the object between index values.
	must(idx.Update(withNode(pod("a", "p1"), "n2")))
	if got := byIndex(t, idx, PodNodeNameIndex, "n1"); len(got) != 0 {
		t.Fatalf("n1 after move = %v", got)
	}
	if got := byIndex(t, idx, PodNodeNameIndex, "n2"); !slices.Equal(got, []string{"a/p1", "a/p2"}) {
		t.Fatalf("n2 after move = %v", got)
	}
	if got := byIndex(t, idx, OwnerUIDIndex, "rs1"); !slices.Equal(got, []string{"a/p2"}) {
		t.Fatalf("rs1 after p1 lost its owner = %v", got)
	}
	if got := idx.ListIndexFuncValues(PodNodeNameIndex); !slices.Equal(got, []string{"", "n2"}) {
		t.Fatalf("node values = %v", got)
	}
	same, err := idx.Index(NamespaceIndex, pod("a", "whatever"))
	if err != nil || len(same) != 2 {
		t.Fatalf("Index(namespace of a/...) = %d objects, %v", len(same), err)
	}
	ks, err := idx.IndexKeys(NamespaceIndex, "b")
	if err != nil || !slices.Equal(ks, []string{"b/p3"}) {
		t.Fatalf("IndexKeys = %v, %v", ks, err)
	}

	must(idx.Delete(pod("a", "p2")))
	if got := byIndex(t, idx, OwnerUIDIndex, "rs2"); len(got) != 0 {
		t.Fatalf("rs2 after delete = %v", got)
	}
	if _, ok, _ := idx.GetByKey("a/p2"); ok {
		t.Fatal("a/p2 still stored")
	}

	must(idx.Replace([]runtime.Object{pod("c", "p9")}))
	if got := keys(t, idx.List()); !slices.Equal(got, []string{"c/p9"}) {
		t.Fatalf("after Replace: %v", got)
	}
	if got := byIndex(t, idx, NamespaceIndex, "a"); len(got) != 0 {
		t.Fatalf("index kept replaced objects: %v", got)
	}

	if _, err := idx.ByIndex("nope", "x"); err == nil {
		t.Fatal("unknown index: no error")
	}
	if err := idx.AddIndexers(Indexers{"late": MetaNamespaceIndexFunc}); err == nil {
		t.Fatal("AddIndexers on a filled store: no error")
	}
}

func TestLister(t *testing.T) {
	idx := newPodIndexer()
	for _, p := range []*corev1.Pod{
		withLabels(pod("a", "web-1"), "app", "web"),
		withLabels(pod("a", "db-1"), "app", "db"),
		withLabels(pod("b", "web-2"), "app", "web"),
	} {
		if err := idx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	l := NewLister[*corev1.Pod](idx, podMapping)
	sel, err := labels.Parse("app=web")
	if err != nil {
		t.Fatal(err)
	}
	names := func(ps []*corev1.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.GetMetadata().GetName())
		}
		slices.Sort(out)
		return out
	}
	all, err := l.List(labels.Everything())
	if err != nil || len(all) != 3 {
		t.Fatalf("List(everything) = %d, %v", len(all), err)
	}
	web, _ := l.List(sel)
	if got := names(web); !slices.Equal(got, []string{"web-1", "web-2"}) {
		t.Fatalf("List(app=web) = %v", got)
	}
	inA, _ := l.Namespace("a").List(sel)
	if got := names(inA); !slices.Equal(got, []string{"web-1"}) {
		t.Fatalf("Namespace(a).List(app=web) = %v", got)
	}
	p, err := l.Namespace("b").Get("web-2")
	if err != nil || p.GetMetadata().GetName() != "web-2" {
		t.Fatalf("Get = %v, %v", p, err)
	}
	if _, err := l.Namespace("b").Get("web-1"); !apierrors.IsNotFound(err) {
		t.Fatalf("Get missing: err = %v, want NotFound", err)
	}
	// A lister of the wrong type reports an error instead of panicking.
	if _, err := NewLister[*corev1.Node](idx, nodeMapping).List(nil); err == nil {
		t.Fatal("wrong-type lister: no error")
	}
}
