package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"kubelab.io/proto/apierrors"
)

// fakeNode is the pods of one node in memory; a pod's removal is scripted per test.
type fakeNode struct {
	mu       sync.Mutex
	pods     map[string]Object // by name
	removed  []string          // every remove call, in order
	onRemove func(name string, attempt int) error
}

func newFakeNode(names ...string) *fakeNode {
	n := &fakeNode{pods: map[string]Object{}}
	for _, name := range names {
		n.pods[name] = map[string]any{"metadata": map[string]any{"name": name, "namespace": "ns", "uid": "uid-" + name}}
	}
	return n
}

func (n *fakeNode) remove(_ context.Context, p objectRef) error {
	n.mu.Lock()
	attempt := 0
	for _, r := range n.removed {
		if r == p.name {
			attempt++
		}
	}
	n.removed = append(n.removed, p.name)
	n.mu.Unlock()
	err := n.onRemove(p.name, attempt)
	if err == nil {
		n.delete(p.name)
	}
	return err
}

func (n *fakeNode) delete(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.pods, name)
}

func (n *fakeNode) set(name string, pod Object) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pods[name] = pod
}

func (n *fakeNode) get(_ context.Context, p objectRef) (Object, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if pod, ok := n.pods[p.name]; ok {
		return pod, nil
	}
	return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "pods"}, p.name)
}

func (n *fakeNode) drainPods(names ...string) []drainPod {
	var out []drainPod
	for _, name := range names {
		ref := objectRef{res: Resource{Name: "pods", Namespaced: true, Version: "v1"}, namespace: "ns", name: name}
		out = append(out, drainPodOf(ref, n.pods[name]))
	}
	return out
}

// remover is a podRemover on n whose retries and polls do not wait (never: they last
// until the timeout ends them).
func remover(n *fakeNode, never bool) (*podRemover, *strings.Builder, *strings.Builder) {
	var out, errOut strings.Builder
	o, e := lockedWriters(&out, &errOut)
	after := func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		if !never {
			c <- time.Time{}
		}
		return c
	}
	return &podRemover{remove: n.remove, get: n.get, out: o, errOut: e,
		retryDelay: 5 * time.Second, pollInterval: time.Second, after: after,
		now: func() time.Time { return testNow }}, &out, &errOut
}

var testNow = time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)

func tooMany() error {
	return apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
}

