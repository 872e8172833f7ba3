package openapi

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/proto/scheme"
)

func testRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg := registry.NewRegistry()
	for _, r := range registry.Resources() {
		if err := reg.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// published returns the served documents, decoded as a client decodes them.
func published(t *testing.T) (*Published, map[string]map[string]any) {
	t.Helper()
	p, err := Publish(testRegistry(t), scheme.Scheme, "v1.32.0")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	for key, d := range p.docs {
		var m map[string]any
		if err := json.Unmarshal(d.Body, &m); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		docs[key] = m
	}
	return p, docs
}

func TestPublishIndexNamesOneDocumentPerGroupVersion(t *testing.T) {
	reg := testRegistry(t)
	p, docs := published(t)
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(p.Index.Body, &index); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, gv := range reg.GroupVersions() {
		want = append(want, Key(gv))
	}
	for key, entry := range index.Paths {
		got = append(got, key)
		d, ok := p.Lookup(key)
		if !ok {
			t.Errorf("index names %s, which is not served", key)
			continue
		}
		if entry.ServerRelativeURL != "/openapi/v3/"+key+"?hash="+d.Hash {
			t.Errorf("%s: serverRelativeURL %q, document hash %s", key, entry.ServerRelativeURL, d.Hash)
		}
		if len(d.Hash) != 128 || strings.ToUpper(d.Hash) != d.Hash {
			t.Errorf("%s: hash %q is not upper-case hex SHA-512", key, d.Hash)
		}
		if docs[key]["openapi"] != "3.0.0" || docs[key]["info"] == nil {
			t.Errorf("%s: openapi %v, info %v", key, docs[key]["openapi"], docs[key]["info"])
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") || !strings.Contains(strings.Join(got, " "), "apis/apps/v1") {
		t.Errorf("index paths %v, want %v", got, want)
	}

	// The same binary publishes the same bytes, so hashes survive a restart.
	again, err := Publish(reg, scheme.Scheme, "v1.32.0")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Index.Body, p.Index.Body) {
		t.Error("a second Publish wrote a different index")
	}
}

// TestEveryKindPatchTakesFieldValidation checks what kubectl's --validate=strict looks for:
// for every stored kind, some PATCH operation naming its GVK, and every such operation
// (kubectl stops at the first it meets) taking fieldValidation inline.
func TestEveryKindPatchTakesFieldValidation(t *testing.T) {
	reg := testRegistry(t)
	_, docs := published(t)
	for _, r := range reg.Resources() {
		doc := docs[Key(registry.GroupVersion{Group: r.Kind.Group, Version: r.Kind.Version})]
		patches := 0
		for path, item := range doc["paths"].(map[string]any) {
			op, ok := item.(map[string]any)["patch"].(map[string]any)
			if !ok {
				continue
			}
			gvk := op["x-kubernetes-group-version-kind"].(map[string]any)
			if gvk["group"] != r.Kind.Group || gvk["version"] != r.Kind.Version || gvk["kind"] != r.Kind.Kind {
				continue
			}
			patches++
			if op["x-kubernetes-action"] != "patch" {
				t.Errorf("%s patch: action %v", path, op["x-kubernetes-action"])
			}
			if !hasParam(op, "fieldValidation", "query") || !hasParam(op, "dryRun", "query") || !hasParam(op, "fieldManager", "query") {
				t.Errorf("%s patch lacks fieldValidation, dryRun or fieldManager: %v", path, op["parameters"])
			}
			if _, ok := op["requestBody"].(map[string]any)["content"].(map[string]any)["application/merge-patch+json"]; !ok {
				t.Errorf("%s patch: request body %v", path, op["requestBody"])
			}
		}
		if want := 1; r.Virtual {
			want = 0
			if patches != want {
				t.Errorf("%s: %d PATCH operations, want none", r.Kind, patches)
			}
		} else if r.StatusSubresource {
			want = 2
			if patches != want {
				t.Errorf("%s: %d PATCH operations, want %d", r.Kind, patches, want)
			}
		} else if patches != want {
			t.Errorf("%s: %d PATCH operations, want %d", r.Kind, patches, want)
		}
	}
}

func hasParam(op map[string]any, name, in string) bool {
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		p := p.(map[string]any)
		if p["name"] == name && p["in"] == in {
			return true
		}
	}
	return false
}

