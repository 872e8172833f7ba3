package server

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"kubelab.io/apiserver/internal/registry/servicealloc"
)

func serviceJSON(name, spec string) string {
	return `{"apiVersion":"v1","kind":"Service","metadata":{"name":"` + name + `"},"spec":` + spec + `}`
}

// claims reads the allocation keys straight from etcd: what the apiserver holds.
func claims(t *testing.T, s *Server, prefix string) map[string]string {
	t.Helper()
	resp, err := s.EtcdClient().Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
	}
	return out
}

// TestServiceAllocation: cluster IPs and node ports are allocated on create, checked when
// asked for, moved on type changes and released on delete, each held by exactly one
// service even under 50 concurrent creates, and still so after a restart.
func TestServiceAllocation(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)

	// The kubernetes service has the first address; its claim is recorded.
	k := c.get(services+"/kubernetes").must(t, http.StatusOK).json(t)
	if dig(k, "spec", "clusterIP") != "10.96.0.1" || dig(k, "spec", "ports", 0, "name") != "https" || dig(k, "spec", "ports", 0, "port") != float64(443) {
		t.Errorf("kubernetes service = %v", k["spec"])
	}
	if got := claims(t, s, servicealloc.IPPrefix)["10.96.0.1"]; got != "default/kubernetes" {
		t.Errorf("claim of 10.96.0.1 = %q", got)
	}

	// 50 concurrent creates get 50 distinct addresses, from the upper band.
	const n = 50
	var wg sync.WaitGroup
	ips := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.post(services, serviceJSON(fmt.Sprintf("s%d", i), `{"type":"NodePort","ports":[{"port":80}]}`))
			if r.code != http.StatusCreated {
				t.Errorf("create s%d: %d %s", i, r.code, r.body)
				return
			}
			obj := r.json(t)
			ips[i] = str(dig(obj, "spec", "clusterIP")) + " " + fmt.Sprint(dig(obj, "spec", "nodePort"), dig(obj, "spec", "ports", 0, "nodePort"))
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ipPort := range ips {
		ip, port, _ := strings.Cut(ipPort, " ")
		if seen[ip] || seen[port] {
			t.Errorf("%s given twice", ipPort)
		}
		seen[ip], seen[port] = true, true
		if strings.HasPrefix(ip, "10.96.0.") {
			t.Errorf("dynamic address %s from the band kept for requested ones", ip)
		}
	}
	if got := len(claims(t, s, servicealloc.IPPrefix)); got != n+1 {
		t.Errorf("%d IP claims, want %d", got, n+1)
	}
	if got := len(claims(t, s, servicealloc.NodePortPrefix)); got != n {
		t.Errorf("%d node port claims, want %d", got, n)
	}

	// A requested address: free, taken, out of range, headless.
	c.post(services, serviceJSON("dns", `{"clusterIP":"10.96.0.10","ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53}]}`)).must(t, http.StatusCreated)
	st := c.post(services, serviceJSON("dns2", `{"clusterIP":"10.96.0.10","ports":[{"port":53}]}`)).must(t, http.StatusUnprocessableEntity).json(t)
	if want := `Service "dns2" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.10"]: failed to allocate IP 10.96.0.10: provided IP is already allocated`; str(st["message"]) != want {
		t.Errorf("message = %q\nwant      %q", st["message"], want)
	}
	if dig(st, "details", "causes", 0, "field") != "spec.clusterIPs" {
		t.Errorf("causes = %v", dig(st, "details", "causes"))
	}
	st = c.post(services, serviceJSON("far", `{"clusterIP":"10.0.0.10","ports":[{"port":53}]}`)).must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "the provided IP (10.0.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/12") {
		t.Errorf("out of range: %q", st["message"])
	}
	h := c.post(services, serviceJSON("headless", `{"clusterIP":"None","selector":{"app":"db"},"ports":[{"port":5432}]}`)).must(t, http.StatusCreated).json(t)
	if dig(h, "spec", "clusterIPs", 0) != "None" || dig(h, "spec", "ipFamilyPolicy") != "SingleStack" || dig(h, "spec", "ipFamilies", 0) != "IPv4" {
		t.Errorf("headless spec = %v", h["spec"])
	}

	// A requested node port: taken, out of range; TCP and UDP of one port share one.
	np := c.post(services, serviceJSON("np", `{"type":"NodePort","ports":[{"name":"a","port":53,"protocol":"UDP","nodePort":30053},{"name":"b","port":53}]}`)).
		must(t, http.StatusCreated).json(t)
	if dig(np, "spec", "ports", 1, "nodePort") != float64(30053) {
		t.Errorf("TCP 53 got node port %v, want UDP's 30053", dig(np, "spec", "ports", 1, "nodePort"))
	}
	st = c.post(services, serviceJSON("np2", `{"type":"NodePort","ports":[{"port":80,"nodePort":30053}]}`)).must(t, http.StatusUnprocessableEntity).json(t)
	if want := `Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30053: provided port is already allocated`; str(st["message"]) != want {
		t.Errorf("message = %q\nwant      %q", st["message"], want)
	}
	st = c.post(services, serviceJSON("np3", `{"type":"NodePort","ports":[{"port":80,"nodePort":80}]}`)).must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "provided port is not in the valid range. The range of valid ports is 30000-32767") {
		t.Errorf("out of range port: %q", st["message"])
	}

	// Type changes: NodePort → ClusterIP releases the node port and keeps the address;
	// → ExternalName releases the address; back to ClusterIP gets a new one.
	ip := str(dig(np, "spec", "clusterIP"))
	c.do("PATCH", services+"/np", "application/merge-patch+json", `{"spec":{"type":"ClusterIP"}}`).must(t, http.StatusOK)
	if _, held := claims(t, s, servicealloc.NodePortPrefix)["30053"]; held {
		t.Error("node port 30053 still held after the type change")
	}
	en := c.do("PATCH", services+"/np", "application/merge-patch+json", `{"spec":{"type":"ExternalName","externalName":"example.com"}}`).
		must(t, http.StatusOK).json(t)
	if dig(en, "spec", "clusterIP") != nil || dig(en, "spec", "ipFamilies") != nil {
		t.Errorf("ExternalName spec = %v", en["spec"])
	}
	if _, held := claims(t, s, servicealloc.IPPrefix)[ip]; held {
		t.Errorf("%s still held by an ExternalName service", ip)
	}
	back := c.do("PATCH", services+"/np", "application/merge-patch+json", `{"spec":{"type":"ClusterIP","externalName":null}}`).must(t, http.StatusOK).json(t)
	if newIP := str(dig(back, "spec", "clusterIP")); newIP == "" || claims(t, s, servicealloc.IPPrefix)[newIP] != "default/np" {
		t.Errorf("back to ClusterIP: %v", back["spec"])
	}
	// The cluster IP cannot change.
	st = c.do("PATCH", services+"/dns", "application/merge-patch+json", `{"spec":{"clusterIP":"10.96.0.11","clusterIPs":["10.96.0.11"]}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "spec.clusterIP: Invalid value: \"10.96.0.11\": field is immutable") {
		t.Errorf("clusterIP change: %q", st["message"])
	}
	// A replace without the allocated values keeps them.
	cur := c.get(services+"/s0").must(t, http.StatusOK).json(t)
	rv := str(dig(cur, "metadata", "resourceVersion"))
	rep := c.put(services+"/s0", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s0","resourceVersion":"`+rv+`"},"spec":{"type":"NodePort","ports":[{"port":80}]}}`).
		must(t, http.StatusOK).json(t)
	if dig(rep, "spec", "clusterIP") != dig(cur, "spec", "clusterIP") || dig(rep, "spec", "ports", 0, "nodePort") != dig(cur, "spec", "ports", 0, "nodePort") {
		t.Errorf("replace lost allocations: %v, was %v", rep["spec"], cur["spec"])
	}

	// Deletes release.
	for i := range n {
		c.del(fmt.Sprintf("%s/s%d", services, i)).must(t, http.StatusOK)
	}
	if got := len(claims(t, s, servicealloc.NodePortPrefix)); got != 0 {
		t.Errorf("%d node port claims after the deletes: %v", got, claims(t, s, servicealloc.NodePortPrefix))
	}
	want := map[string]bool{"10.96.0.1": true, "10.96.0.10": true, str(dig(back, "spec", "clusterIP")): true}
	got := claims(t, s, servicealloc.IPPrefix)
	if len(got) != len(want) {
		t.Errorf("IP claims after the deletes = %v", got)
	}

	// After a restart, what is held stays held.
	s = restart(t, s)
	c = adminClient(t, s)
	c.post(services, serviceJSON("dns3", `{"clusterIP":"10.96.0.10","ports":[{"port":53}]}`)).must(t, http.StatusUnprocessableEntity)
	if got := claims(t, s, servicealloc.IPPrefix); len(got) != len(want) {
		t.Errorf("IP claims after restart = %v", got)
	}
	c.del(services+"/dns").must(t, http.StatusOK)
	c.post(services, serviceJSON("dns3", `{"clusterIP":"10.96.0.10","ports":[{"port":53}]}`)).must(t, http.StatusCreated)
}

