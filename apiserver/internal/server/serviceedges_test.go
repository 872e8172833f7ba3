package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"kubelab.io/apiserver/internal/registry/servicealloc"
)

// TestServiceNodePortSharing: within one service, as upstream 1.32: on create only ports
// sharing a port number share a node port (#135439: another port number asking for it is
// "already allocated", whatever its protocol); an update lets TCP and UDP share one,
// claimed once; one protocol twice is a duplicate.
func TestServiceNodePortSharing(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	for name, ports := range map[string]string{
		"tcp-tcp": `[{"name":"a","port":80,"nodePort":30080},{"name":"b","port":81,"nodePort":30080}]`,
		"tcp-udp": `[{"name":"a","port":80,"nodePort":30080},{"name":"b","port":81,"protocol":"UDP","nodePort":30080}]`,
	} {
		st := c.post(services, serviceJSON(name, `{"type":"NodePort","ports":`+ports+`}`)).must(t, http.StatusUnprocessableEntity).json(t)
		if want := `Service "` + name + `" is invalid: spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated`; str(st["message"]) != want {
			t.Errorf("%s: message = %q\nwant %q", name, st["message"], want)
		}
	}
	if got := claims(t, s, servicealloc.NodePortPrefix); len(got) != 0 {
		t.Errorf("failed creates hold %v", got)
	}
	c.post(services, serviceJSON("dns", `{"type":"NodePort","ports":[{"name":"u","port":53,"protocol":"UDP","nodePort":30053},{"name":"t","port":53,"nodePort":30053}]}`)).
		must(t, http.StatusCreated)
	c.post(services, serviceJSON("web", `{"type":"NodePort","ports":[{"name":"a","port":80,"nodePort":30082}]}`)).must(t, http.StatusCreated)
	c.do("PATCH", services+"/web", "application/merge-patch+json",
		`{"spec":{"ports":[{"name":"a","port":80,"nodePort":30082},{"name":"b","port":81,"protocol":"UDP","nodePort":30082}]}}`).must(t, http.StatusOK)
	if got := claims(t, s, servicealloc.NodePortPrefix); len(got) != 2 || got["30053"] != "default/dns" || got["30082"] != "default/web" {
		t.Errorf("node port claims = %v, want 30053 and 30082 once each", got)
	}
	st := c.do("PATCH", services+"/web", "application/merge-patch+json",
		`{"spec":{"ports":[{"name":"a","port":80,"nodePort":30082},{"name":"b","port":81,"nodePort":30082}]}}`).must(t, http.StatusUnprocessableEntity).json(t)
	if want := `Service "web" is invalid: spec.ports[1].nodePort: Duplicate value: 30082`; str(st["message"]) != want {
		t.Errorf("message = %q\nwant %q", st["message"], want)
	}
	c.del(services+"/web").must(t, http.StatusOK)
	if _, held := claims(t, s, servicealloc.NodePortPrefix)["30082"]; held {
		t.Error("30082 still held after the delete")
	}
}

// TestServiceUpdateKeepsIPFamilyPolicy: an update that leaves ipFamilyPolicy, ipFamilies
// and clusterIPs out keeps them, as upstream's initIPFamilyFields takes the old policy.
func TestServiceUpdateKeepsIPFamilyPolicy(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	cur := c.post(services, serviceJSON("pds", `{"ipFamilyPolicy":"PreferDualStack","ports":[{"port":80}]}`)).must(t, http.StatusCreated).json(t)
	rv := str(dig(cur, "metadata", "resourceVersion"))
	got := c.put(services+"/pds", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"pds","resourceVersion":"`+rv+`"},"spec":{"ports":[{"port":81}]}}`).
		must(t, http.StatusOK).json(t)
	if dig(got, "spec", "ipFamilyPolicy") != "PreferDualStack" || dig(got, "spec", "ipFamilies", 0) != "IPv4" ||
		dig(got, "spec", "clusterIPs", 0) != dig(cur, "spec", "clusterIP") {
		t.Errorf("after a PUT without them: %v", got["spec"])
	}
	// Named, it changes.
	got = c.do("PATCH", services+"/pds", "application/merge-patch+json", `{"spec":{"ipFamilyPolicy":"SingleStack"}}`).must(t, http.StatusOK).json(t)
	if dig(got, "spec", "ipFamilyPolicy") != "SingleStack" {
		t.Errorf("policy = %v, want SingleStack", dig(got, "spec", "ipFamilyPolicy"))
	}
}

// TestServiceManyPorts: ports without node ports cost no claims, so a 200-port ClusterIP
// service is one claim; a node port service is bounded by etcd's 128 operations per
// transaction and answers a 422 that says so, not an etcd error.
func TestServiceManyPorts(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)
	ports := func(n int) string {
		var ps []string
		for i := range n {
			ps = append(ps, fmt.Sprintf(`{"name":"p%d","port":%d}`, i, 1000+i))
		}
		return "[" + strings.Join(ps, ",") + "]"
	}
	c.post(services, serviceJSON("many", `{"ports":`+ports(200)+`}`)).must(t, http.StatusCreated)
	if got := claims(t, s, servicealloc.IPPrefix); len(got) != 2 {
		t.Errorf("IP claims = %v, want the kubernetes service's and one", got)
	}
	st := c.post(services, serviceJSON("manynp", `{"type":"NodePort","ports":`+ports(200)+`}`)).must(t, http.StatusUnprocessableEntity).json(t)
	if want := `Service "manynp" is invalid: spec.ports: Forbidden: 201 node ports and cluster IPs: a service may hold at most 126`; !strings.HasPrefix(str(st["message"]), want) {
		t.Errorf("message = %q\nwant prefix %q", st["message"], want)
	}
	// The cluster IP and 125 node ports fit, in the create, a type change and the delete.
	c.post(services, serviceJSON("np125", `{"type":"NodePort","ports":`+ports(125)+`}`)).must(t, http.StatusCreated)
	if got := len(claims(t, s, servicealloc.NodePortPrefix)); got != 125 {
		t.Errorf("%d node port claims, want 125", got)
	}
	c.do("PATCH", services+"/many", "application/merge-patch+json", `{"spec":{"type":"NodePort","ports":`+ports(126)+`}}`).must(t, http.StatusUnprocessableEntity)
	c.do("PATCH", services+"/np125", "application/merge-patch+json", `{"spec":{"type":"ClusterIP"}}`).must(t, http.StatusOK)
	if got := len(claims(t, s, servicealloc.NodePortPrefix)); got != 0 {
		t.Errorf("%d node port claims after the type change, want 0", got)
	}
	c.do("PATCH", services+"/np125", "application/merge-patch+json", `{"spec":{"type":"NodePort"}}`).must(t, http.StatusOK)
	c.del(services+"/np125").must(t, http.StatusOK)
	if got := len(claims(t, s, servicealloc.NodePortPrefix)); got != 0 {
		t.Errorf("%d node port claims after the delete, want 0", got)
	}
}
