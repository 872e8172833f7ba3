package extender

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"kubelab.io/scheduler/internal/config"
	"kubelab.io/scheduler/internal/framework"
	tu "kubelab.io/scheduler/internal/testutil"
)

func nodeInfos(names ...string) []*framework.NodeInfo {
	out := make([]*framework.NodeInfo, len(names))
	for i, n := range names {
		out[i] = framework.NewNodeInfo(tu.Node(n).Obj())
	}
	return out
}

func names(nodes []*framework.NodeInfo) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Name())
	}
	return strings.Join(s, ",")
}

// server answers filter by rejecting nodes whose name ends in "1" and prioritize by
// scoring node-2 at 10; it records the last raw request.
func server(t *testing.T, last *map[string]json.RawMessage) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.URL.Path != "/sched/slow" {
			mu.Lock()
			*last = raw
			mu.Unlock()
		}
		var args struct {
			Pod struct {
				Metadata struct{ Name string } `json:"metadata"`
			}
			Nodes *struct {
				Items []struct {
					Metadata struct{ Name string } `json:"metadata"`
				} `json:"items"`
			}
			NodeNames *[]string
		}
		_ = json.Unmarshal(body, &args)
		var nodes []string
		if args.Nodes != nil {
			for _, it := range args.Nodes.Items {
				nodes = append(nodes, it.Metadata.Name)
			}
		} else if args.NodeNames != nil {
			nodes = *args.NodeNames
		}
		switch r.URL.Path {
		case "/sched/filter":
			res := map[string]any{"FailedNodes": map[string]string{}}
			var ok []string
			for _, n := range nodes {
				if strings.HasSuffix(n, "1") {
					res["FailedNodes"].(map[string]string)[n] = "extender says no"
				} else {
					ok = append(ok, n)
				}
			}
			if args.NodeNames != nil {
				res["NodeNames"] = ok
			} else {
				items := []map[string]any{}
				for _, n := range ok {
					items = append(items, map[string]any{"metadata": map[string]string{"name": n}})
				}
				res["Nodes"] = map[string]any{"items": items}
			}
			_ = json.NewEncoder(w).Encode(res)
		case "/sched/prioritize":
			var out []map[string]any
			for _, n := range nodes {
				score := 1
				if n == "node-2" {
					score = 10
				}
				out = append(out, map[string]any{"Host": n, "Score": score})
			}
			_ = json.NewEncoder(w).Encode(out)
		case "/sched/slow":
			time.Sleep(500 * time.Millisecond)
			_, _ = io.WriteString(w, "{}")
		case "/sched/error":
			_, _ = io.WriteString(w, `{"Error":"out of gpus"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFilterFullNodeList(t *testing.T) {
	var last map[string]json.RawMessage
	srv := server(t, &last)
	e, err := New(config.Extender{URLPrefix: srv.URL + "/sched", FilterVerb: "filter"})
	if err != nil {
		t.Fatal(err)
	}
	feasible, failed, _, err := e.Filter(context.Background(), tu.Pod("web-0").Obj(), nodeInfos("node-1", "node-2", "node-3"))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(feasible); got != "node-2,node-3" {
		t.Errorf("feasible %s", got)
	}
	if failed["node-1"] != "extender says no" {
		t.Errorf("failed %v", failed)
	}
	// Upstream's field names, Kubernetes JSON inside.
	if _, ok := last["NodeNames"]; ok {
		t.Error("NodeNames sent to a non-node-cache-capable extender")
	}
	var pod struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(last["Pod"], &pod); err != nil || pod.Kind != "Pod" || pod.Metadata.Name != "web-0" {
		t.Errorf("Pod %s", last["Pod"])
	}
	var nodes struct {
		Items []struct {
			Status struct {
				Allocatable map[string]string `json:"allocatable"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(last["Nodes"], &nodes); err != nil || len(nodes.Items) != 3 || nodes.Items[0].Status.Allocatable["cpu"] != "4" {
		t.Errorf("Nodes %s (%v)", last["Nodes"], err)
	}
}

func TestFilterNodeCacheCapable(t *testing.T) {
	var last map[string]json.RawMessage
	srv := server(t, &last)
	e, _ := New(config.Extender{URLPrefix: srv.URL + "/sched", FilterVerb: "filter", NodeCacheCapable: true})
	feasible, _, _, err := e.Filter(context.Background(), tu.Pod("p").Obj(), nodeInfos("node-1", "node-2"))
	if err != nil {
		t.Fatal(err)
	}
	if names(feasible) != "node-2" || string(last["NodeNames"]) != `["node-1","node-2"]` || last["Nodes"] != nil {
		t.Errorf("feasible %s, request NodeNames %s Nodes %s", names(feasible), last["NodeNames"], last["Nodes"])
	}
}

func TestPrioritize(t *testing.T) {
	var last map[string]json.RawMessage
	srv := server(t, &last)
	e, _ := New(config.Extender{URLPrefix: srv.URL + "/sched/", PrioritizeVerb: "prioritize", Weight: 2})
	scores, err := e.Prioritize(context.Background(), tu.Pod("p").Obj(), nodeInfos("node-1", "node-2"))
	if err != nil {
		t.Fatal(err)
	}
	if scores["node-1"] != 1 || scores["node-2"] != 10 || e.Weight() != 2 || !e.IsPrioritizer() || e.IsFilter() {
		t.Errorf("scores %v", scores)
	}
}

func TestErrors(t *testing.T) {
	var last map[string]json.RawMessage
	srv := server(t, &last)
	cases := []struct {
		name string
		cfg  config.Extender
		want string
	}{
		{"timeout", config.Extender{URLPrefix: srv.URL + "/sched", FilterVerb: "slow", HTTPTimeout: config.Duration{Duration: 50 * time.Millisecond}}, "deadline exceeded"},
		{"extender error field", config.Extender{URLPrefix: srv.URL + "/sched", FilterVerb: "error"}, "out of gpus"},
		{"404", config.Extender{URLPrefix: srv.URL + "/sched", FilterVerb: "nope"}, "code 404"},
		{"down", config.Extender{URLPrefix: "http://127.0.0.1:1/sched", FilterVerb: "filter", Ignorable: true}, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, _, _, err = e.Filter(context.Background(), tu.Pod("p").Obj(), nodeInfos("node-2"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if time.Since(start) > 400*time.Millisecond {
				t.Errorf("took %v", time.Since(start))
			}
			if e.IsIgnorable() != tc.cfg.Ignorable {
				t.Error("ignorable not reported")
			}
		})
	}
}

func TestConfigFieldsFromYAML(t *testing.T) {
	c, err := config.Parse([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
extenders:
- urlPrefix: http://127.0.0.1:8888/scheduler
  filterVerb: filter
  prioritizeVerb: prioritize
  weight: 5
  enableHTTPS: false
  httpTimeout: 2s
  nodeCacheCapable: false
  ignorable: true
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(c.Extenders[0])
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsFilter() || !e.IsPrioritizer() || !e.IsIgnorable() || e.Weight() != 5 || e.client.Timeout != 2*time.Second {
		t.Errorf("extender %+v", e.cfg)
	}
}
