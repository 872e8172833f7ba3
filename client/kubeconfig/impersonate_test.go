package kubeconfig

import (
	"net/http"
	"reflect"
	"testing"
)

// TestImpersonation: the user's as, as-uid, as-groups and as-user-extra, read from YAML,
// are replaced field by field by --as, --as-uid and --as-group, and nothing is
// impersonated without a user (client-go drops groups alone).
func TestImpersonation(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "config", `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: alice
  user:
    token: t
    as: bob
    as-uid: "42"
    as-groups: [devs, ops]
    as-user-extra:
      example.com/team: [blue]
- name: groups-only
  user:
    as-groups: [devs]
contexts:
- name: ctx
  context: {cluster: c, user: alice}
current-context: ctx
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		o    Overrides
		want Impersonation
	}{
		{"from the kubeconfig", Overrides{}, Impersonation{UserName: "bob", UID: "42", Groups: []string{"devs", "ops"}, Extra: map[string][]string{"example.com/team": {"blue"}}}},
		{"--as replaces the user only", Overrides{Impersonate: "carol"}, Impersonation{UserName: "carol", UID: "42", Groups: []string{"devs", "ops"}, Extra: map[string][]string{"example.com/team": {"blue"}}}},
		{"--as-group and --as-uid replace theirs", Overrides{ImpersonateGroups: []string{"qa"}, ImpersonateUID: "7"}, Impersonation{UserName: "bob", UID: "7", Groups: []string{"qa"}, Extra: map[string][]string{"example.com/team": {"blue"}}}},
		{"groups without a user", Overrides{User: "groups-only"}, Impersonation{}},
		{"--as-group without a user", Overrides{User: "groups-only", ImpersonateGroups: []string{"qa"}}, Impersonation{}},
		{"--as with the user's groups", Overrides{User: "groups-only", Impersonate: "dave"}, Impersonation{UserName: "dave", Groups: []string{"devs"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc, err := cfg.ClientConfig(c.o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rc.Impersonate, c.want) {
				t.Errorf("got %+v, want %+v", rc.Impersonate, c.want)
			}
		})
	}
}

func TestImpersonationHeaders(t *testing.T) {
	h := http.Header{}
	Impersonation{UserName: "bob", UID: "42", Groups: []string{"devs", "ops"},
		Extra: map[string][]string{"example.com/team": {"blue", "red"}, "scopes": {"view"}}}.SetHeaders(h)
	want := http.Header{
		"Impersonate-User":                     {"bob"},
		"Impersonate-Uid":                      {"42"},
		"Impersonate-Group":                    {"devs", "ops"},
		"Impersonate-Extra-Example.com%2fteam": {"blue", "red"},
		"Impersonate-Extra-Scopes":             {"view"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers = %v\nwant      %v", h, want)
	}

	h = http.Header{}
	Impersonation{}.SetHeaders(h)
	if len(h) != 0 {
		t.Errorf("no impersonation set %v", h)
	}
	h = http.Header{"Impersonate-User": {"carol"}}
	Impersonation{UserName: "bob", Groups: []string{"devs"}}.SetHeaders(h)
	if len(h) != 1 || h.Get("Impersonate-User") != "carol" {
		t.Errorf("a request's own Impersonate-User must win: %v", h)
	}
}
