package server

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitRanger(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/namespaces/default/limitranges", `{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"limits"},
		"spec":{"limits":[{"type":"Container","default":{"cpu":"500m","memory":"256Mi"},"defaultRequest":{"cpu":"100m","memory":"64Mi"},"max":{"cpu":"1"}}]}}`).must(t, 201)
	eventually(t, "the LimitRange to be seen", func() bool {
		r := c.post(pods+"?dryRun=All", podJSON("probe", "")).must(t, 201)
		return dig(r.json(t), "spec", "containers", 0, "resources", "limits", "cpu") == "500m"
	})
	v := c.post(pods, podJSON("web-0", "")).must(t, 201).json(t)
	res := dig(v, "spec", "containers", 0, "resources")
	if dig(res, "limits", "cpu") != "500m" || dig(res, "limits", "memory") != "256Mi" ||
		dig(res, "requests", "cpu") != "100m" || dig(res, "requests", "memory") != "64Mi" {
		t.Errorf("resources = %v", res)
	}
	if a := str(dig(v, "metadata", "annotations", "kubernetes.io/limit-ranger")); a != "LimitRanger plugin set: cpu, memory request; cpu, memory limit for container c" {
		t.Errorf("annotation = %q", a)
	}
	// The QoS class is the one of the pod as admitted: LimitRanger's defaults made it
	// Burstable, not the BestEffort it was sent as.
	if q := str(dig(v, "status", "qosClass")); q != "Burstable" {
		t.Errorf("qosClass = %q, want Burstable", q)
	}
	// What a pod states is kept; bounds are enforced.
	own := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"own"},"spec":{"containers":[{"name":"c","image":"nginx:1.14.2","resources":{"limits":{"cpu":"200m"}}}]}}`
	v = c.post(pods, own).must(t, 201).json(t)
	if got := dig(v, "spec", "containers", 0, "resources", "limits", "cpu"); got != "200m" {
		t.Errorf("own limit = %v", got)
	}
	big := strings.Replace(own, `"200m"`, `"2"`, 1)
	big = strings.Replace(big, `"own"`, `"big"`, 1)
	r := c.post(pods, big).must(t, 403)
	if msg := str(r.json(t)["message"]); msg != `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2` {
		t.Errorf("message = %q", msg)
	}
}

func TestResourceQuota(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"q"}}`).must(t, 201)
	qpods := "/api/v1/namespaces/q/pods"
	c.post(qpods, podJSON("before", "")).must(t, 201)
	v := c.post("/api/v1/namespaces/q/resourcequotas", `{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"compute"},"spec":{"hard":{"pods":"20"}}}`).must(t, 201).json(t)
	if dig(v, "status", "used", "pods") != "1" || dig(v, "status", "hard", "pods") != "20" {
		t.Errorf("status on create = %v", dig(v, "status"))
	}
	// The plugin finds quotas in the watch cache (resourceVersion=0), as this list does.
	eventually(t, "the quota to be in the watch cache", func() bool {
		return len(c.get("/api/v1/namespaces/q/resourcequotas?resourceVersion=0").must(t, 200).json(t)["items"].([]any)) == 1
	})

	// 50 concurrent creates against 19 free slots: exactly 19 succeed.
	const n = 50
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	var firstRefusal atomic.Value
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.post(qpods, podJSON(fmt.Sprintf("p-%d", i), ""))
			switch r.code {
			case 201:
				ok.Add(1)
			case 403:
				refused.Add(1)
				firstRefusal.CompareAndSwap(nil, str(r.json(t)["message"]))
			default:
				t.Errorf("create = %d: %s", r.code, r.body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 19 || refused.Load() != n-19 {
		t.Fatalf("created %d, refused %d; want 19 and %d", ok.Load(), refused.Load(), n-19)
	}
	list := c.get(qpods).must(t, 200).json(t)
	if got := len(list["items"].([]any)); got != 20 {
		t.Errorf("%d pods exist, quota is 20", got)
	}
	q := c.get("/api/v1/namespaces/q/resourcequotas/compute").must(t, 200).json(t)
	if dig(q, "status", "used", "pods") != "20" {
		t.Errorf("status.used = %v", dig(q, "status", "used"))
	}
	r := c.post(qpods, podJSON("one-more", "")).must(t, 403)
	want := `pods "one-more" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=20, limited: pods=20`
	if msg := str(r.json(t)["message"]); msg != want {
		t.Errorf("message = %q\nwant      %q", msg, want)
	}
	if m, _ := firstRefusal.Load().(string); !strings.Contains(m, "exceeded quota: compute, requested: pods=1, used: pods=20, limited: pods=20") {
		t.Errorf("concurrent refusal = %q", m)
	}

	// Compute quotas need the resources stated, and count them.
	c.post("/api/v1/namespaces/default/resourcequotas", `{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"cpu"},"spec":{"hard":{"requests.cpu":"1"}}}`).must(t, 201)
	eventually(t, "the cpu quota to be seen", func() bool { return c.post(pods+"?dryRun=All", podJSON("probe", "")).code == 403 })
	r = c.post(pods, podJSON("no-requests", "")).must(t, 403)
	if msg := str(r.json(t)["message"]); msg != `pods "no-requests" is forbidden: failed quota: cpu: must specify requests.cpu` {
		t.Errorf("message = %q", msg)
	}
	withCPU := func(name, cpu string) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"},"spec":{"containers":[{"name":"c","image":"nginx:1.14.2","resources":{"requests":{"cpu":"` + cpu + `"}}}]}}`
	}
	c.post(pods, withCPU("a", "600m")).must(t, 201)
	r = c.post(pods, withCPU("b", "500m")).must(t, 403)
	if msg := str(r.json(t)["message"]); msg != `pods "b" is forbidden: exceeded quota: cpu, requested: requests.cpu=500m, used: requests.cpu=600m, limited: requests.cpu=1` {
		t.Errorf("message = %q", msg)
	}
	c.post(pods, withCPU("c", "400m")).must(t, 201)
}

