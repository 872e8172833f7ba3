package server

import (
	"net/http"
	"strings"
	"testing"
)

func TestAuthenticationChain(t *testing.T) {
	tokens := writeFile(t, "tokens.csv", "tok-alice,alice,uid-1,\"devs,ops\"\ntok-bob,bob,uid-2\n")
	passwords := writeFile(t, "passwords.csv", "s3cret,carol,uid-3,devs\n")
	s := configuredServer(t, func(c *Config) {
		c.TokenAuthFile, c.BasicAuthFile = tokens, passwords
	})
	admin := adminClient(t, s)
	// devs may read pods in default.
	admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
		`{"kind":"Role","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"pod-reader"},"rules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"]}]}`).must(t, 201)
	admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
		`{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"devs"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"},"subjects":[{"kind":"Group","name":"devs"}]}`).must(t, 201)

	alice := headerClient(t, s, "Bearer tok-alice")
	eventually(t, "the binding to take effect", func() bool { return alice.get(pods).code == 200 })
	for _, tc := range []struct {
		name string
		c    *apiClient
		path string
		want int
	}{
		{"token in group devs", alice, pods, 200},
		{"token scheme is case-insensitive", headerClient(t, s, "bearer tok-alice"), pods, 200},
		{"token without the group", headerClient(t, s, "Bearer tok-bob"), pods, 403},
		{"unknown token", headerClient(t, s, "Bearer nope"), pods, 401},
		{"basic auth", headerClient(t, s, basicAuth("carol", "s3cret")), pods, 200},
		{"basic auth, wrong password", headerClient(t, s, basicAuth("carol", "guess")), pods, 401},
		{"basic auth, unknown user", headerClient(t, s, basicAuth("mallory", "s3cret")), pods, 401},
		{"no credentials", anonymousClient(t, s), pods, 401},
		{"health needs none", anonymousClient(t, s), "/healthz", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.get(tc.path)
			if r.code != tc.want {
				t.Fatalf("GET %s = %d, want %d: %s", tc.path, r.code, tc.want, r.body)
			}
		})
	}
	r := headerClient(t, s, "Bearer tok-bob").get(pods).must(t, 403)
	if msg := str(r.json(t)["message"]); msg != `pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"` {
		t.Errorf("message = %q", msg)
	}
	if r := anonymousClient(t, s).get(pods); !strings.Contains(string(r.body), `"reason":"Unauthorized"`) {
		t.Errorf("401 body = %s", r.body)
	}
}

func TestAnonymousAuth(t *testing.T) {
	tokens := writeFile(t, "tokens.csv", "tok-alice,alice,uid-1\n")
	s := configuredServer(t, func(c *Config) { c.AnonymousAuth, c.TokenAuthFile = true, tokens })
	anon := anonymousClient(t, s)
	r := anon.get(pods).must(t, http.StatusForbidden)
	if msg := str(r.json(t)["message"]); !strings.Contains(msg, `User "system:anonymous" cannot list resource "pods"`) {
		t.Errorf("message = %q", msg)
	}
	anon.get("/version").must(t, 200) // system:public-info-viewer
	anon.get("/apis").must(t, 403)    // discovery is for authenticated users only
	// A wrong credential is not anonymous: it is refused.
	headerClient(t, s, "Bearer wrong").get("/version").must(t, 401)
}
