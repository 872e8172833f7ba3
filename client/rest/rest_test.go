package rest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

func mapping(t *testing.T, group, kind string) scheme.Mapping {
	t.Helper()
	m, ok := scheme.MappingFor(runtime.GroupVersionKind{Group: group, Version: "v1", Kind: kind})
	if !ok {
		t.Fatalf("no mapping for %s", kind)
	}
	return m
}

func podRef(t *testing.T, name string) transport.Ref {
	return transport.Ref{Mapping: mapping(t, "", "Pod"), Namespace: "default", Name: name}
}

// sleeps records the waits of a retry policy without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// countingLimiter admits everything and counts.
type countingLimiter struct{ n atomic.Int64 }

func (l *countingLimiter) Wait(ctx context.Context) error { l.n.Add(1); return ctx.Err() }
func (l *countingLimiter) TryAccept() bool                { l.n.Add(1); return true }

// newTestClient returns a client of srv whose retries do not wait.
func newTestClient(t *testing.T, host string, cfg kubeconfig.RESTConfig) (*Client, *sleeps, *countingLimiter) {
	t.Helper()
	s := &sleeps{}
	lim := &countingLimiter{}
	cfg.Host = host
	c, err := New(&cfg, Options{UserAgent: "unit-test", RateLimiter: lim, Retry: &retry.Policy{Sleep: s.sleep}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, s, lim
}

const podJSON = `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default","resourceVersion":"7"},"spec":{"nodeName":"n1","futureField":1},"futureTopLevel":true}`

func TestPathsHeadersAndLenientDecoding(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+r.Header.Get("User-Agent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/pods"):
			fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[`+podJSON+`]}`)
		case strings.HasSuffix(r.URL.Path, "/nodes/n1"):
			fmt.Fprint(w, `{"kind":"Node","apiVersion":"v1","metadata":{"name":"n1"}}`)
		default:
			fmt.Fprint(w, podJSON)
		}
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL+"/prefix/", kubeconfig.RESTConfig{BearerToken: "tok"})
	ctx := context.Background()

	obj, err := c.Get(ctx, podRef(t, "p"))
	if err != nil {
		t.Fatal(err)
	}
	if pod := obj.(*corev1.Pod); pod.GetSpec().GetNodeName() != "n1" || pod.GetMetadata().GetResourceVersion() != "7" {
		t.Fatalf("decoded %v", pod)
	}
	list, err := c.List(ctx, transport.Ref{Mapping: mapping(t, "", "Pod")}, transport.ListOptions{LabelSelector: "app=x", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if items := runtime.Items(list); len(items) != 1 || list.GetMetadata().GetResourceVersion() != "9" {
		t.Fatalf("list %v", list)
	}
	if _, err := c.Get(ctx, transport.Ref{Mapping: mapping(t, "", "Node"), Namespace: "ignored", Name: "n1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, transport.Ref{Mapping: mapping(t, "apps", "Deployment")}, deployment("d", "ns1"), "status"); err == nil {
		t.Log("update decoded a pod body as a Deployment without error (lenient)")
	}
	want := []string{
		"GET /prefix/api/v1/namespaces/default/pods/p Bearer tok kubelab/unit-test",
		"GET /prefix/api/v1/pods?labelSelector=app%3Dx&limit=5 Bearer tok kubelab/unit-test",
		"GET /prefix/api/v1/nodes/n1 Bearer tok kubelab/unit-test",
		"PUT /prefix/apis/apps/v1/namespaces/ns1/deployments/d/status Bearer tok kubelab/unit-test",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func deployment(name, ns string) runtime.Object {
	obj, _ := scheme.Scheme.New(runtime.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	m := runtime.Meta(obj)
	m.Name, m.Namespace = name, ns
	return obj
}

func TestBasicAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, podJSON)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{Username: "alice", Password: "secret"})
	if _, err := c.Get(context.Background(), podRef(t, "p")); err != nil {
		t.Fatal(err)
	}
	c, _, _ = newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	if _, err := c.Get(context.Background(), podRef(t, "p")); !apierrors.IsUnauthorized(err) {
		t.Fatalf("got %v, want Unauthorized synthesized from a bare 401", err)
	}
}

// TestImpersonationHeaders: a config that impersonates sends the headers with its
// credentials on every request.
func TestImpersonationHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Impersonate-User") != "bob" ||
			strings.Join(r.Header.Values("Impersonate-Group"), ",") != "devs,ops" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprint(w, podJSON)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{BearerToken: "tok",
		Impersonate: kubeconfig.Impersonation{UserName: "bob", Groups: []string{"devs", "ops"}}})
	if _, err := c.Get(context.Background(), podRef(t, "p")); err != nil {
		t.Fatal(err)
	}
}

func TestErrorDecoding(t *testing.T) {
	cases := []struct {
		name       string
		code       int
		body       string
		is         func(error) bool
		wantReason string
		wantMsg    string
	}{
		{"status body", 404, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"p\" not found","reason":"NotFound","details":{"name":"p","kind":"pods"},"code":404}`,
			apierrors.IsNotFound, apierrors.ReasonNotFound, `pods "p" not found`},
		{"conflict status", 409, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the object has been modified","reason":"Conflict","code":409}`,
			apierrors.IsConflict, apierrors.ReasonConflict, "the object has been modified"},
		{"invalid status with causes", 422, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Pod \"p\" is invalid","reason":"Invalid","details":{"causes":[{"reason":"FieldValueRequired","field":"spec.containers"}]},"code":422}`,
			apierrors.IsInvalid, apierrors.ReasonInvalid, `Pod "p" is invalid`},
		{"bare 404", 404, "404 page not found", apierrors.IsNotFound, apierrors.ReasonNotFound, "the server could not find the requested resource"},
		{"bare 403", 403, "", apierrors.IsForbidden, apierrors.ReasonForbidden, "the server does not allow access"},
		{"bare 409", 409, "x", apierrors.IsConflict, apierrors.ReasonConflict, "conflict"},
		{"json that is not a status", 400, `{"error":"nope"}`, apierrors.IsBadRequest, apierrors.ReasonBadRequest, "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.code)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
			_, err := c.Get(context.Background(), podRef(t, "p"))
			var se *apierrors.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("got %T %v, want a StatusError", err, err)
			}
			if !tc.is(err) || se.ErrStatus.GetReason() != tc.wantReason || se.ErrStatus.GetCode() != int32(tc.code) {
				t.Fatalf("got %v (reason %s, code %d)", err, se.ErrStatus.GetReason(), se.ErrStatus.GetCode())
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("message %q lacks %q", err.Error(), tc.wantMsg)
			}
		})
	}
}

func TestRetryBare500ForReads(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "etcd hiccup", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, podJSON)
	}))
	defer srv.Close()
	c, s, lim := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	if _, err := c.Get(context.Background(), podRef(t, "p")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || len(s.get()) != 2 || lim.n.Load() != 3 {
		t.Fatalf("calls %d, waits %v, limiter %d; want 3 calls, 2 waits, 3 tokens", calls.Load(), s.get(), lim.n.Load())
	}

	// Exhausted: the last error, a 500 InternalError carrying the body.
	calls.Store(-100)
	_, err := c.Get(context.Background(), podRef(t, "p"))
	if apierrors.CodeOf(err) != 500 || apierrors.ReasonOf(err) != apierrors.ReasonInternalError || !strings.Contains(err.Error(), "etcd hiccup") {
		t.Fatalf("got %v", err)
	}
	if n := calls.Load() + 100; n != retry.DefaultMaxAttempts {
		t.Fatalf("%d attempts, want %d", n, retry.DefaultMaxAttempts)
	}
}

func TestNoRetryOn501(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNotImplemented)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	if _, err := c.Get(context.Background(), podRef(t, "p")); apierrors.CodeOf(err) != 501 || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
}

func Test429RetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, "slow down")
		case 2:
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","message":"too many","code":429,"details":{"retryAfterSeconds":3}}`)
		default:
			fmt.Fprint(w, podJSON)
		}
	}))
	defer srv.Close()
	c, s, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	if _, err := c.Get(context.Background(), podRef(t, "p")); err != nil {
		t.Fatal(err)
	}
	if got := s.get(); len(got) != 2 || got[0] != 7*time.Second || got[1] != 3*time.Second {
		t.Fatalf("waits %v, want [7s 3s]", got)
	}
}