func TestPathsFollowKubernetesLayout(t *testing.T) {
	_, docs := published(t)
	for _, tc := range []struct {
		doc, path string
		ops       map[string]string // method → x-kubernetes-action; "" = absent
	}{
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments",
			map[string]string{"get": "list", "post": "post", "delete": "deletecollection", "put": "", "patch": ""}},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
			map[string]string{"get": "get", "put": "put", "patch": "patch", "delete": "delete", "post": ""}},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
			map[string]string{"get": "get", "put": "put", "patch": "patch", "delete": ""}},
		{"apis/apps/v1", "/apis/apps/v1/deployments", map[string]string{"get": "list", "post": ""}},
		{"api/v1", "/api/v1/nodes", map[string]string{"get": "list", "post": "post"}},
		{"api/v1", "/api/v1/nodes/{name}", map[string]string{"get": "get", "patch": "patch"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/status", map[string]string{"patch": "patch"}},
		{"apis/authorization.k8s.io/v1", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
			map[string]string{"post": "post", "get": ""}},
		{"apis/authentication.k8s.io/v1", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
			map[string]string{"post": "post", "get": ""}},
		{"apis/authorization.k8s.io/v1", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
			map[string]string{"post": "post", "get": ""}},
	} {
		item, ok := docs[tc.doc]["paths"].(map[string]any)[tc.path].(map[string]any)
		if !ok {
			t.Errorf("%s: no path %s", tc.doc, tc.path)
			continue
		}
		for method, action := range tc.ops {
			op, ok := item[method].(map[string]any)
			switch {
			case action == "" && ok:
				t.Errorf("%s %s: unexpected operation %v", method, tc.path, op["operationId"])
			case action != "" && !ok:
				t.Errorf("%s %s: missing", method, tc.path)
			case ok && op["x-kubernetes-action"] != action:
				t.Errorf("%s %s: action %v, want %s", method, tc.path, op["x-kubernetes-action"], action)
			}
		}
	}
	list := docs["apis/apps/v1"]["paths"].(map[string]any)["/apis/apps/v1/namespaces/{namespace}/deployments"].(map[string]any)["get"].(map[string]any)
	for _, p := range []string{"labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"} {
		if !hasParam(list, p, "query") {
			t.Errorf("list deployments lacks %s", p)
		}
	}
	if list["operationId"] != "listAppsV1NamespacedDeployment" {
		t.Errorf("operationId %v", list["operationId"])
	}
}

