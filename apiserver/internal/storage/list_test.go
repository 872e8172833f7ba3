package storage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/proto/runtime"
)

func names(items []runtime.Object) string {
	var out []string
	for _, o := range items {
		out = append(out, o.GetMetadata().GetName())
	}
	return strings.Join(out, ",")
}

func createN(t *testing.T, s storage.Interface, n int) {
	t.Helper()
	for i := range n {
		labels := map[string]string{}
		if i%3 == 0 {
			labels["pick"] = "yes"
		}
		mustCreate(t, s, pod(fmt.Sprintf("p%02d", i), labels))
	}
}

func picked(obj runtime.Object) bool { return obj.GetMetadata().GetLabels()["pick"] == "yes" }

// TestListPaging pages through 25 pods while they change: every page reads the revision of
// the first, and RemainingItemCount counts what is left.
func TestListPaging(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()
	createN(t, s, 25)

	first, err := s.List(ctx, podPrefix, storage.ListOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if names(first.Items) != "p00,p01,p02,p03,p04,p05,p06,p07,p08,p09" || first.Continue == "" ||
		first.RemainingItemCount == nil || *first.RemainingItemCount != 15 {
		t.Fatalf("page 1: %s continue=%q remaining=%v", names(first.Items), first.Continue, first.RemainingItemCount)
	}
	// Changes after the first page are not seen by the next ones.
	mustCreate(t, s, pod("p99", nil))
	mustUpdate(t, s, "p15", setLabel("changed", "yes"))
	if _, err := s.Delete(ctx, key("p20"), nil); err != nil {
		t.Fatal(err)
	}

	var all []runtime.Object
	all = append(all, first.Items...)
	page := first
	for page.Continue != "" {
		page, err = s.List(ctx, podPrefix, storage.ListOptions{Limit: 10, Continue: page.Continue})
		if err != nil {
			t.Fatal(err)
		}
		if page.ResourceVersion != first.ResourceVersion {
			t.Fatalf("page at %s, want %s", page.ResourceVersion, first.ResourceVersion)
		}
		all = append(all, page.Items...)
	}
	if len(all) != 25 || names(all[20:]) != "p20,p21,p22,p23,p24" || all[15].GetMetadata().GetLabels()["changed"] != "" {
		t.Fatalf("pages: %s", names(all))
	}

	// An explicit resourceVersion reads that revision.
	old, err := s.List(ctx, podPrefix, storage.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil || len(old.Items) != 25 {
		t.Fatalf("list at %s: %d items, %v", first.ResourceVersion, len(old.Items), err)
	}
	// "" reads the latest; "0" may come from the watch cache, which has caught up here.
	latest, err := s.List(ctx, podPrefix, storage.ListOptions{})
	if err != nil || len(latest.Items) != 25 || latest.Items[24].GetMetadata().GetName() != "p99" {
		t.Fatalf("latest: %s, %v", names(latest.Items), err)
	}
	waitForCache(t, s, latest.ResourceVersion)
	cached, err := s.List(ctx, podPrefix, storage.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if names(cached.Items) != names(latest.Items) {
		t.Fatalf("cached list %s, want %s", names(cached.Items), names(latest.Items))
	}
	_, err = s.List(ctx, podPrefix, storage.ListOptions{Continue: "garbage"})
	wantErr(t, err, storage.ErrBadRequest)
	_, err = s.List(ctx, podPrefix, storage.ListOptions{Continue: first.Continue, ResourceVersion: "5"})
	wantErr(t, err, storage.ErrBadRequest)
}

// TestListPredicateLimit: a filtered List still returns full pages, reading on in etcd.
func TestListPredicateLimit(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	createN(t, s, 25) // p00, p03, …, p24 are picked: 9 pods
	cur, err := c.Get(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	waitForCache(t, s, fmt.Sprint(cur.Header.Revision))

	for _, rv := range []string{"", "0"} {
		var got []runtime.Object
		opts := storage.ListOptions{ResourceVersion: rv, Limit: 4, Predicate: picked}
		pages := 0
		for {
			page, err := s.List(context.Background(), podPrefix, opts)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if page.RemainingItemCount != nil {
				t.Fatalf("RemainingItemCount set on a filtered list")
			}
			if page.Continue != "" && len(page.Items) != 4 {
				t.Fatalf("rv %q: short page %s with a continue token", rv, names(page.Items))
			}
			got = append(got, page.Items...)
			if page.Continue == "" {
				break
			}
			opts = storage.ListOptions{Limit: 4, Predicate: picked, Continue: page.Continue}
		}
		if names(got) != "p00,p03,p06,p09,p12,p15,p18,p21,p24" || pages != 3 {
			t.Fatalf("rv %q: %d pages: %s", rv, pages, names(got))
		}
	}
}

// TestListContinueCompacted: a continue token whose revision was compacted is ErrGone.
func TestListContinueCompacted(t *testing.T) {
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{})
	ctx := context.Background()
	createN(t, s, 5)
	page, err := s.List(ctx, podPrefix, storage.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	last := mustUpdate(t, s, "p01", setLabel("x", "y"))
	if _, err := c.Compact(ctx, rv(t, last)); err != nil {
		t.Fatal(err)
	}
	_, err = s.List(ctx, podPrefix, storage.ListOptions{Limit: 2, Continue: page.Continue})
	wantErr(t, err, storage.ErrGone)
	if !strings.Contains(err.Error(), "start a new list") {
		t.Fatalf("error does not tell to re-list: %v", err)
	}
	_, err = s.List(ctx, podPrefix, storage.ListOptions{ResourceVersion: page.ResourceVersion})
	wantErr(t, err, storage.ErrGone)
}
