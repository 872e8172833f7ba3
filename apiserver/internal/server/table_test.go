package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

const nodeJSON = `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","labels":{"node-role.kubernetes.io/control-plane":""}},
"spec":{"unschedulable":true},
"status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"10.0.0.7"}],
"nodeInfo":{"machineID":"m","systemUUID":"s","bootID":"b","kernelVersion":"6.1.0","osImage":"Debian GNU/Linux 12 (bookworm)","containerRuntimeVersion":"containerd://1.7.0","kubeletVersion":"v1.32.0","kubeProxyVersion":"","operatingSystem":"linux","architecture":"amd64"}}}`

// getAccept GETs path with an Accept header.
func (c *apiClient) getAccept(path, accept string) response {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: b, header: resp.Header}
}

// header returns the first line of kubectl's output as fields.
func header(out string) string {
	line, _, _ := strings.Cut(out, "\n")
	return strings.Join(strings.Fields(line), " ")
}

// rowOf returns the fields of the output line for name.
func rowOf(t *testing.T, out, name string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	t.Fatalf("no row for %s in:\n%s", name, out)
	return nil
}

func TestTableKubectlColumns(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s := testServer(t)
	c := adminClient(t, s)
	c.post(deployments, seedDeployment).must(t, http.StatusCreated)
	c.post(pods, podJSON("web-0", "")).must(t, http.StatusCreated)
	pod := c.get(pods+"/web-0").must(t, http.StatusOK).json(t)
	pod["status"] = map[string]any{"phase": "Running", "podIP": "10.1.0.5", "podIPs": []any{map[string]any{"ip": "10.1.0.5"}},
		"conditions":        []any{map[string]any{"type": "Ready", "status": "True"}},
		"containerStatuses": []any{map[string]any{"name": "c", "ready": true, "restartCount": 0, "image": "nginx:1.14.2", "imageID": "", "state": map[string]any{"running": map[string]any{"startedAt": "2024-01-01T00:00:00Z"}}}}}
	b, _ := json.Marshal(pod)
	c.put(pods+"/web-0/status", string(b)).must(t, http.StatusOK)
	c.post("/api/v1/nodes", nodeJSON).must(t, http.StatusCreated)

	out := kubectl(t, s, "get", "deployments")
	if h := header(out); h != "NAME READY UP-TO-DATE AVAILABLE AGE" {
		t.Errorf("get deployments header %q:\n%s", h, out)
	}
	if r := rowOf(t, out, "example-deployment"); strings.Join(r[1:4], " ") != "0/3 0 0" {
		t.Errorf("deployment row %v", r)
	}
	out = kubectl(t, s, "get", "deployments", "-o", "wide")
	if h := header(out); h != "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR" {
		t.Errorf("get deployments -o wide header %q:\n%s", h, out)
	}
	if r := rowOf(t, out, "example-deployment"); strings.Join(r[5:], " ") != "example-container nginx:1.14.2 app=example" {
		t.Errorf("deployment wide row %v", r)
	}

	out = kubectl(t, s, "get", "pods")
	if h := header(out); h != "NAME READY STATUS RESTARTS AGE" {
		t.Errorf("get pods header %q:\n%s", h, out)
	}
	if r := rowOf(t, out, "web-0"); strings.Join(r[1:4], " ") != "1/1 Running 0" {
		t.Errorf("pod row %v", r)
	}
	out = kubectl(t, s, "get", "pods", "-o", "wide")
	if h := header(out); h != "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES" {
		t.Errorf("get pods -o wide header %q:\n%s", h, out)
	}
	if r := rowOf(t, out, "web-0"); strings.Join(r[5:], " ") != "10.1.0.5 <none> <none> <none>" {
		t.Errorf("pod wide row %v", r)
	}
	// -A adds the namespace from each row's PartialObjectMetadata.
	out = kubectl(t, s, "get", "pods", "-A")
	if h := header(out); h != "NAMESPACE NAME READY STATUS RESTARTS AGE" {
		t.Errorf("get pods -A header %q:\n%s", h, out)
	}
	if r := rowOf(t, out, "default"); r[1] != "web-0" {
		t.Errorf("pod -A row %v", r)
	}

	out = kubectl(t, s, "get", "nodes")
	if h := header(out); h != "NAME STATUS ROLES AGE VERSION" {
		t.Errorf("get nodes header %q:\n%s", h, out)
	}
	if r := rowOf(t, out, "n1"); strings.Join(r[1:3], " ") != "Ready,SchedulingDisabled control-plane" || r[4] != "v1.32.0" {
		t.Errorf("node row %v", r)
	}
	out = kubectl(t, s, "get", "nodes", "-o", "wide")
	if h := header(out); !strings.HasPrefix(h, "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME") {
		t.Errorf("get nodes -o wide header %q:\n%s", h, out)
	}
	if !strings.Contains(out, "10.0.0.7") || !strings.Contains(out, "containerd://1.7.0") {
		t.Errorf("get nodes -o wide:\n%s", out)
	}

	out = kubectl(t, s, "get", "namespaces")
	if h := header(out); h != "NAME STATUS AGE" {
		t.Errorf("get namespaces header %q:\n%s", h, out)
	}
	c.post("/api/v1/namespaces/default/limitranges", `{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr"},"spec":{"limits":[{"type":"Container"}]}}`).must(t, http.StatusCreated)
	out = kubectl(t, s, "get", "limitranges")
	if h := header(out); h != "NAME CREATED AT" {
		t.Errorf("get limitranges header %q:\n%s", h, out)
	}
	if r := rowOf(t, out, "lr"); len(r) != 2 || !strings.HasSuffix(r[1], "Z") {
		t.Errorf("limitrange row %v", r)
	}
	c.post("/api/v1/namespaces/default/resourcequotas", `{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"q"},"spec":{"hard":{"pods":"10"}}}`).must(t, http.StatusCreated)
	if out = kubectl(t, s, "get", "resourcequotas"); header(out) != "NAME AGE REQUEST LIMIT" {
		t.Errorf("get resourcequotas:\n%s", out)
	}
	c.post("/apis/coordination.k8s.io/v1/namespaces/default/leases", `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{"holderIdentity":"me"}}`).must(t, http.StatusCreated)
	if out = kubectl(t, s, "get", "leases"); header(out) != "NAME HOLDER AGE" || rowOf(t, out, "l")[1] != "me" {
		t.Errorf("get leases:\n%s", out)
	}
}

