package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const selfSubjectReviews = "/apis/authentication.k8s.io/v1/selfsubjectreviews"

// whoami posts a SelfSubjectReview as c and returns status.userInfo.
func whoami(t *testing.T, c *apiClient) map[string]any {
	t.Helper()
	r := c.post(selfSubjectReviews, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`).must(t, 201)
	v := r.json(t)
	if v["kind"] != "SelfSubjectReview" || v["apiVersion"] != "authentication.k8s.io/v1" || dig(v, "metadata", "creationTimestamp") == nil {
		t.Errorf("review = %s", r.body)
	}
	info, _ := dig(v, "status", "userInfo").(map[string]any)
	return info
}

// TestWhoami asks "who am I?" through the API as the admin, as a plain user and under
// impersonation, where the answer is the impersonated user, extras and uid included.
func TestWhoami(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	list := func(s ...string) []any {
		out := make([]any, len(s))
		for i, x := range s {
			out[i] = x
		}
		return out
	}
	for _, tc := range []struct {
		name string
		c    *apiClient
		want map[string]any
	}{
		{"admin", admin, map[string]any{"username": "kubernetes-admin", "groups": list("system:masters", "system:authenticated")}},
		{"user", userClient(t, s, "carol", "devs"), map[string]any{"username": "carol", "groups": list("devs", "system:authenticated")}},
		{"impersonated", impersonating(admin, http.Header{
			"Impersonate-User": {"bob"}, "Impersonate-Group": {"devs"}, "Impersonate-Uid": {"u-1"},
			"Impersonate-Extra-Scopes": {"a", "b"}, "Impersonate-Extra-Example.com%2fteam": {"x"},
		}), map[string]any{
			"username": "bob", "uid": "u-1", "groups": list("devs", "system:authenticated"),
			"extra": map[string]any{"scopes": list("a", "b"), "example.com/team": list("x")},
		}},
	} {
		if got := whoami(t, tc.c); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: userInfo = %v, want %v", tc.name, got, tc.want)
		}
	}

	// Create is the only verb; a body of another kind is refused as Kubernetes does.
	admin.get(selfSubjectReviews).must(t, http.StatusMethodNotAllowed)
	admin.post(selfSubjectReviews, `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}`).must(t, http.StatusBadRequest)

	// Discovery lists it, create-only.
	r := admin.get("/apis/authentication.k8s.io/v1").must(t, 200)
	var rl struct {
		Resources []struct {
			Name  string   `json:"name"`
			Kind  string   `json:"kind"`
			Verbs []string `json:"verbs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(r.body, &rl); err != nil || len(rl.Resources) != 1 || rl.Resources[0].Name != "selfsubjectreviews" ||
		rl.Resources[0].Kind != "SelfSubjectReview" || !reflect.DeepEqual(rl.Resources[0].Verbs, []string{"create"}) {
		t.Errorf("discovery: %v %s", err, r.body)
	}
}

// TestWhoamiStockKubectl runs the stock kubectl's `auth whoami`, whose body is Kubernetes
// protobuf, for the admin, a plain user and an impersonated one.
func TestWhoamiStockKubectl(t *testing.T) {
	s, _ := seedServer(t)
	kc := userKubeconfig(t, s, "carol", "devs")
	for _, tc := range []struct {
		kubeconfig string
		args       []string
		want       string
	}{
		{s.AdminKubeconfig(), nil, "ATTRIBUTE   VALUE\nUsername    kubernetes-admin\nGroups      [system:masters system:authenticated]"},
		{kc, nil, "ATTRIBUTE   VALUE\nUsername    carol\nGroups      [devs system:authenticated]"},
		{s.AdminKubeconfig(), []string{"--as=bob", "--as-uid=u-1", "--as-group=devs"},
			"ATTRIBUTE   VALUE\nUsername    bob\nUID         u-1\nGroups      [devs system:authenticated]"},
	} {
		out, err := kubectlAs(t, tc.kubeconfig, append([]string{"auth", "whoami"}, tc.args...)...)
		if err != nil || strings.TrimSpace(out) != tc.want {
			t.Errorf("kubectl auth whoami %v = %v\n%s\nwant\n%s", tc.args, err, out, tc.want)
		}
	}
	out, err := kubectlAs(t, s.AdminKubeconfig(), "auth", "whoami", "-o", "json")
	if err != nil || !strings.Contains(out, `"kind": "SelfSubjectReview"`) || !strings.Contains(out, `"username": "kubernetes-admin"`) {
		t.Errorf("kubectl auth whoami -o json = %v\n%s", err, out)
	}
}
