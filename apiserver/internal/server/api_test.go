package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const seedDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"example-deployment"},
"spec":{"replicas":3,"selector":{"matchLabels":{"app":"example"}},
"template":{"metadata":{"labels":{"app":"example"}},"spec":{"containers":[{"name":"example-container","image":"nginx:1.14.2"}]}}}}`

const deployments = "/apis/apps/v1/namespaces/default/deployments"
const pods = "/api/v1/namespaces/default/pods"

func podJSON(name string, extra string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"labels":{"app":"web"}%s},"spec":{"containers":[{"name":"c","image":"nginx:1.14.2"}]}}`, name, extra)
}

func TestCreateGetListUpdateDelete(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)

	created := c.post(deployments, seedDeployment).must(t, http.StatusCreated).json(t)
	if uid := str(dig(created, "metadata", "uid")); len(uid) != 36 {
		t.Errorf("uid = %q", uid)
	}
	if ts := str(dig(created, "metadata", "creationTimestamp")); !strings.HasSuffix(ts, "Z") {
		t.Errorf("creationTimestamp = %q", ts)
	}
	if g := dig(created, "metadata", "generation"); g != float64(1) {
		t.Errorf("generation = %v", g)
	}
	// Defaults as Kubernetes fills them.
	if v := dig(created, "spec", "strategy", "rollingUpdate", "maxSurge"); v != "25%" {
		t.Errorf("maxSurge = %v", v)
	}
	if v := dig(created, "spec", "template", "spec", "containers", 0, "imagePullPolicy"); v != "IfNotPresent" {
		t.Errorf("imagePullPolicy = %v", v)
	}
	rv := str(dig(created, "metadata", "resourceVersion"))

	got := c.get(deployments+"/example-deployment").must(t, http.StatusOK).json(t)
	if str(dig(got, "metadata", "resourceVersion")) != rv {
		t.Errorf("get returned another resourceVersion")
	}
	list := c.get(deployments).must(t, http.StatusOK).json(t)
	if str(list["kind"]) != "DeploymentList" || len(list["items"].([]any)) != 1 {
		t.Fatalf("list = %v", list)
	}

	// A second create is AlreadyExists.
	st := c.post(deployments, seedDeployment).must(t, http.StatusConflict).json(t)
	if st["reason"] != "AlreadyExists" || st["message"] != `deployments.apps "example-deployment" already exists` {
		t.Errorf("status = %v", st)
	}

	// Update with the current resourceVersion works and bumps generation (spec changed).
	upd := strings.Replace(seedDeployment, `"name":"example-deployment"`, `"name":"example-deployment","resourceVersion":"`+rv+`"`, 1)
	upd = strings.Replace(upd, `"replicas":3`, `"replicas":5`, 1)
	after := c.put(deployments+"/example-deployment", upd).must(t, http.StatusOK).json(t)
	if dig(after, "metadata", "generation") != float64(2) || dig(after, "spec", "replicas") != float64(5) {
		t.Errorf("after update: %v", after["metadata"])
	}
	// The same update again carries a stale resourceVersion: 409 Conflict.
	st = c.put(deployments+"/example-deployment", upd).must(t, http.StatusConflict).json(t)
	if st["reason"] != "Conflict" {
		t.Errorf("status = %v", st)
	}

	del := c.del(deployments+"/example-deployment").must(t, http.StatusOK).json(t)
	if del["kind"] != "Status" || del["status"] != "Success" {
		t.Errorf("delete answered %v", del)
	}
	c.get(deployments+"/example-deployment").must(t, http.StatusNotFound)
}