// A pod whose eviction is refused does not hold up the others: here a's eviction is refused
// until b is gone, which evicting one pod at a time (a first) would never reach.
func TestEvictAllIsConcurrent(t *testing.T) {
	n := newFakeNode("a", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.onRemove = func(name string, attempt int) error {
		if name == "a" {
			if _, err := n.get(ctx, objectRef{name: "b"}); err == nil {
				return tooMany()
			}
		}
		return nil
	}
	r, out, errOut := remover(n, false)
	if err := r.evictAll(ctx, n.drainPods("a", "b")); err != nil {
		t.Fatalf("evictAll: %v\nstderr:\n%s", err, errOut)
	}
	for _, want := range []string{"evicting pod ns/a\n", "evicting pod ns/b\n", "pod/a evicted\n", "pod/b evicted\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if len(n.pods) != 0 {
		t.Errorf("pods left: %v", n.pods)
	}
}

func TestEvictOne(t *testing.T) {
	terminating := apierrors.NewNamespaceTerminating(apierrors.GroupResource{Resource: "pods"}, "p", "ns")
	for _, tc := range []struct {
		name     string
		onRemove func(n *fakeNode, attempt int) error
		never    bool          // retries and polls wait for the timeout
		timeout  time.Duration // --timeout
		wantErr  string
		wantOut  string
		wantErrs string // stderr
	}{{
		name: "evicted at the third attempt",
		onRemove: func(_ *fakeNode, attempt int) error {
			if attempt < 2 {
				return tooMany()
			}
			return nil
		},
		wantOut:  "evicting pod ns/p\nevicting pod ns/p\nevicting pod ns/p\npod/p evicted\n",
		wantErrs: strings.Repeat(`error when evicting pods/"p" -n "ns" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.`+"\n", 2),
	}, {
		name:     "refused until the timeout",
		onRemove: func(*fakeNode, int) error { return tooMany() },
		never:    true, timeout: 100 * time.Millisecond,
		wantErr:  `error when evicting pods/"p" -n "ns": global timeout reached: 100ms`,
		wantOut:  "evicting pod ns/p\nevicting pod ns/p\n",
		wantErrs: `error when evicting pods/"p" -n "ns" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.` + "\n",
	}, {
		name: "another refusal is final",
		onRemove: func(*fakeNode, int) error {
			return apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, "p", errors.New("no"))
		},
		wantErr: `error when evicting pods/"p" -n "ns": pods "p" is forbidden: no`,
		wantOut: "evicting pod ns/p\n",
	}, {
		name: "gone already",
		onRemove: func(*fakeNode, int) error {
			return apierrors.NewNotFound(apierrors.GroupResource{Resource: "pods"}, "p")
		},
		wantOut: "evicting pod ns/p\n",
	}, {
		// The namespace refuses the eviction; once the pod is seen terminating, drain
		// waits for it instead of retrying.
		name: "terminating namespace",
		onRemove: func(n *fakeNode, attempt int) error {
			if attempt == 0 {
				n.set("p", map[string]any{"metadata": map[string]any{"name": "p", "uid": "uid-p", "deletionTimestamp": "2026-01-01T00:00:00Z"}})
			} else {
				go n.delete("p")
			}
			return terminating
		},
		wantOut:  "evicting pod ns/p\nevicting pod ns/p\npod/p evicted\n",
		wantErrs: `error when evicting pod "p" from terminating namespace "ns" (will retry after 5s): pods "p" is forbidden: unable to create new content in namespace ns because it is being terminated` + "\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNode("p")
			n.onRemove = func(_ string, attempt int) error { return tc.onRemove(n, attempt) }
			r, out, errOut := remover(n, tc.never)
			r.timeout = tc.timeout
			err := r.evictAll(context.Background(), n.drainPods("p"))
			if got := fmt.Sprint(err); (err != nil || tc.wantErr != "") && got != tc.wantErr {
				t.Errorf("error %q\nwant  %q", got, tc.wantErr)
			}
			if out.String() != tc.wantOut || errOut.String() != tc.wantErrs {
				t.Errorf("stdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", out, tc.wantOut, errOut, tc.wantErrs)
			}
		})
	}
}

// Waiting for an evicted pod ends when it is gone or replaced (another uid), and at the
// timeout otherwise.
func TestEvictWaitsForThePod(t *testing.T) {
	n := newFakeNode("kept", "replaced")
	pods := n.drainPods("kept", "replaced")
	r, out, _ := remover(n, true)
	r.remove = func(_ context.Context, p objectRef) error {
		if p.name == "replaced" {
			n.set(p.name, map[string]any{"metadata": map[string]any{"name": p.name, "uid": "new"}})
		}
		return nil
	}
	r.timeout = 100 * time.Millisecond // long enough for "replaced" to be evicted first
	err := r.evictAll(context.Background(), pods)
	if want := `error when waiting for pod "kept" in namespace "ns" to terminate: context deadline exceeded`; fmt.Sprint(err) != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
	if !strings.Contains(out.String(), "pod/replaced evicted\n") || strings.Contains(out.String(), "pod/kept evicted") {
		t.Errorf("stdout:\n%s", out)
	}
}

// Deletions stop at the first failure; a server dry run waits for nothing.
func TestDeleteAll(t *testing.T) {
	n := newFakeNode("a", "b", "c")
	n.onRemove = func(name string, _ int) error {
		if name == "b" {
			return apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, "b", errors.New("no"))
		}
		return nil
	}
	r, _, _ := remover(n, false)
	if err := r.deleteAll(context.Background(), n.drainPods("a", "b", "c")); !apierrors.IsForbidden(err) {
		t.Errorf("error %v, want b's Forbidden", err)
	}
	if got := strings.Join(n.removed, ","); got != "a,b" {
		t.Errorf("removed %s, want a,b", got)
	}

	n = newFakeNode("a", "b")
	n.onRemove = func(string, int) error { return nil }
	r, out, _ := remover(n, false)
	if err := r.deleteAll(context.Background(), n.drainPods("a", "b")); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "pod/a deleted\npod/b deleted\n" {
		t.Errorf("stdout:\n%s", got)
	}
	n = newFakeNode("a")
	n.onRemove = func(string, int) error { return errors.New("unreached") }
	r, out, _ = remover(n, true)
	r.remove = func(context.Context, objectRef) error { return nil } // rehearsed: the pod stays
	r.serverDryRun = true
	if err := r.deleteAll(context.Background(), n.drainPods("a")); err != nil || out.String() != "pod/a deleted (server dry run)\n" {
		t.Errorf("server dry run: %v, stdout:\n%s", err, out)
	}
}