func TestSchemasMatchTheJSONCodec(t *testing.T) {
	_, docs := published(t)
	apps := docs["apis/apps/v1"]
	deployment := schema(t, apps, "io.k8s.api.apps.v1.Deployment")
	gvks, _ := deployment["x-kubernetes-group-version-kind"].([]any)
	if len(gvks) != 1 || gvks[0].(map[string]any)["kind"] != "Deployment" || gvks[0].(map[string]any)["group"] != "apps" {
		t.Errorf("Deployment gvk: %v", deployment["x-kubernetes-group-version-kind"])
	}
	if ref := prop(t, apps, deployment, "metadata")["$ref"]; ref != "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" {
		t.Errorf("metadata $ref %v", ref)
	}
	// Proto comments are the descriptions: a message's on its schema, a field's on its
	// property (beside a $ref too).
	if d := resolve(t, apps, prop(t, apps, deployment, "spec"))["description"]; d != "DeploymentSpec is the desired state of a Deployment." {
		t.Errorf("DeploymentSpec description %q", d)
	}
	if d := walk(t, apps, deployment, "spec", "strategy", "type")["description"]; d != "type is Recreate or RollingUpdate." {
		t.Errorf("DeploymentStrategy.type description %q", d)
	}
	if d := schema(t, apps, "io.k8s.api.apps.v1.Deployment")["description"]; d != "Deployment rolls out a pod template through ReplicaSets." {
		t.Errorf("Deployment description %q", d)
	}
	replicas := walk(t, apps, deployment, "spec", "replicas")
	if replicas["type"] != "integer" || replicas["format"] != "int32" {
		t.Errorf("spec.replicas: %v", replicas)
	}
	maxSurge := walk(t, apps, deployment, "spec", "strategy", "rollingUpdate", "maxSurge")
	if maxSurge["x-kubernetes-int-or-string"] != true {
		t.Errorf("maxSurge: %v", maxSurge)
	}
	created := walk(t, apps, deployment, "metadata", "creationTimestamp")
	if created["type"] != "string" || created["format"] != "date-time" {
		t.Errorf("creationTimestamp: %v", created)
	}
	generation := walk(t, apps, deployment, "metadata", "generation")
	if generation["type"] != "integer" || generation["format"] != "int64" {
		t.Errorf("metadata.generation: %v", generation)
	}
	labels := walk(t, apps, deployment, "metadata", "labels")
	if labels["type"] != "object" || labels["additionalProperties"].(map[string]any)["type"] != "string" {
		t.Errorf("metadata.labels: %v", labels)
	}
	containers := walk(t, apps, deployment, "spec", "template", "spec", "containers")
	if containers["type"] != "array" {
		t.Errorf("containers: %v", containers)
	}
	limits := walk(t, apps, deployment, "spec", "template", "spec", "containers", "[]", "resources", "limits")
	quantity := resolve(t, apps, limits["additionalProperties"].(map[string]any))
	if !strings.Contains(jsonOf(t, quantity["oneOf"]), `{"type":"string"}`) {
		t.Errorf("a Quantity is not a string: %v", quantity)
	}
	authn := docs["apis/authentication.k8s.io/v1"]
	extra := walk(t, authn, schema(t, authn, "io.k8s.api.authentication.v1.SelfSubjectReview"), "status", "userInfo", "extra")
	if values := resolve(t, authn, extra["additionalProperties"].(map[string]any)); jsonOf(t, values["items"]) != `{"type":"string"}` || values["type"] != "array" {
		t.Errorf("UserInfo.extra values are not lists of strings: %v", values)
	}

	// Every reference resolves inside its own document.
	for key, doc := range docs {
		b, _ := json.Marshal(doc)
		for _, part := range strings.Split(string(b), `"$ref":"#/components/schemas/`)[1:] {
			name := part[:strings.IndexByte(part, '"')]
			if _, ok := doc["components"].(map[string]any)["schemas"].(map[string]any)[name]; !ok {
				t.Errorf("%s: dangling $ref %s", key, name)
			}
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func schema(t *testing.T, doc map[string]any, name string) map[string]any {
	t.Helper()
	s, ok := doc["components"].(map[string]any)["schemas"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("no schema %s", name)
	}
	return s
}

func resolve(t *testing.T, doc, s map[string]any) map[string]any {
	t.Helper()
	if ref, ok := s["$ref"].(string); ok {
		return schema(t, doc, strings.TrimPrefix(ref, "#/components/schemas/"))
	}
	return s
}

func prop(t *testing.T, doc, s map[string]any, name string) map[string]any {
	t.Helper()
	p, ok := resolve(t, doc, s)["properties"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("no property %s in %v", name, s)
	}
	return p
}

// walk follows a field path through references; "[]" steps into a list's items.
func walk(t *testing.T, doc, s map[string]any, path ...string) map[string]any {
	t.Helper()
	for _, name := range path {
		if name == "[]" {
			s = resolve(t, doc, s)["items"].(map[string]any)
			continue
		}
		s = prop(t, doc, s, name)
	}
	return resolve(t, doc, s)
}