func Test429SynthesizedCarriesRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	_, err := c.Create(context.Background(), podRef(t, ""), &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}})
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsTooManyRequests(err) || se.ErrStatus.GetDetails().GetRetryAfterSeconds() != 2 {
		t.Fatalf("got %v", err)
	}
}

func TestWritesThatReachedTheServerAreNotRetried(t *testing.T) {
	for _, code := range []int{500, 503, 429} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(code)
		}))
		c, s, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
		_, err := c.Create(context.Background(), podRef(t, ""), &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}})
		if apierrors.CodeOf(err) != int32(code) || calls.Load() != 1 || len(s.get()) != 0 {
			t.Errorf("POST answered %d: err %v after %d calls, want one call", code, err, calls.Load())
		}
		srv.Close()
	}

	// The connection breaks after the server read the POST: not retried. The same for a GET is.
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	_, err := c.Create(context.Background(), podRef(t, ""), &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}})
	if err == nil || calls.Load() != 1 {
		t.Fatalf("POST on a broken connection: err %v after %d calls, want an error after 1", err, calls.Load())
	}
	calls.Store(0)
	if _, err := c.Get(context.Background(), podRef(t, "p")); err == nil || calls.Load() < retry.DefaultMaxAttempts {
		t.Fatalf("GET on a broken connection: err %v after %d calls, want %d calls", err, calls.Load(), retry.DefaultMaxAttempts)
	}
}