// Errors gathered from several pods are printed one a line, as kubectl's CheckErr prints an
// aggregate; a single one reads as usual.
func TestErrorMessageAggregate(t *testing.T) {
	a, b := errors.New("error when evicting pods/\"a\""), errors.New("error when evicting pods/\"b\"")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{newAggregate([]error{a}), "error: error when evicting pods/\"a\""},
		{newAggregate([]error{newAggregate([]error{a, b})}), "error when evicting pods/\"a\"\nerror when evicting pods/\"b\""},
		{newAggregate([]error{a, apierrors.NewNotFound(apierrors.GroupResource{Resource: "pods"}, "b")}),
			"error when evicting pods/\"a\"\nError from server (NotFound): pods \"b\" not found"},
	} {
		if got := errorMessage(tc.err); got != tc.want {
			t.Errorf("errorMessage(%v) =\n%s\nwant\n%s", tc.err, got, tc.want)
		}
	}
	if got := newAggregate([]error{a, b}).Error(); got != `[error when evicting pods/"a", error when evicting pods/"b"]` {
		t.Errorf("Error() = %s", got)
	}
	if newAggregate(nil) != nil {
		t.Error("an aggregate of nothing is not nil")
	}
}

// --skip-wait-for-delete-timeout=N: a pod terminating for more than N whole seconds is
// neither removed (the filter drops it, even one drain would otherwise refuse) nor waited for.
func TestSkipWaitForDeleteTimeout(t *testing.T) {
	deleted := func(ago time.Duration) Object {
		return map[string]any{"metadata": map[string]any{"name": "p", "namespace": "ns", "uid": "uid-p",
			"deletionTimestamp": testNow.Add(-ago).Format(time.RFC3339)}}
	}
	for _, tc := range []struct {
		pod     Object
		seconds int
		want    bool
	}{
		{deleted(time.Hour), 0, false},
		{map[string]any{"metadata": map[string]any{"name": "p"}}, 5, false},
		{deleted(5 * time.Second), 5, false},
		{deleted(6 * time.Second), 5, true},
		{deleted(time.Minute), 5, true},
	} {
		if got := deletedLongAgo(tc.pod, tc.seconds, testNow); got != tc.want {
			t.Errorf("deletedLongAgo(%v, %d) = %v, want %v", nestedString(tc.pod, "metadata", "deletionTimestamp"), tc.seconds, got, tc.want)
		}
	}

	o := &drainFlags{now: func() time.Time { return testNow }}
	if _, _, refusal := o.podFilter(deleted(time.Minute)); refusal == "" {
		t.Fatal("an unmanaged pod without --force is not refused")
	}
	o.skipWaitForDelete = 10
	if del, warn, refusal := o.podFilter(deleted(time.Minute)); del || warn != "" || refusal != "" {
		t.Errorf("podFilter = %v, %q, %q; want the pod skipped silently", del, warn, refusal)
	}

	// Evicted meanwhile, the pod is seen terminating for 20s: not waited for.
	n := newFakeNode("p")
	pods := n.drainPods("p")
	r, out, _ := remover(n, true)
	r.remove = func(context.Context, objectRef) error { n.set("p", deleted(20*time.Second)); return nil }
	r.skipWaitForDelete = 10
	if err := r.evictAll(context.Background(), pods); err != nil {
		t.Fatal(err)
	}
	if want := "evicting pod ns/p\npod \"p\" has DeletionTimestamp older than 10 seconds, skipping\n"; out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
}