func TestErrors(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)

	cases := []struct {
		name, method, path, ctype, body string
		code                            int
		reason                          string
		contains                        string
	}{
		{"malformed json", "POST", deployments, "application/json", `{"apiVersion":`, 400, "BadRequest", "invalid JSON"},
		{"wrong type", "POST", deployments, "application/json", strings.Replace(seedDeployment, `"replicas":3`, `"replicas":"3"`, 1), 400, "BadRequest", "spec.replicas"},
		{"unknown field strict", "POST", deployments + "?fieldValidation=Strict", "application/json", strings.Replace(seedDeployment, `"replicas":3`, `"replicass":3`, 1), 400, "BadRequest", `unknown field "spec.replicass"`},
		{"not json or yaml", "POST", deployments, "text/plain", seedDeployment, 415, "UnsupportedMediaType", "text/plain"},
		{"invalid replicas", "POST", deployments, "application/json", strings.Replace(seedDeployment, `"replicas":3`, `"replicas":-1`, 1), 422, "Invalid", "spec.replicas: Invalid value: -1"},
		{"kind mismatch", "POST", deployments, "application/json", podJSON("p", ""), 400, "BadRequest", "does not match the expected API version"},
		{"namespace mismatch", "POST", deployments, "application/json", strings.Replace(seedDeployment, `"name":"example-deployment"`, `"name":"x","namespace":"other"`, 1), 400, "BadRequest", "does not match the namespace"},
		{"missing", "GET", deployments + "/nope", "", "", 404, "NotFound", `deployments.apps "nope" not found`},
		{"no such resource", "GET", "/api/v1/namespaces/default/widgets", "", "", 404, "NotFound", "could not find the requested resource"},
		{"missing namespace", "POST", "/apis/apps/v1/namespaces/ghost/deployments", "application/json", seedDeployment, 404, "NotFound", `namespaces "ghost" not found`},
		{"bad label selector", "GET", pods + "?labelSelector=a%20in%20(", "", "", 400, "BadRequest", "unable to parse"},
		{"unsupported field selector", "GET", pods + "?fieldSelector=spec.foo%3Dx", "", "", 400, "BadRequest", "field label not supported: spec.foo"},
		{"bad patch type", "PATCH", deployments + "/x", "application/xml", "<x/>", 415, "UnsupportedMediaType", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, tc.ctype, tc.body).must(t, tc.code)
			st := r.json(t)
			if st["kind"] != "Status" || st["reason"] != tc.reason || dig(st, "code") != float64(tc.code) {
				t.Errorf("status = %s", r.body)
			}
			if !strings.Contains(str(st["message"]), tc.contains) {
				t.Errorf("message %q does not contain %q", st["message"], tc.contains)
			}
		})
	}
	// Nothing above wrote anything.
	if items := c.get("/apis/apps/v1/deployments").json(t)["items"].([]any); len(items) != 0 {
		t.Errorf("bad requests wrote %d deployments", len(items))
	}
	// A 422 names the field at fault.
	st := c.post(deployments, strings.Replace(seedDeployment, `"replicas":3`, `"replicas":-1`, 1)).json(t)
	if dig(st, "details", "causes", 0, "field") != "spec.replicas" {
		t.Errorf("causes = %v", dig(st, "details", "causes"))
	}
	// No client certificate: 401, except for health checks.
	anon := anonymousClient(t, s)
	anon.get("/api/v1/pods").must(t, http.StatusUnauthorized)
	anon.get("/healthz").must(t, http.StatusOK)
	anon.get("/readyz").must(t, http.StatusOK)
}

func TestStatusSubresourceAndGeneration(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post(deployments, strings.Replace(seedDeployment, `"spec":{`, `"status":{"replicas":7},"spec":{`, 1)).must(t, http.StatusCreated)
	d := c.get(deployments + "/example-deployment").json(t)
	if dig(d, "status", "replicas") != nil {
		t.Errorf("create kept a client-set status: %v", d["status"])
	}
	// Writing status through the main resource changes nothing there.
	d["status"] = map[string]any{"replicas": 3}
	b, _ := json.Marshal(d)
	out := c.put(deployments+"/example-deployment", string(b)).must(t, http.StatusOK).json(t)
	if dig(out, "status", "replicas") != nil || dig(out, "metadata", "generation") != float64(1) {
		t.Errorf("main resource wrote status or bumped generation: %v %v", out["status"], out["metadata"])
	}
	// The status subresource writes status and nothing else.
	out["status"] = map[string]any{"replicas": 3, "observedGeneration": 1}
	out["spec"].(map[string]any)["replicas"] = 9
	b, _ = json.Marshal(out)
	st := c.put(deployments+"/example-deployment/status", string(b)).must(t, http.StatusOK).json(t)
	if dig(st, "status", "replicas") != float64(3) || dig(st, "spec", "replicas") != float64(3) {
		t.Errorf("status update: status=%v spec.replicas=%v", st["status"], dig(st, "spec", "replicas"))
	}
}

