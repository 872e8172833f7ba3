package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kubelab.io/scheduler/internal/metrics"
)

func TestFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	le := o.leaderElection
	if !o.grpc || !le.LeaderElect || o.securePort != 10259 || le.ResourceNamespace != "kube-system" || le.ResourceName != "kube-scheduler" ||
		le.LeaseDuration != 15*time.Second || le.RenewDeadline != 10*time.Second || le.RetryPeriod != 2*time.Second {
		t.Errorf("defaults %+v", o)
	}
	for _, args := range [][]string{
		{"--leader-elect-lease-duration", "1s", "--leader-elect-renew-deadline", "2s"},
		{"extra"},
		{"--no-such-flag"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestHandler(t *testing.T) {
	var current atomic.Pointer[metrics.Metrics]
	m := metrics.New(func() map[string]int { return map[string]int{"active": 2, "backoff": 1, "unschedulable": 3} })
	m.Attempt(metrics.Scheduled, "default-scheduler", 3*time.Millisecond)
	m.Attempt(metrics.Unschedulable, "default-scheduler", time.Millisecond)
	current.Store(m)
	srv := httptest.NewServer(Handler(&current))
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	if got := get("/healthz"); got != "ok" {
		t.Errorf("/healthz %q", got)
	}
	body := get("/metrics")
	for _, want := range []string{
		`scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"} 1`,
		`scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"} 1`,
		`scheduler_e2e_scheduling_duration_seconds_bucket{profile="default-scheduler",result="scheduled",le="0.004"} 1`,
		`scheduler_scheduling_attempt_duration_seconds_count{profile="default-scheduler",result="scheduled"} 1`,
		`scheduler_pending_pods{queue="active"} 2`,
		`scheduler_pending_pods{queue="unschedulable"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestProfiling(t *testing.T) {
	var current atomic.Pointer[metrics.Metrics]
	srv := httptest.NewServer(withProfiling(Handler(&current)))
	defer srv.Close()
	for path, want := range map[string]int{"/debug/pprof/": 200, "/debug/pprof/cmdline": 200, "/healthz": 200, "/metrics": 200} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if o, _ := parseFlags(nil, io.Discard); o.profiling {
		t.Error("--profiling is on by default")
	}
}