// webhookServer is an HTTPS admission webhook whose handler the test chooses.
type webhookServer struct {
	*httptest.Server
	caBundle string
}

func newWebhookServer(t *testing.T, handle func(req map[string]any) map[string]any) *webhookServer {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review map[string]any
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		req := review["request"].(map[string]any)
		resp := handle(req)
		resp["uid"] = req["uid"]
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
	}))
	srv.TLS = &tls.Config{}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &webhookServer{Server: srv, caBundle: base64.StdEncoding.EncodeToString(ca)}
}

func webhookConfig(kind, name, url, caBundle, policy string, timeout int, extra string) string {
	return fmt.Sprintf(`{"apiVersion":"admissionregistration.k8s.io/v1","kind":%q,"metadata":{"name":%q},"webhooks":[{
		"name":"%s.kubelab.io","clientConfig":{"url":%q,"caBundle":%q},
		"rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"]}],
		"failurePolicy":%q,"timeoutSeconds":%d,"sideEffects":"None","admissionReviewVersions":["v1"]%s}]}`,
		kind, name, name, url, caBundle, policy, timeout, extra)
}

func TestAdmissionWebhooks(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	const mutating = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
	const validating = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"

	var seenUser, seenDryRun atomic.Value
	labeler := newWebhookServer(t, func(req map[string]any) map[string]any {
		seenUser.Store(dig(req, "userInfo", "username"))
		seenDryRun.Store(dig(req, "dryRun"))
		patch := `[{"op":"add","path":"/metadata/labels/mutated","value":"yes"}]`
		return map[string]any{"allowed": true, "patchType": "JSONPatch", "patch": base64.StdEncoding.EncodeToString([]byte(patch))}
	})
	denier := newWebhookServer(t, func(req map[string]any) map[string]any {
		if dig(req, "object", "metadata", "labels", "mutated") != "yes" {
			return map[string]any{"allowed": false, "status": map[string]any{"message": "not mutated first"}}
		}
		if strings.HasPrefix(str(dig(req, "object", "metadata", "name")), "bad-") {
			return map[string]any{"allowed": false, "status": map[string]any{"code": 403, "message": "pods named bad-* are not welcome"}}
		}
		return map[string]any{"allowed": true}
	})
	c.post(mutating, webhookConfig("MutatingWebhookConfiguration", "labeler", labeler.URL, labeler.caBundle, "Fail", 5, "")).must(t, 201)
	v := c.post(validating, webhookConfig("ValidatingWebhookConfiguration", "denier", denier.URL, denier.caBundle, "Fail", 5,
		`,"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"default"}}`)).must(t, 201).json(t)
	if dig(v, "webhooks", 0, "matchPolicy") != "Equivalent" || dig(v, "webhooks", 0, "rules", 0, "scope") != "*" {
		t.Errorf("defaults = %v", v)
	}

	var created map[string]any
	eventually(t, "the webhooks to be seen", func() bool {
		r := c.post(pods, podJSON(fmt.Sprintf("probe-%d", time.Now().UnixNano()), ""))
		if r.code == 201 {
			created = r.json(t)
		}
		return r.code == 201 && dig(created, "metadata", "labels", "mutated") == "yes"
	})
	if dig(created, "metadata", "labels", "app") != "web" {
		t.Errorf("labels = %v", dig(created, "metadata", "labels"))
	}
	if seenUser.Load() != "kubernetes-admin" && seenUser.Load() == "" {
		t.Errorf("webhook saw user %v", seenUser.Load())
	}
	if seenDryRun.Load() != false {
		t.Errorf("a real create told the webhook dryRun=%v", seenDryRun.Load())
	}
	// A dry run is one for the webhooks too (their sideEffects is None, so they are called).
	c.post(pods+"?dryRun=All", podJSON("rehearsal", "")).must(t, 201)
	if seenDryRun.Load() != true {
		t.Errorf("a dry-run create told the webhook dryRun=%v", seenDryRun.Load())
	}
	r := c.post(pods, podJSON("bad-1", "")).must(t, 403)
	if msg := str(r.json(t)["message"]); msg != `admission webhook "denier.kubelab.io" denied the request: pods named bad-* are not welcome` {
		t.Errorf("message = %q", msg)
	}
	// The namespace selector: other namespaces are not sent to the validating webhook.
	c.post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"other"}}`).must(t, 201)
	c.post("/api/v1/namespaces/other/pods", podJSON("bad-2", "")).must(t, 201)

	// A webhook that is down: Fail refuses, Ignore skips.
	down := newWebhookServer(t, func(map[string]any) map[string]any { return map[string]any{"allowed": true} })
	downURL, downCA := down.URL, down.caBundle
	down.Close()
	c.del(validating+"/denier").must(t, 200)
	c.post(validating, webhookConfig("ValidatingWebhookConfiguration", "down", downURL, downCA, "Fail", 2, "")).must(t, 201)
	eventually(t, "the down webhook to fail closed", func() bool {
		r = c.post(pods, podJSON(fmt.Sprintf("x-%d", time.Now().UnixNano()), ""))
		return r.code == 500
	})
	if msg := str(r.json(t)["message"]); !strings.Contains(msg, `failed calling webhook "down.kubelab.io"`) {
		t.Errorf("message = %q", msg)
	}
	c.del(validating+"/down").must(t, 200)
	c.post(validating, webhookConfig("ValidatingWebhookConfiguration", "down", downURL, downCA, "Ignore", 2, "")).must(t, 201)
	eventually(t, "the down webhook to be ignored", func() bool {
		return c.post(pods, podJSON(fmt.Sprintf("y-%d", time.Now().UnixNano()), "")).code == 201
	})

	// A slow webhook times out after timeoutSeconds.
	release := make(chan struct{})
	slow := newWebhookServer(t, func(map[string]any) map[string]any {
		<-release
		return map[string]any{"allowed": true}
	})
	defer close(release)
	c.del(validating+"/down").must(t, 200)
	c.post(validating, webhookConfig("ValidatingWebhookConfiguration", "slow", slow.URL, slow.caBundle, "Fail", 1, "")).must(t, 201)
	eventually(t, "the slow webhook to time out", func() bool {
		start := time.Now()
		r = c.post(pods, podJSON(fmt.Sprintf("z-%d", time.Now().UnixNano()), ""))
		if r.code == 201 {
			return false
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
			t.Errorf("refused after %v, want about 1s", d)
		}
		return true
	})
	if msg := str(r.json(t)["message"]); !strings.Contains(msg, "deadline exceeded") && !strings.Contains(msg, "Timeout") {
		t.Errorf("message = %q", msg)
	}
}