func TestBindingScaleAndGracefulDelete(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post(pods, podJSON("web-0", "")).must(t, http.StatusCreated)
	bind := `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web-0"},"target":{"kind":"Node","name":"node-2"}}`
	c.post(pods+"/web-0/binding", bind).must(t, http.StatusCreated)
	pod := c.get(pods + "/web-0").json(t)
	if dig(pod, "spec", "nodeName") != "node-2" || dig(pod, "status", "conditions", 0, "type") != "PodScheduled" {
		t.Errorf("binding did not take: %v %v", pod["spec"], pod["status"])
	}
	st := c.post(pods+"/web-0/binding", bind).must(t, http.StatusConflict).json(t)
	if !strings.Contains(str(st["message"]), "already assigned") {
		t.Errorf("rebind: %v", st["message"])
	}
	pods2 := c.get(pods + "?fieldSelector=spec.nodeName%3Dnode-2").json(t)
	if len(pods2["items"].([]any)) != 1 {
		t.Errorf("field selector spec.nodeName found %v", pods2["items"])
	}

	// Graceful deletion of a bound pod: it stays with a deletionTimestamp until the kubelet
	// (here the test) confirms with grace period 0.
	r := c.del(pods+"/web-0").must(t, http.StatusOK).json(t)
	if dig(r, "metadata", "deletionTimestamp") == nil || dig(r, "metadata", "deletionGracePeriodSeconds") != float64(30) {
		t.Fatalf("graceful delete: %v", r["metadata"])
	}
	c.get(pods+"/web-0").must(t, http.StatusOK)
	c.do("DELETE", pods+"/web-0?gracePeriodSeconds=0", "", "").must(t, http.StatusOK)
	c.get(pods+"/web-0").must(t, http.StatusNotFound)

	// An unbound pod goes at once.
	c.post(pods, podJSON("web-1", "")).must(t, http.StatusCreated)
	c.del(pods+"/web-1").must(t, http.StatusOK)
	c.get(pods+"/web-1").must(t, http.StatusNotFound)

	// Scale.
	c.post(deployments, seedDeployment).must(t, http.StatusCreated)
	sc := c.get(deployments+"/example-deployment/scale").must(t, http.StatusOK).json(t)
	if sc["kind"] != "Scale" || sc["apiVersion"] != "autoscaling/v1" || dig(sc, "spec", "replicas") != float64(3) || dig(sc, "status", "selector") != "app=example" {
		t.Errorf("scale = %v", sc)
	}
	c.put(deployments+"/example-deployment/scale", `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"example-deployment"},"spec":{"replicas":10}}`).must(t, http.StatusOK)
	c.do("PATCH", deployments+"/example-deployment/scale", "application/merge-patch+json", `{"spec":{"replicas":4}}`).must(t, http.StatusOK)
	if r := dig(c.get(deployments+"/example-deployment").json(t), "spec", "replicas"); r != float64(4) {
		t.Errorf("replicas after scale = %v", r)
	}
}