// TestServiceRangeFull: a full range answers as upstream's allocator does.
func TestServiceRangeFull(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(context.Background(), Config{DataDir: dir, BindAddress: "127.0.0.1", UnsafeNoFsync: true,
		ServiceClusterIPRange: "10.0.0.0/29", ServiceNodePortRange: "30000-30001",
		DisableAdmissionPlugins: withoutControllerManager, Log: testServer(t).log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := adminClient(t, s)
	// /29: six usable addresses, the first the kubernetes service's.
	for i := range 5 {
		c.post(services, serviceJSON(fmt.Sprintf("s%d", i), `{"ports":[{"port":80}]}`)).must(t, http.StatusCreated)
	}
	st := c.post(services, serviceJSON("s5", `{"ports":[{"port":80}]}`)).must(t, http.StatusInternalServerError).json(t)
	if want := "Internal error occurred: failed to allocate a serviceIP: range is full"; str(st["message"]) != want {
		t.Errorf("message = %q, want %q", st["message"], want)
	}
	c.del(services+"/s0").must(t, http.StatusOK)
	c.del(services+"/s1").must(t, http.StatusOK)
	c.post(services, serviceJSON("np", `{"type":"NodePort","ports":[{"name":"a","port":80},{"name":"b","port":81}]}`)).must(t, http.StatusCreated)
	st = c.post(services, serviceJSON("np2", `{"type":"NodePort","ports":[{"port":80}]}`)).must(t, http.StatusInternalServerError).json(t)
	if want := "Internal error occurred: failed to allocate a nodePort: range is full"; str(st["message"]) != want {
		t.Errorf("message = %q, want %q", st["message"], want)
	}
	// The failed create took no address.
	if got := len(claims(t, s, servicealloc.IPPrefix)); got != 5 {
		t.Errorf("%d IP claims, want 5", got)
	}
}

// TestKubernetesServiceWithStockKubectl: the kubernetes service, its endpoints and slice,
// as `kubectl describe` shows them, and kubectl's create service and expose.
func TestKubernetesServiceWithStockKubectl(t *testing.T) {
	s, seed := seedServer(t)
	c := adminClient(t, s)
	ep := c.get(endpoints+"/kubernetes").must(t, http.StatusOK).json(t)
	addr := str(dig(ep, "subsets", 0, "addresses", 0, "ip"))
	port := s.listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]
	if addr == "" || addr == "127.0.0.1" || fmt.Sprint(dig(ep, "subsets", 0, "ports", 0, "port")) != port || dig(ep, "subsets", 0, "ports", 0, "name") != "https" {
		t.Errorf("kubernetes endpoints = %v", ep["subsets"])
	}
	sl := c.get(endpointSlices+"/kubernetes").must(t, http.StatusOK).json(t)
	if dig(sl, "metadata", "labels", "kubernetes.io/service-name") != "kubernetes" || dig(sl, "endpoints", 0, "addresses", 0) != addr ||
		dig(sl, "endpoints", 0, "conditions", "ready") != true || dig(sl, "ports", 0, "name") != "https" {
		t.Errorf("kubernetes endpointslice = %v", sl)
	}

	out := kubectl(t, s, "describe", "svc", "kubernetes")
	for _, want := range []string{
		`Name:\s+kubernetes\n`, `Namespace:\s+default\n`, `Labels:\s+component=apiserver\n\s+provider=kubernetes\n`,
		`Selector:\s+<none>\n`, `Type:\s+ClusterIP\n`, `IP Family Policy:\s+SingleStack\n`, `IP Families:\s+IPv4\n`,
		`IP:\s+10\.96\.0\.1\n`, `IPs:\s+10\.96\.0\.1\n`, `Port:\s+https\s+443/TCP\n`, `TargetPort:\s+` + port + `/TCP\n`,
		`Endpoints:\s+` + regexp.QuoteMeta(addr+":"+port) + `\n`, `Session Affinity:\s+None\n`, `Internal Traffic Policy:\s+Cluster\n`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("kubectl describe svc kubernetes lacks %q:\n%s", want, out)
		}
	}

	if out := kubectl(t, s, "create", "service", "clusterip", "web", "--tcp=80:8080"); !strings.Contains(out, "service/web created") {
		t.Fatalf("create service clusterip: %s", out)
	}
	web := c.get(services+"/web").must(t, http.StatusOK).json(t)
	if ip := str(dig(web, "spec", "clusterIP")); !strings.HasPrefix(ip, "10.") || dig(web, "spec", "ports", 0, "targetPort") != float64(8080) {
		t.Errorf("web = %v", web["spec"])
	}
	kubectl(t, s, "create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080")
	if np := c.get(services+"/np").must(t, http.StatusOK).json(t); dig(np, "spec", "ports", 0, "nodePort") != float64(30080) {
		t.Errorf("np = %v", np["spec"])
	}
	if out, err := kubectlErr(t, s, "create", "service", "nodeport", "np2", "--tcp=80:8080", "--node-port=30080"); err == nil ||
		!strings.Contains(out, `Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`) {
		t.Errorf("second node port 30080: %v %s", err, out)
	}
	kubectl(t, s, "create", "service", "clusterip", "hl", "--clusterip=None")
	kubectl(t, s, "create", "-f", seed)
	if out := kubectl(t, s, "expose", "deployment", "example-deployment", "--port=80", "--name=example"); !strings.Contains(out, "service/example exposed") {
		t.Fatalf("expose: %s", out)
	}
	ex := c.get(services+"/example").must(t, http.StatusOK).json(t)
	if dig(ex, "spec", "selector", "app") != "example" || dig(ex, "spec", "ports", 0, "port") != float64(80) || str(dig(ex, "spec", "clusterIP")) == "" {
		t.Errorf("exposed service = %v", ex["spec"])
	}

	out = kubectl(t, s, "get", "svc,ep,endpointslices", "-A")
	for _, want := range []string{
		`default\s+service/kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443/TCP`,
		`default\s+service/np\s+NodePort\s+10\.\S+\s+<none>\s+80:30080/TCP`,
		`default\s+service/hl\s+ClusterIP\s+None\s+<none>\s+<none>`,
		`default\s+endpoints/kubernetes\s+` + regexp.QuoteMeta(addr+":"+port),
		`default\s+endpointslice.discovery.k8s.io/kubernetes\s+IPv4\s+` + port + `\s+` + regexp.QuoteMeta(addr),
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("kubectl get svc,ep,endpointslices -A lacks %q:\n%s", want, out)
		}
	}
	if out := kubectl(t, s, "get", "svc", "-o", "wide"); !regexp.MustCompile(`example\s+ClusterIP\s+\S+\s+<none>\s+80/TCP\s+\S+\s+app=example`).MatchString(out) {
		t.Errorf("kubectl get svc -o wide:\n%s", out)
	}
}

