package kubectl_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/rest"
	"kubelab.io/kubectl/internal/cmd"
)

var update = flag.Bool("update", false, "rewrite the golden outputs in testdata/*.txtar")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"kubectl": func() {
			err := cmd.Run(context.Background(), os.Args[1:], cmd.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
			if err != nil {
				os.Exit(1)
			}
		},
	})
}

// TestScripts runs every testdata/*.txtar against its own apiserver (embedded etcd). The
// scripts see $KUBECONFIG (the admin kubeconfig), $SERVER, $EXAMPLES (deploy/examples) and
// ages fixed to 10s; `metrics-mark`, `discovery-requests N` and `write-requests N` read the
// server's request counters; `cmp-interleaved` compares output that goroutines write
// concurrently (see cmpInterleaved).
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	examples, _ := filepath.Abs("../deploy/examples")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			s := apiservertest.Start(t)
			m := &metricsReader{t: t, kubeconfig: s.Kubeconfig()}
			testscript.Run(t, testscript.Params{
				Files:         []string{file},
				UpdateScripts: *update,
				Setup: func(env *testscript.Env) error {
					env.Setenv("KUBECONFIG", s.Kubeconfig())
					env.Setenv("SERVER", s.URL())
					env.Setenv("HOST_PORT", strings.NewReplacer("https://", "", ":", "_").Replace(s.URL()))
					env.Setenv("HOME", env.WorkDir)
					env.Setenv("EXAMPLES", examples)
					env.Setenv("KUBELAB_KUBECTL_TEST_AGE", "10s")
					return nil
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"metrics-mark":       m.mark,
					"discovery-requests": m.assert("discovery", isDiscovery),
					"write-requests":     m.assert("write", isWrite),
					"retry":              retry,
					"cmp-interleaved":    cmpInterleaved,
					// put PATH FILE writes what no kubectl verb writes, such as a pod's status.
					"put": func(ts *testscript.TestScript, neg bool, args []string) {
						if len(args) != 2 {
							ts.Fatalf("usage: put PATH FILE")
						}
						c := m.client(ts)
						defer c.Close()
						_, err := c.Do(context.Background(), "PUT", args[0], []byte(ts.ReadFile(args[1])), "application/json")
						ts.Check(err)
					},
					"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
						d, err := time.ParseDuration(args[0])
						ts.Check(err)
						time.Sleep(d)
					},
				},
				Condition: func(cond string) (bool, error) {
					return false, fmt.Errorf("unknown condition %q", cond)
				},
			})
		})
	}
}

// retry runs a program until it succeeds, for up to 10s: for what the server applies
// asynchronously, such as RBAC bindings reaching the authorizer's cache. Its output is the
// last run's.
func retry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: retry program [args...]")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ts.Exec(args[0], args[1:]...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricsReader reads apiserver_request_total from /metrics.
type metricsReader struct {
	t          *testing.T
	kubeconfig string
	marked     map[string]float64
}

var metricLine = regexp.MustCompile(`^apiserver_request_total\{(.*)\} (\S+)$`)

// client is an admin REST client of the script's server.
func (m *metricsReader) client(ts *testscript.TestScript) *rest.Client {
	cfg, err := kubeconfig.Load(m.kubeconfig)
	ts.Check(err)
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	ts.Check(err)
	c, err := rest.New(rc, rest.Options{QPS: -1})
	ts.Check(err)
	return c
}

func (m *metricsReader) scrape(ts *testscript.TestScript) map[string]float64 {
	c := m.client(ts)
	defer c.Close()
	resp, err := c.Do(context.Background(), "GET", "/metrics", nil, "")
	ts.Check(err)
	out := map[string]float64{}
	for _, line := range strings.Split(string(resp.Body), "\n") {
		if mm := metricLine.FindStringSubmatch(line); mm != nil {
			v, _ := strconv.ParseFloat(mm[2], 64)
			out[mm[1]] = v
		}
	}
	return out
}

func (m *metricsReader) mark(ts *testscript.TestScript, neg bool, args []string) {
	m.marked = m.scrape(ts)
}

func isDiscovery(labels string) bool {
	return strings.Contains(labels, `resource=""`) && strings.Contains(labels, `verb="get"`)
}

func isWrite(labels string) bool {
	for _, v := range []string{"create", "update", "patch", "delete", "deletecollection"} {
		if strings.Contains(labels, `verb="`+v+`"`) {
			return true
		}
	}
	return false
}

// assert checks how many requests of a class the server saw since metrics-mark. The scrape
// of metrics-mark itself is a non-resource GET and is not counted.
func (m *metricsReader) assert(what string, class func(string) bool) func(*testscript.TestScript, bool, []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if m.marked == nil {
			ts.Fatalf("metrics-mark first")
		}
		want, err := strconv.Atoi(args[0])
		ts.Check(err)
		now := m.scrape(ts)
		var got float64
		for k, v := range now {
			if class(k) {
				got += v - m.marked[k]
			}
		}
		if what == "discovery" {
			got-- // the scrape of metrics-mark
		}
		if neg {
			if int(got) == want {
				ts.Fatalf("%s requests since metrics-mark: got %v, want any other number", what, got)
			}
		} else if int(got) != want {
			ts.Fatalf("%s requests since metrics-mark: got %v, want %d", what, got, want)
		}
		m.marked = m.scrape(ts)
	}
}