func TestFinalizersAndPropagation(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post(pods, podJSON("held", `,"finalizers":["kubelab.io/hold"]`)).must(t, http.StatusCreated)
	r := c.del(pods + "/held").json(t)
	if dig(r, "metadata", "deletionTimestamp") == nil {
		t.Fatalf("finalized object lost its deletionTimestamp: %v", r["metadata"])
	}
	// Removing the last finalizer completes the deletion.
	c.do("PATCH", pods+"/held", "application/merge-patch+json", `{"metadata":{"finalizers":null}}`).must(t, http.StatusOK)
	c.get(pods+"/held").must(t, http.StatusNotFound)

	// Orphan and foreground propagation leave the object for the garbage collector.
	c.post(deployments, seedDeployment).must(t, http.StatusCreated)
	r = c.do("DELETE", deployments+"/example-deployment", "application/json", `{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"}`).json(t)
	if fs := dig(r, "metadata", "finalizers"); fs == nil || fs.([]any)[0] != "foregroundDeletion" {
		t.Errorf("foreground delete finalizers = %v", fs)
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		c.get("/api/v1/namespaces/"+ns).must(t, http.StatusOK)
	}
	c.del("/api/v1/namespaces/default").must(t, http.StatusForbidden)
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}}`).must(t, http.StatusCreated)
	c.post("/api/v1/namespaces/team-a/pods", podJSON("p", "")).must(t, http.StatusCreated)
	ns := c.del("/api/v1/namespaces/team-a").json(t)
	if dig(ns, "status", "phase") != "Terminating" {
		t.Fatalf("deleted namespace: %v", ns["status"])
	}
	st := c.post("/api/v1/namespaces/team-a/pods", podJSON("q", "")).must(t, http.StatusForbidden).json(t)
	if !strings.Contains(str(st["message"]), "being terminated") {
		t.Errorf("message = %v", st["message"])
	}
}

func TestSelectorsAndPaging(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	for i := 0; i < 7; i++ {
		labels := fmt.Sprintf(`,"labels":{"app":"web","idx":"%d"}`, i)
		body := strings.Replace(podJSON(fmt.Sprintf("p%d", i), ""), `,"labels":{"app":"web"}`, labels, 1)
		c.post(pods, body).must(t, http.StatusCreated)
	}
	l := c.get(pods + "?labelSelector=idx%20in%20(1,3,5)").json(t)
	if n := len(l["items"].([]any)); n != 3 {
		t.Errorf("label selector matched %d", n)
	}
	var names []string
	cont := ""
	for page := 0; ; page++ {
		l := c.get(pods+"?limit=3&continue="+cont).must(t, http.StatusOK).json(t)
		for _, it := range l["items"].([]any) {
			names = append(names, str(dig(it, "metadata", "name")))
		}
		cont = str(dig(l, "metadata", "continue"))
		if cont == "" {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(names, ",") != "p0,p1,p2,p3,p4,p5,p6" {
		t.Errorf("pages gave %v", names)
	}
}

func TestWatch(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	first := c.post(pods, podJSON("w0", "")).must(t, http.StatusCreated).json(t)
	rv := str(dig(first, "metadata", "resourceVersion"))

	req, _ := http.NewRequest("GET", c.base+pods+"?watch=1&resourceVersion="+rv, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("watch answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan map[string]any, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
		close(events)
	}()
	c.post(pods, podJSON("w1", "")).must(t, http.StatusCreated)
	c.do("PATCH", pods+"/w1", "application/merge-patch+json", `{"metadata":{"labels":{"x":"y"}}}`).must(t, http.StatusOK)
	c.del(pods+"/w1").must(t, http.StatusOK)
	want := []string{"ADDED w1", "MODIFIED w1", "DELETED w1"}
	for _, w := range want {
		select {
		case ev := <-events:
			got := fmt.Sprintf("%s %s", ev["type"], dig(ev, "object", "metadata", "name"))
			if got != w {
				t.Fatalf("event %q, want %q", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event %q", w)
		}
	}
}

func TestConcurrentReadModifyWrite(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post(deployments, strings.Replace(seedDeployment, `"name":"example-deployment"`, `"name":"counter","annotations":{"count":"0"}`, 1)).must(t, http.StatusCreated)
	const clients = 100
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; attempt < 1000; attempt++ {
				r := c.get(deployments + "/counter")
				d := r.json(t)
				ann := dig(d, "metadata", "annotations").(map[string]any)
				var n int
				fmt.Sscan(str(ann["count"]), &n)
				ann["count"] = fmt.Sprint(n + 1)
				b, _ := json.Marshal(d)
				u := c.put(deployments+"/counter", string(b))
				switch u.code {
				case http.StatusOK:
					return
				case http.StatusConflict:
					continue // retry on conflict, as client-go's RetryOnConflict
				default:
					errs <- fmt.Sprintf("update: %d %s", u.code, u.body)
					return
				}
			}
			errs <- "gave up"
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	got := dig(c.get(deployments+"/counter").json(t), "metadata", "annotations", "count")
	if got != fmt.Sprint(clients) {
		t.Fatalf("count = %v after %d increments: updates were lost", got, clients)
	}
}

func TestDiscoveryAndMetrics(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	if v := c.get("/api").must(t, 200).json(t); dig(v, "versions", 0) != "v1" {
		t.Errorf("/api = %v", v)
	}
	g := c.get("/apis").must(t, 200).json(t)
	var groups []string
	for _, it := range g["groups"].([]any) {
		groups = append(groups, str(dig(it, "name")))
	}
	if strings.Join(groups, ",") != "admissionregistration.k8s.io,apps,authentication.k8s.io,authorization.k8s.io,batch,coordination.k8s.io,discovery.k8s.io,policy,rbac.authorization.k8s.io,scheduling.k8s.io,storage.k8s.io" {
		t.Errorf("groups = %v", groups)
	}
	rl := c.get("/apis/apps/v1").must(t, 200).json(t)
	found := map[string]bool{}
	for _, r := range rl["resources"].([]any) {
		found[str(dig(r, "name"))] = true
	}
	for _, want := range []string{"deployments", "deployments/status", "deployments/scale", "replicasets"} {
		if !found[want] {
			t.Errorf("/apis/apps/v1 lacks %s", want)
		}
	}
	if v := c.get("/version").must(t, 200).json(t); v["major"] != "1" {
		t.Errorf("/version = %v", v)
	}
	m := string(c.get("/metrics").must(t, 200).body)
	for _, want := range []string{`apiserver_request_total{code="200",group="apps",resource="",subresource="",verb="get"}`, "apiserver_request_duration_seconds_bucket"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestYAMLBodies(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	y, err := os.ReadFile("../../../deploy/examples/nginx-deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.do("POST", deployments, "application/yaml", string(y)).must(t, http.StatusCreated)
	req, _ := http.NewRequest("GET", c.base+deployments+"/example-deployment", nil)
	req.Header.Set("Accept", "application/yaml")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/yaml" {
		t.Errorf("Accept: application/yaml answered %s", resp.Header.Get("Content-Type"))
	}
}

func TestEviction(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post(pods, podJSON("web-0", "")).must(t, http.StatusCreated)
	c.post(pods+"/web-0/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web-0"},"target":{"kind":"Node","name":"node-1"}}`).must(t, http.StatusCreated)

	// Discovery names the subresource with policy/v1's Eviction: kubectl drain looks for it.
	var found bool
	for _, r := range c.get("/api/v1").must(t, http.StatusOK).json(t)["resources"].([]any) {
		r := r.(map[string]any)
		if r["name"] == "pods/eviction" {
			found = r["group"] == "policy" && r["version"] == "v1" && r["kind"] == "Eviction"
		}
	}
	if !found {
		t.Error("discovery lacks pods/eviction as policy/v1 Eviction")
	}

	eviction := func(name string) string {
		return `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"` + name + `","namespace":"default"}}`
	}
	st := c.post(pods+"/web-0/eviction", eviction("web-1")).must(t, http.StatusBadRequest).json(t)
	if !strings.Contains(str(st["message"]), "does not match") {
		t.Errorf("mismatched name: %v", st["message"])
	}
	c.get(pods+"/web-0").must(t, http.StatusOK) // a refused eviction deletes nothing
	c.post(pods+"/nope/eviction", eviction("nope")).must(t, http.StatusNotFound)

	// An eviction is a graceful delete: the bound pod gets its deletionTimestamp and the
	// pod's own grace period, and the answer is a Success Status.
	st = c.post(pods+"/web-0/eviction", eviction("web-0")).must(t, http.StatusCreated).json(t)
	if st["kind"] != "Status" || st["status"] != "Success" {
		t.Errorf("eviction answer = %v", st)
	}
	pod := c.get(pods+"/web-0").must(t, http.StatusOK).json(t)
	if dig(pod, "metadata", "deletionTimestamp") == nil || dig(pod, "metadata", "deletionGracePeriodSeconds") != float64(30) {
		t.Errorf("evicted pod metadata = %v", pod["metadata"])
	}
	// Before the delete, the pod was marked as upstream marks it, for its controllers.
	var marked bool
	for _, cond := range dig(pod, "status", "conditions").([]any) {
		cond := cond.(map[string]any)
		if cond["type"] == "DisruptionTarget" {
			marked = cond["status"] == "True" && cond["reason"] == "EvictionByEvictionAPI" && cond["message"] == "Eviction API: evicting" && cond["lastTransitionTime"] != nil
		}
	}
	if !marked {
		t.Errorf("evicted pod's conditions = %v, want DisruptionTarget True (EvictionByEvictionAPI)", dig(pod, "status", "conditions"))
	}
	// deleteOptions are honoured: grace period 0 removes it at once.
	c.post(pods+"/web-0/eviction", `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-0"},"deleteOptions":{"gracePeriodSeconds":0}}`).must(t, http.StatusCreated)
	c.get(pods+"/web-0").must(t, http.StatusNotFound)
}

