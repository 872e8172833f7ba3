package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/rest"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// keySet is an event handler's view: the pod keys it saw added and deleted.
type keySet struct {
	mu      sync.Mutex
	added   map[string]bool
	deleted map[string]bool
}

func (k *keySet) handler() cache.ResourceEventHandlerFuncs {
	k.added, k.deleted = map[string]bool{}, map[string]bool{}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj runtime.Object) {
			key, _ := cache.MetaNamespaceKeyFunc(obj)
			k.mu.Lock()
			k.added[key] = true
			k.mu.Unlock()
		},
		DeleteFunc: func(obj any) {
			key, _ := cache.MetaNamespaceKeyFunc(obj)
			k.mu.Lock()
			k.deleted[key] = true
			k.mu.Unlock()
		},
	}
}

func (k *keySet) counts() (added, deleted int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.added), len(k.deleted)
}

// TestInformersShareOneWatch runs a SharedInformerFactory over the REST transport against a
// real apiserver: two handlers on pods see every change while the server holds one watch.
func TestInformersShareOneWatch(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	cfg, err := kubeconfig.Load(s.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.New(rc, rest.Options{QPS: -1, UserAgent: "informer-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"inf"}}`).must(t, http.StatusCreated)

	factory := informers.NewSharedInformerFactory(rt, 0, informers.WithNamespace("inf"))
	podMapping, _ := scheme.MappingFor(runtime.GroupVersionKind{Version: "v1", Kind: "Pod"})
	var h1, h2 keySet
	// Two controllers get the pod informer two different ways; both get the same one.
	if _, err := factory.Pods().Informer().AddEventHandler(h1.handler()); err != nil {
		t.Fatal(err)
	}
	if _, err := factory.ForMapping(podMapping).AddEventHandler(h2.handler()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	factory.Start(ctx)
	defer factory.Shutdown()
	for gvk, ok := range factory.WaitForCacheSync(ctx) {
		if !ok {
			t.Fatalf("%s did not sync", gvk)
		}
	}

	const n = 20
	for i := range n {
		c.post("/api/v1/namespaces/inf/pods", podJSON(fmt.Sprintf("p%02d", i), "")).must(t, http.StatusCreated)
	}
	eventually(t, "both handlers see 20 adds", func() bool {
		a1, _ := h1.counts()
		a2, _ := h2.counts()
		return a1 == n && a2 == n
	})
	pods, err := factory.Pods().Lister().Namespace("inf").List(labels.Everything())
	if err != nil || len(pods) != n {
		t.Fatalf("lister: %d pods, %v", len(pods), err)
	}

	const oneWatch = `apiserver_registered_watchers{group="",resource="pods"} 1`
	if m := string(c.get("/metrics").must(t, 200).body); !strings.Contains(m, oneWatch+"\n") {
		t.Fatalf("metrics lack %q:\n%s", oneWatch, grepLines(m, "apiserver_registered_watchers"))
	}

	for i := range n {
		c.del(fmt.Sprintf("/api/v1/namespaces/inf/pods/p%02d?gracePeriodSeconds=0", i)).must(t, http.StatusOK)
	}
	eventually(t, "both handlers see 20 deletes", func() bool {
		_, d1 := h1.counts()
		_, d2 := h2.counts()
		return d1 == n && d2 == n
	})
	if left := factory.Pods().Informer().GetIndexer().List(); len(left) != 0 {
		t.Fatalf("cache still holds %d pods", len(left))
	}

	factory.Shutdown()
	const noWatch = `apiserver_registered_watchers{group="",resource="pods"} 0`
	eventually(t, "the watch to close", func() bool {
		return strings.Contains(string(c.get("/metrics").must(t, 200).body), noWatch+"\n")
	})
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