// TestKubernetesServiceRepaired: the apiserver puts the kubernetes service back when it is
// deleted or its endpoints changed, on its next round, and keeps it across restarts.
func TestKubernetesServiceRepaired(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.del(services+"/kubernetes").must(t, http.StatusOK)
	c.do("PATCH", endpoints+"/kubernetes", "application/merge-patch+json", `{"subsets":[{"addresses":[{"ip":"10.1.2.3"}],"ports":[{"name":"https","port":1}]}]}`).
		must(t, http.StatusOK)
	if err := s.masterEndpoints.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dig(c.get(services+"/kubernetes").must(t, http.StatusOK).json(t), "spec", "clusterIP") != "10.96.0.1" {
		t.Error("kubernetes service not recreated with 10.96.0.1")
	}
	ep := c.get(endpoints+"/kubernetes").must(t, http.StatusOK).json(t)
	if dig(ep, "subsets", 0, "addresses", 0, "ip") == "10.1.2.3" || len(ep["subsets"].([]any)) != 1 {
		t.Errorf("endpoints not put back: %v", ep["subsets"])
	}
	s2 := restart(t, s)
	c2 := adminClient(t, s2)
	k := c2.get(services+"/kubernetes").must(t, http.StatusOK).json(t)
	port := s2.listener.Addr().String()
	if fmt.Sprint(dig(k, "spec", "ports", 0, "targetPort")) != port[strings.LastIndex(port, ":")+1:] {
		t.Errorf("targetPort %v after a restart on %s", dig(k, "spec", "ports", 0, "targetPort"), port)
	}
	ep = c2.get(endpoints+"/kubernetes").must(t, http.StatusOK).json(t)
	if n := len(dig(ep, "subsets").([]any)); n != 1 {
		t.Errorf("endpoints after a restart = %v", ep["subsets"])
	}
}

// TestKubernetesServiceAddressTaken: a service that took the kubernetes service's address
// while it was gone keeps the kubernetes service from being recreated, not the apiserver
// from starting, as upstream's controller only logs that it cannot sync it.
func TestKubernetesServiceAddressTaken(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	c.del(services+"/kubernetes").must(t, http.StatusOK)
	c.post(services, serviceJSON("squatter", `{"clusterIP":"10.96.0.1","ports":[{"port":443}]}`)).must(t, http.StatusCreated)
	s = restart(t, s)
	c = adminClient(t, s)
	c.get(services+"/kubernetes").must(t, http.StatusNotFound)
	// Once the address is free, the next round puts the service back.
	c.del(services+"/squatter").must(t, http.StatusOK)
	if err := s.masterEndpoints.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dig(c.get(services+"/kubernetes").must(t, http.StatusOK).json(t), "spec", "clusterIP") != "10.96.0.1" {
		t.Error("kubernetes service not recreated with 10.96.0.1")
	}
}