func TestTableKubectlWatch(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s := testServer(t)
	c := adminClient(t, s)
	c.post(pods, podJSON("web-0", "")).must(t, http.StatusCreated)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, stockKubectl, "--kubeconfig", s.AdminKubeconfig(), "--cache-dir", filepath.Join(t.TempDir(), "cache"), "get", "pods", "-w")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 20)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("kubectl get -w ended")
			}
			t.Logf("kubectl: %s", l)
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("kubectl get -w printed nothing")
		}
		return ""
	}
	if h := header(next()); h != "NAME READY STATUS RESTARTS AGE" {
		t.Fatalf("watch header %q", h)
	}
	if f := strings.Fields(next()); f[0] != "web-0" || f[1] != "0/1" || f[2] != "Pending" {
		t.Errorf("watch row %v", f)
	}
	// bound to a node, so deleting it is graceful and it shows as Terminating first
	c.post(pods, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx"}]}}`).must(t, http.StatusCreated)
	for {
		f := strings.Fields(next())
		if f[0] == "NAME" {
			t.Fatalf("header printed again: %v", f)
		}
		if f[0] == "web-1" {
			if f[1] != "0/1" || f[2] != "Pending" || f[3] != "0" {
				t.Errorf("watch row %v", f)
			}
			break
		}
	}
	c.del(pods + "/web-1")
	for {
		f := strings.Fields(next())
		if f[0] == "web-1" && f[2] == "Terminating" {
			break
		}
	}
}