// TestDryRunWritesNothing: every write path honours dryRun=All (it runs admission and
// validation, answers as if written, and stores nothing), and any other dryRun value is
// refused rather than taken as a real write.
func TestDryRunWritesNothing(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post(deployments, seedDeployment).must(t, http.StatusCreated)
	c.post(pods, podJSON("web-0", "")).must(t, http.StatusCreated)
	rvOf := func(path string) any {
		return dig(c.get(path).must(t, http.StatusOK).json(t), "metadata", "resourceVersion")
	}
	deployRV, podRV := rvOf(deployments+"/example-deployment"), rvOf(pods+"/web-0")

	// Create, main-resource update and patch, scale (PUT and PATCH), binding, eviction, delete.
	c.post(pods+"?dryRun=All", podJSON("ghost", "")).must(t, http.StatusCreated)
	c.get(pods+"/ghost").must(t, http.StatusNotFound)
	c.do("PATCH", deployments+"/example-deployment?dryRun=All", "application/merge-patch+json", `{"metadata":{"labels":{"x":"y"}}}`).must(t, http.StatusOK)
	sc := c.put(deployments+"/example-deployment/scale?dryRun=All", `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"example-deployment"},"spec":{"replicas":7}}`).must(t, http.StatusOK).json(t)
	if dig(sc, "spec", "replicas") != float64(7) {
		t.Errorf("dry-run scale answered %v, want the scale as it would be", sc["spec"])
	}
	c.do("PATCH", deployments+"/example-deployment/scale?dryRun=All", "application/merge-patch+json", `{"spec":{"replicas":9}}`).must(t, http.StatusOK)
	c.post(pods+"/web-0/binding?dryRun=All", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web-0"},"target":{"kind":"Node","name":"node-1"}}`).must(t, http.StatusCreated)
	c.post(pods+"/web-0/eviction?dryRun=All", `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-0"},"deleteOptions":{"gracePeriodSeconds":0}}`).must(t, http.StatusCreated)
	c.do("DELETE", pods+"/web-0?dryRun=All", "", "").must(t, http.StatusOK)

	d := c.get(deployments+"/example-deployment").must(t, http.StatusOK).json(t)
	if dig(d, "spec", "replicas") != float64(3) || dig(d, "metadata", "labels", "x") != nil || dig(d, "metadata", "resourceVersion") != deployRV {
		t.Errorf("a dry run changed the deployment: %v %v", d["metadata"], d["spec"])
	}
	p := c.get(pods+"/web-0").must(t, http.StatusOK).json(t)
	if dig(p, "spec", "nodeName") != nil || dig(p, "metadata", "deletionTimestamp") != nil || dig(p, "metadata", "resourceVersion") != podRV {
		t.Errorf("a dry run changed the pod: %v %v", p["metadata"], p["spec"])
	}

	// Only "All" exists; anything else is a 422 naming dryRun, and nothing is written.
	st := c.post(pods+"?dryRun=true", podJSON("real", "")).must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), `dryRun: Unsupported value`) || !strings.Contains(str(st["message"]), `supported values: "All"`) {
		t.Errorf("bogus dryRun: %v", st["message"])
	}
	c.get(pods+"/real").must(t, http.StatusNotFound)
	c.do("DELETE", pods+"/web-0?dryRun=yes", "", "").must(t, http.StatusUnprocessableEntity)
	c.do("DELETE", pods+"/web-0", "application/json", `{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["Some"]}`).must(t, http.StatusUnprocessableEntity)
	c.get(pods+"/web-0").must(t, http.StatusOK)
}

// TestPodQOSClassOnCreate: the apiserver records a new pod's QoS class, as Kubernetes does,
// before any kubelet reports it.
func TestPodQOSClassOnCreate(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	for name, tc := range map[string]struct{ resources, want string }{
		"none":       {``, "BestEffort"},
		"requests":   {`,"resources":{"requests":{"cpu":"100m"}}`, "Burstable"},
		"limitsonly": {`,"resources":{"limits":{"cpu":"1","memory":"64Mi"}}`, "Guaranteed"},
	} {
		body := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"},"spec":{"containers":[{"name":"c","image":"nginx:1.14.2"` + tc.resources + `}]}}`
		v := c.post(pods, body).must(t, http.StatusCreated).json(t)
		if got := str(dig(v, "status", "qosClass")); got != tc.want {
			t.Errorf("%s: qosClass = %q, want %q", name, got, tc.want)
		}
	}
}