func TestDialFailureRetriedForAnyVerb(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens: connections are refused
	c, s, _ := newTestClient(t, "http://"+addr, kubeconfig.RESTConfig{})
	_, err = c.Create(context.Background(), podRef(t, ""), &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p"}})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("got %v, want connection refused", err)
	}
	if n := len(s.get()); n != retry.DefaultMaxAttempts-1 {
		t.Fatalf("%d waits, want %d (a refused POST is retried)", n, retry.DefaultMaxAttempts-1)
	}
}

func TestDeleteResults(t *testing.T) {
	const deleting = `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","uid":"u1","deletionGracePeriodSeconds":30,"deletionTimestamp":"2024-01-01T00:00:00Z"}}`
	var answer struct {
		code int
		body string
		get  string // the answer to the GET that checks a 200 with a deleting object; "" is 404
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if answer.get == "" {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			fmt.Fprint(w, answer.get)
			return
		}
		if r.Method != http.MethodDelete {
			t.Errorf("method %s", r.Method)
		}
		if b, _ := io.ReadAll(r.Body); !strings.Contains(string(b), `"gracePeriodSeconds"`) || !strings.Contains(string(b), `"kind":"DeleteOptions"`) {
			t.Errorf("delete options body %s", b)
		}
		w.WriteHeader(answer.code)
		fmt.Fprint(w, answer.body)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	zero := int64(0)
	for _, tc := range []struct {
		code    int
		body    string
		get     string
		pending bool
	}{
		{200, `{"kind":"Status","apiVersion":"v1","status":"Success","code":200}`, "", false},
		{200, podJSON, "", false},
		{202, podJSON, "", true},
		{200, deleting, deleting, true},
		{200, deleting, "", false},
		{200, deleting, strings.Replace(deleting, "u1", "u2", 1), false}, // re-created since
	} {
		answer.code, answer.body, answer.get = tc.code, tc.body, tc.get
		obj, err := c.Delete(context.Background(), podRef(t, "p"), &metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil {
			t.Fatal(err)
		}
		if (obj != nil) != tc.pending {
			t.Errorf("answer %d %s (get %q): got %v, want pending=%v", tc.code, tc.body, tc.get, obj, tc.pending)
		}
	}
}

// watchServer answers a watch with lines, then blocks until the client goes away unless end.
func watchServer(t *testing.T, lines []string, end bool) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "true" || r.URL.Query().Get("resourceVersion") != "5" {
			t.Errorf("watch query %s", r.URL.RawQuery)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for _, l := range lines {
			fmt.Fprintln(w, l)
			w.(http.Flusher).Flush()
		}
		if !end {
			<-r.Context().Done()
		}
	}))
}

func collect(w watch.Interface) []watch.Event {
	var out []watch.Event
	for ev := range w.ResultChan() {
		out = append(out, ev)
	}
	return out
}