func TestTableRawAPI(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post(pods, podJSON("web-0", "")).must(t, http.StatusCreated)

	r := c.getAccept(pods, tableAccept).must(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	tbl := r.json(t)
	if tbl["kind"] != "Table" || tbl["apiVersion"] != "meta.k8s.io/v1" || str(dig(tbl, "metadata", "resourceVersion")) == "" {
		t.Errorf("table: %s", r.body)
	}
	cols := tbl["columnDefinitions"].([]any)
	if len(cols) != 9 || cols[0].(map[string]any)["format"] != "name" || cols[5].(map[string]any)["priority"] != float64(1) {
		t.Errorf("columns: %v", cols)
	}
	row := tbl["rows"].([]any)[0].(map[string]any)
	if cells := row["cells"].([]any); cells[0] != "web-0" || cells[1] != "0/1" || cells[2] != "Pending" || cells[3] != "0" || len(cells) != 9 {
		t.Errorf("cells: %v", cells)
	}
	if obj := row["object"].(map[string]any); obj["kind"] != "PartialObjectMetadata" || dig(obj, "metadata", "name") != "web-0" || dig(obj, "metadata", "namespace") != "default" {
		t.Errorf("row object: %v", obj)
	}

	obj := c.getAccept(pods+"?includeObject=Object", tableAccept).must(t, http.StatusOK).json(t)
	if o := obj["rows"].([]any)[0].(map[string]any)["object"].(map[string]any); o["kind"] != "Pod" || o["apiVersion"] != "v1" || dig(o, "spec", "containers") == nil {
		t.Errorf("includeObject=Object: %v", o)
	}
	none := c.getAccept(pods+"/web-0?includeObject=None", tableAccept).must(t, http.StatusOK).json(t)
	if _, ok := none["rows"].([]any)[0].(map[string]any)["object"]; ok || len(none["rows"].([]any)) != 1 {
		t.Errorf("includeObject=None: %v", none)
	}
	c.getAccept(pods+"?includeObject=Bogus", tableAccept).must(t, http.StatusBadRequest)

	// v1beta1 first, then fallbacks.
	if v := c.getAccept(pods, "application/json;as=Table;v=v1beta1;g=meta.k8s.io").must(t, http.StatusOK).json(t); v["apiVersion"] != "meta.k8s.io/v1beta1" {
		t.Errorf("v1beta1: %v", v["apiVersion"])
	}
	if v := c.getAccept(pods, "application/json;as=Table;v=v2;g=meta.k8s.io,application/json").must(t, http.StatusOK).json(t); v["kind"] != "PodList" {
		t.Errorf("fallback: %v", v["kind"])
	}
	c.getAccept(pods, "application/json;as=Table;v=v2;g=meta.k8s.io").must(t, http.StatusNotAcceptable)

	// PartialObjectMetadata(List).
	if p := c.getAccept(pods+"/web-0", "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io").must(t, http.StatusOK).json(t); p["kind"] != "PartialObjectMetadata" || dig(p, "metadata", "name") != "web-0" || p["spec"] != nil {
		t.Errorf("PartialObjectMetadata: %v", p)
	}
	pl := c.getAccept(pods, "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io").must(t, http.StatusOK).json(t)
	if items := pl["items"].([]any); pl["kind"] != "PartialObjectMetadataList" || len(items) != 1 || items[0].(map[string]any)["kind"] != "PartialObjectMetadata" {
		t.Errorf("PartialObjectMetadataList: %v", pl)
	}

	// Watch: each event is a one-row Table, column definitions on the first only.
	req, _ := http.NewRequest("GET", c.base+pods+"?watch=true&timeoutSeconds=5", nil)
	req.Header.Set("Accept", tableAccept)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var ev struct {
		Type   string
		Object map[string]any
	}
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "ADDED" || ev.Object["kind"] != "Table" || len(ev.Object["columnDefinitions"].([]any)) != 9 {
		t.Errorf("first event: %v", ev)
	}
	c.post(pods, podJSON("web-1", "")).must(t, http.StatusCreated)
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	rows := ev.Object["rows"].([]any)
	if ev.Object["columnDefinitions"] != nil || len(rows) != 1 || rows[0].(map[string]any)["cells"].([]any)[0] != "web-1" {
		t.Errorf("second event: %v", ev)
	}
}
