package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSkewWarning(t *testing.T) {
	for _, tc := range []struct {
		client, server string
		want           string
	}{
		{"v1.32.0", "v1.32.3", ""},
		{"v1.32.0", "v1.31.0", ""},
		{"v1.32.0", "v1.33.0", ""},
		{"v1.32.0", "v1.29.0", "WARNING: version difference between client (1.32) and server (1.29) exceeds the supported minor version skew of +/-1"},
		{"v1.32.0", "v1.34.1", "WARNING: version difference between client (1.32) and server (1.34) exceeds the supported minor version skew of +/-1"},
	} {
		got := skewWarning(VersionInfo{GitVersion: tc.client}, VersionInfo{GitVersion: tc.server})
		if got != tc.want {
			t.Errorf("skew(%s, %s) = %q, want %q", tc.client, tc.server, got, tc.want)
		}
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	m, err := decodeObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestThreeWayPatch(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		original, modified, current string
		want                        string
	}{
		{"unchanged", `{"spec":{"replicas":3}}`, `{"spec":{"replicas":3}}`, `{"spec":{"replicas":3,"paused":false},"status":{}}`, `{}`},
		{"changed scalar", `{"spec":{"replicas":3}}`, `{"spec":{"replicas":5}}`, `{"spec":{"replicas":3}}`, `{"spec":{"replicas":5}}`},
		{"dropped field", `{"metadata":{"labels":{"a":"1","b":"2"}}}`, `{"metadata":{"labels":{"a":"1"}}}`, `{"metadata":{"labels":{"a":"1","b":"2","c":"3"}}}`, `{"metadata":{"labels":{"b":null}}}`},
		{"others' change kept", `{"spec":{}}`, `{"spec":{}}`, `{"spec":{"x":1}}`, `{}`},
		{"container by name", `{"c":[{"name":"a","image":"x"}]}`, `{"c":[{"name":"a","image":"y"}]}`, `{"c":[{"name":"a","image":"x","imagePullPolicy":"Always"}]}`, `{"c":[{"image":"y","name":"a"}]}`},
		{"container removed", `{"c":[{"name":"a"},{"name":"b"}]}`, `{"c":[{"name":"a"}]}`, `{"c":[{"name":"a"},{"name":"b"}]}`, `{"c":[{"$patch":"delete","name":"b"}]}`},
		{"no original", ``, `{"spec":{"replicas":3}}`, `{"spec":{"replicas":3}}`, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := json.Marshal(threeWayPatch(decode(t, tc.original), decode(t, tc.modified), decode(t, tc.current)))
			if string(got) != tc.want {
				t.Errorf("patch = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	all := []Resource{
		{Group: "", Version: "v1", Name: "pods", SingularName: "pod", Kind: "Pod", ShortNames: []string{"po"}},
		{Group: "apps", Version: "v1", Name: "deployments", SingularName: "deployment", Kind: "Deployment", ShortNames: []string{"deploy"}},
		{Group: "coordination.k8s.io", Version: "v1", Name: "leases", SingularName: "lease", Kind: "Lease"},
	}
	for arg, want := range map[string]string{
		"po": "pods", "pods": "pods", "pod": "pods", "Pod": "pods", "deploy": "deployments.apps",
		"deployments.apps": "deployments.apps", "deployments.v1.apps": "deployments.apps", "lease": "leases.coordination.k8s.io",
	} {
		r, ok := resolveIn(all, arg)
		if !ok || r.GroupResource() != want {
			t.Errorf("resolve(%q) = %v %v, want %s", arg, r.GroupResource(), ok, want)
		}
	}
	if _, ok := resolveIn(all, "deployments.extensions"); ok {
		t.Error("deployments.extensions resolved")
	}
}

func TestDiscoveryCacheDir(t *testing.T) {
	if got := DiscoveryCacheDir("/c", "https://127.0.0.1:6443"); got != "/c/discovery/127.0.0.1_6443" {
		t.Errorf("got %s", got)
	}
}

func TestJSONPath(t *testing.T) {
	data := decode(t, `{"items":[{"metadata":{"name":"a"},"status":{"conditions":[{"type":"Ready","status":"True"}]}},{"metadata":{"name":"b","annotations":{"volume.kubernetes.io/selected-node":"n1"}}}]}`)
	for tmpl, want := range map[string]string{
		`{.items[*].metadata.name}`:                                             "a b",
		`{.items[0].metadata.name}`:                                             "a",
		`{.items[-1].metadata.name}`:                                            "b",
		`{range .items[*]}{.metadata.name}{"\n"}{end}`:                          "a\nb\n",
		`{.items[0].status.conditions[?(@.type=="Ready")].status}`:              "True",
		`name={.items[1].metadata.name}`:                                        "name=b",
		`{.items[0].metadata}`:                                                  `{"name":"a"}`,
		`{.items[1].metadata.annotations.volume\.kubernetes\.io/selected-node}`: "n1",
		`{..volume\.kubernetes\.io/selected-node}`:                              "n1",
		`{.items[*].missing}`:                                                   "",
	} {
		jp, err := ParseJSONPath(tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		var b strings.Builder
		_ = jp.Execute(&b, data)
		if b.String() != want {
			t.Errorf("%s = %q, want %q", tmpl, b.String(), want)
		}
	}
}

func TestParseDryRun(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    dryRunStrategy
		warning string // what the klog warning ends with; "" for none
		err     string
	}{
		{in: "none", want: dryRunNone},
		{in: "client", want: dryRunClient},
		{in: "server", want: dryRunServer},
		{in: dryRunNoOpt, want: dryRunClient, warning: "] --dry-run is deprecated and can be replaced with --dry-run=client.\n"},
		{in: "true", want: dryRunClient, warning: "] --dry-run=true is deprecated (boolean value) and can be replaced with --dry-run=client.\n"},
		{in: "false", want: dryRunNone, warning: "] --dry-run=false is deprecated (boolean value) and can be replaced with --dry-run=none.\n"},
		{in: "bogus", err: `Invalid dry-run value (bogus). Must be "none", "server", or "client".`},
		{in: "", err: `Invalid dry-run value (). Must be "none", "server", or "client".`},
	} {
		var errOut strings.Builder
		got, err := parseDryRun(tc.in, &errOut)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseDryRun(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseDryRun(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if w := errOut.String(); (tc.warning == "") != (w == "") || !strings.HasSuffix(w, tc.warning) || (w != "" && !strings.HasPrefix(w, "W")) {
			t.Errorf("parseDryRun(%q) warned %q, want one ending %q", tc.in, w, tc.warning)
		}
	}
}