func TestWatchDecoding(t *testing.T) {
	srv := watchServer(t, []string{
		`{"type":"ADDED","object":` + podJSON + `}`,
		`{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","resourceVersion":"8"}}}`,
		`{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","resourceVersion":"9"}}}`,
		`{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 5 (10)","reason":"Expired","code":410}}`,
	}, false)
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	w, err := c.Watch(context.Background(), transport.Ref{Mapping: mapping(t, "", "Pod"), Namespace: "default"}, transport.ListOptions{ResourceVersion: "5"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	evs := collect(w) // the ERROR event ends the watch: the channel closes though the server holds on
	if len(evs) != 4 {
		t.Fatalf("got %d events: %v", len(evs), evs)
	}
	for i, want := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted} {
		pod, ok := evs[i].Object.(*corev1.Pod)
		if evs[i].Type != want || !ok || pod.GetMetadata().GetName() != "p" {
			t.Errorf("event %d: %+v", i, evs[i])
		}
	}
	if evs[2].Object.GetMetadata().GetResourceVersion() != "9" {
		t.Errorf("DELETED resourceVersion %q", evs[2].Object.GetMetadata().GetResourceVersion())
	}
	if ev := evs[3]; ev.Type != watch.Error || ev.Object != nil || ev.Status.GetCode() != 410 || !apierrors.IsGone(apierrors.FromStatus(ev.Status)) {
		t.Errorf("error event %+v", ev)
	}
}

func TestWatchEndsWithStream(t *testing.T) {
	srv := watchServer(t, []string{`{"type":"ADDED","object":` + podJSON + `}`}, true)
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	w, err := c.Watch(context.Background(), transport.Ref{Mapping: mapping(t, "", "Pod")}, transport.ListOptions{ResourceVersion: "5"})
	if err != nil {
		t.Fatal(err)
	}
	if evs := collect(w); len(evs) != 1 || evs[0].Type != watch.Added {
		t.Fatalf("got %v", evs)
	}
	w.Stop()
	w.Stop() // idempotent
}

func TestWatchUndecodableEvent(t *testing.T) {
	srv := watchServer(t, []string{`{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":5}}}`}, false)
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	w, err := c.Watch(context.Background(), transport.Ref{Mapping: mapping(t, "", "Pod")}, transport.ListOptions{ResourceVersion: "5"})
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(w)
	if len(evs) != 1 || evs[0].Type != watch.Error || evs[0].Status.GetCode() != 500 {
		t.Fatalf("got %+v", evs)
	}
}

func TestWatchStop(t *testing.T) {
	srv := watchServer(t, nil, false)
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	w, err := c.Watch(context.Background(), transport.Ref{Mapping: mapping(t, "", "Pod")}, transport.ListOptions{ResourceVersion: "5"})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	if evs := collect(w); len(evs) != 0 {
		t.Fatalf("got %v after Stop", evs)
	}
}

func TestWatchRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","message":"no","code":403}`)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	if _, err := c.Watch(context.Background(), transport.Ref{Mapping: mapping(t, "", "Pod")}, transport.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want Forbidden", err)
	}
}

func TestDoRaw(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" && r.URL.Query().Get("x") == "1" {
			fmt.Fprint(w, `{"gitVersion":"v1.30.0"}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	resp, err := c.Do(context.Background(), http.MethodGet, "/version?x=1", nil, "")
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(resp.Body), "v1.30.0") {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
	resp, err = c.Do(context.Background(), http.MethodGet, "/nope", nil, "")
	if !apierrors.IsNotFound(err) || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
}

func TestUserAgent(t *testing.T) {
	for in, want := range map[string]string{"scheduler": "kubelab/scheduler", "kubectl/v1.30": "kubectl/v1.30"} {
		if got := UserAgent(in); got != want {
			t.Errorf("UserAgent(%q) = %q, want %q", in, got, want)
		}
	}
	if got := UserAgent(""); !strings.HasPrefix(got, "kubelab/") {
		t.Errorf("default user agent %q", got)
	}
}

// TestCreateSubresource posts a TokenRequest to serviceaccounts/NAME/token and decodes the
// answer as a TokenRequest, not as the ServiceAccount the ref names. The empty status is
// on the wire as client-go sends it (its fields have no omitempty).
func TestCreateSubresource(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.Path + " " + string(body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","metadata":{"name":"build","namespace":"ci"},`+
			`"spec":{"audiences":["api"],"expirationSeconds":600},"status":{"token":"eyJ.x.y","expirationTimestamp":"2030-01-01T00:00:00Z"}}`)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, srv.URL, kubeconfig.RESTConfig{})
	ref := transport.Ref{Mapping: mapping(t, "", "ServiceAccount"), Namespace: "ci", Name: "build"}
	exp := int64(600)
	out, err := c.CreateSubresource(context.Background(), ref, "token",
		&authenticationv1.TokenRequest{Spec: &authenticationv1.TokenRequestSpec{Audiences: []string{"api"}, ExpirationSeconds: &exp}})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := out.(*authenticationv1.TokenRequest)
	if !ok || tr.GetStatus().GetToken() != "eyJ.x.y" {
		t.Fatalf("decoded %T %v", out, out)
	}
	want := `POST /api/v1/namespaces/ci/serviceaccounts/build/token {"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","spec":{"audiences":["api"],"expirationSeconds":600},"status":{"token":"","expirationTimestamp":null}}`
	if got != want {
		t.Fatalf("request\n%s\nwant\n%s", got, want)
	}
	if _, err := c.CreateSubresource(context.Background(), transport.Ref{Mapping: ref.Mapping, Namespace: "ci"}, "token", tr); err == nil {
		t.Fatal("a subresource of no object was created")
	}
}
