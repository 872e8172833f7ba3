package patch

import (
	"errors"
	"strings"
	"testing"
)

// deployment is what the apiserver would marshal for a stored Deployment.
// generation is 2^53+1, which float64 cannot represent.
const deployment = `{"apiVersion":"apps/v1","kind":"Deployment",
"metadata":{"name":"x","namespace":"default","uid":"u-1","resourceVersion":"7","generation":9007199254740993,
  "labels":{"app":"x"},"annotations":{"a":"b"},"finalizers":["f1","f2"],
  "ownerReferences":[{"apiVersion":"v1","kind":"Thing","name":"o1","uid":"o-1"}]},
"spec":{"replicas":3,"selector":{"matchLabels":{"app":"x"}},
  "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}},
  "template":{"metadata":{"labels":{"app":"x"}},"spec":{
    "containers":[
      {"name":"nginx","image":"nginx:1.14.2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}],"resources":{}},
      {"name":"sidecar","image":"busybox:1.36","command":["sh","-c","sleep 3600"]}],
    "tolerations":[{"key":"k1","operator":"Exists"}],
    "restartPolicy":"Always","terminationGracePeriodSeconds":30}}},
"status":{"observedGeneration":3,"replicas":3,
  "conditions":[{"type":"Available","status":"True"},{"type":"Progressing","status":"True","reason":"NewReplicaSetAvailable"}]}}`

// canon re-encodes a JSON text the way this package encodes results.
func canon(t *testing.T, s string) string {
	t.Helper()
	v, err := decode([]byte(s))
	if err != nil {
		t.Fatalf("bad test JSON %q: %v", s, err)
	}
	b, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit returns the deployment fixture with old replaced by new (exactly once).
func edit(t *testing.T, doc string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.Count(doc, pairs[i]) != 1 {
			t.Fatalf("fixture edit %q does not match exactly once", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

func TestStrategicMergePatchKubectl(t *testing.T) {
	type tc struct {
		name  string
		kind  string
		doc   string // defaults to deployment
		patch string
		want  func(t *testing.T) string
	}
	tests := []tc{
		{
			name:  "set image",
			patch: `{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.16","name":"nginx"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"image":"nginx:1.14.2"`, `"image":"nginx:1.16"`)
			},
		},
		{
			name:  "set image on the second container",
			patch: `{"spec":{"template":{"spec":{"containers":[{"image":"busybox:1.37","name":"sidecar"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"image":"busybox:1.36"`, `"image":"busybox:1.37"`)
			},
		},
		{
			name:  "label",
			patch: `{"metadata":{"labels":{"tier":"web"}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"labels":{"app":"x"},"annotations"`, `"labels":{"app":"x","tier":"web"},"annotations"`)
			},
		},
		{
			name: "remove label",
			doc: strings.Replace(deployment, `"labels":{"app":"x"},"annotations"`,
				`"labels":{"app":"x","tier":"web"},"annotations"`, 1),
			patch: `{"metadata":{"labels":{"tier":null}}}`,
			want:  func(t *testing.T) string { return deployment },
		},
		{
			name:  "remove absent label",
			patch: `{"metadata":{"labels":{"tier":null}}}`,
			want:  func(t *testing.T) string { return deployment },
		},
		{
			name:  "annotate",
			patch: `{"metadata":{"annotations":{"a":"c","note":"hello <b>&</b>"}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"annotations":{"a":"b"}`, `"annotations":{"a":"c","note":"hello <b>&</b>"}`)
			},
		},
		{
			name:  "rollout restart",
			patch: `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-25T10:00:00Z"}}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"template":{"metadata":{"labels":{"app":"x"}}`,
					`"template":{"metadata":{"labels":{"app":"x"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-25T10:00:00Z"}}`)
			},
		},
		{
			name:  "rollout pause",
			patch: `{"spec":{"paused":true}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"spec":{"replicas":3,`, `"spec":{"paused":true,"replicas":3,`)
			},
		},
		{
			name:  "rollout resume",
			doc:   strings.Replace(deployment, `"spec":{"replicas":3,`, `"spec":{"paused":true,"replicas":3,`, 1),
			patch: `{"spec":{"paused":null}}`,
			want:  func(t *testing.T) string { return deployment },
		},
		{
			name:  "scale, int64 exact",
			patch: `{"spec":{"replicas":9007199254740995}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"replicas":3,"selector"`, `"replicas":9007199254740995,"selector"`)
			},
		},
		{
			name: "client-side apply: $setElementOrder and a changed env entry",
			patch: `{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\n"}},
			  "spec":{"template":{"spec":{
			    "$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],
			    "containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"name":"A","value":"2"}],"name":"nginx"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment,
					`"annotations":{"a":"b"}`, `"annotations":{"a":"b","kubectl.kubernetes.io/last-applied-configuration":"{}\n"}`,
					`"env":[{"name":"A","value":"1"}]`, `"env":[{"name":"A","value":"2"}]`)
			},
		},
		{
			name: "client-side apply: new env entry placed by $setElementOrder",
			patch: `{"spec":{"template":{"spec":{
			    "$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],
			    "containers":[{"$setElementOrder/env":[{"name":"B"},{"name":"A"}],"env":[{"name":"B","value":"b"}],"name":"nginx"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"env":[{"name":"A","value":"1"}]`, `"env":[{"name":"B","value":"b"},{"name":"A","value":"1"}]`)
			},
		},
		{
			name:  "client-side apply: $setElementOrder alone reorders",
			patch: `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment,
					`{"name":"nginx","image":"nginx:1.14.2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}],"resources":{}},
      {"name":"sidecar","image":"busybox:1.36","command":["sh","-c","sleep 3600"]}`,
					`{"name":"sidecar","image":"busybox:1.36","command":["sh","-c","sleep 3600"]},
      {"name":"nginx","image":"nginx:1.14.2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}],"resources":{}}`)
			},
		},
		{
			name: "client-side apply: container removed from the manifest",
			patch: `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],
			  "containers":[{"$patch":"delete","name":"sidecar"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `,
      {"name":"sidecar","image":"busybox:1.36","command":["sh","-c","sleep 3600"]}`, ``)
			},
		},
		{
			name:  "$patch delete removes the sidecar",
			patch: `{"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"sidecar"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `,
      {"name":"sidecar","image":"busybox:1.36","command":["sh","-c","sleep 3600"]}`, ``)
			},
		},
		{
			name:  "$patch delete of an absent item is a no-op",
			patch: `{"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"nope"}]}}}}`,
			want:  func(t *testing.T) string { return deployment },
		},
		{
			name:  "$patch replace on a merging list",
			patch: `{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"x:1"},{"$patch":"replace"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `{"name":"nginx","image":"nginx:1.14.2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}],"resources":{}},
      {"name":"sidecar","image":"busybox:1.36","command":["sh","-c","sleep 3600"]}`, `{"name":"only","image":"x:1"}`)
			},
		},
		{
			name:  "$patch replace on a map",
			patch: `{"spec":{"selector":{"$patch":"replace","matchLabels":{"app":"y"}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"selector":{"matchLabels":{"app":"x"}}`, `"selector":{"matchLabels":{"app":"y"}}`)
			},
		},
		{
			name:  "$patch replace on labels drops the other labels",
			patch: `{"metadata":{"labels":{"$patch":"replace","new":"1"}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"labels":{"app":"x"},"annotations"`, `"labels":{"new":"1"},"annotations"`)
			},
		},
		{
			name:  "$patch merge is the default",
			patch: `{"metadata":{"labels":{"$patch":"merge","tier":"web"}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"labels":{"app":"x"},"annotations"`, `"labels":{"app":"x","tier":"web"},"annotations"`)
			},
		},
		{
			name:  "$patch delete on a map empties it",
			patch: `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","resources":{"$patch":"delete"}}]}}}}`,
			want:  func(t *testing.T) string { return deployment }, // resources was already {}
		},
		{
			name:  "$retainKeys (kubectl apply switching the strategy type)",
			patch: `{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}`,
					`"strategy":{"type":"Recreate"}`)
			},
		},
		{
			name:  "$retainKeys without the patch removing the key",
			patch: `{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}`,
					`"strategy":{"type":"Recreate"}`)
			},
		},
		{
			name:  "$deleteFromPrimitiveList",
			patch: `{"metadata":{"$deleteFromPrimitiveList/finalizers":["f1"]}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"finalizers":["f1","f2"]`, `"finalizers":["f2"]`)
			},
		},
		{
			name:  "finalizers merge as a set",
			patch: `{"metadata":{"finalizers":["f3","f1"]}}`,
			want: func(t *testing.T) string {
				// upstream's normalizeElementOrder puts patch items first here
				return edit(t, deployment, `"finalizers":["f1","f2"]`, `"finalizers":["f3","f1","f2"]`)
			},
		},
		{
			name:  "kubectl apply changing finalizers",
			patch: `{"metadata":{"$setElementOrder/finalizers":["f1","f3"],"$deleteFromPrimitiveList/finalizers":["f2"],"finalizers":["f3"]}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"finalizers":["f1","f2"]`, `"finalizers":["f1","f3"]`)
			},
		},
		{
			name:  "ownerReferences merge by uid",
			patch: `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Thing","name":"o2","uid":"o-2"},{"uid":"o-1","controller":true}]}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"ownerReferences":[{"apiVersion":"v1","kind":"Thing","name":"o1","uid":"o-1"}]`,
					`"ownerReferences":[{"apiVersion":"v1","kind":"Thing","name":"o2","uid":"o-2"},{"apiVersion":"v1","controller":true,"kind":"Thing","name":"o1","uid":"o-1"}]`)
			},
		},
		{
			// Without $setElementOrder upstream puts new items before the
			// existing ones (see the kubectl patch tutorial's output).
			name:  "ports merge by containerPort",
			patch: `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","ports":[{"containerPort":443}]}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"ports":[{"containerPort":80,"protocol":"TCP"}]`, `"ports":[{"containerPort":443},{"containerPort":80,"protocol":"TCP"}]`)
			},
		},
		{
			name:  "env merges by name; null deletes a member",
			patch: `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":null,"valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"B","value":"2"}]}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"env":[{"name":"A","value":"1"}]`,
					`"env":[{"name":"A","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"B","value":"2"}]`)
			},
		},
		{
			name:  "tolerations are replaced",
			patch: `{"spec":{"template":{"spec":{"tolerations":[{"key":"k2","operator":"Exists"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"tolerations":[{"key":"k1","operator":"Exists"}]`, `"tolerations":[{"key":"k2","operator":"Exists"}]`)
			},
		},
		{
			name:  "command (a primitive list without strategy) is replaced",
			patch: `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","command":["sleep","1"]}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"command":["sh","-c","sleep 3600"]`, `"command":["sleep","1"]`)
			},
		},
		{
			name:  "status conditions merge by type",
			patch: `{"status":{"conditions":[{"type":"Available","status":"False","reason":"MinimumReplicasUnavailable"}]}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `{"type":"Available","status":"True"}`, `{"type":"Available","status":"False","reason":"MinimumReplicasUnavailable"}`)
			},
		},
		{
			name: "directives in new fields do not leak",
			patch: `{"spec":{"template":{"spec":{"volumes":[
			    {"name":"v","$retainKeys":["emptyDir","name"],"emptyDir":{"medium":null}},
			    {"name":"gone","$patch":"delete"}],
			  "$setElementOrder/volumes":[{"name":"v"}],
			  "affinity":{"$patch":"replace","nodeAffinity":{"x":null}},
			  "securityContext":{"$patch":"delete"}}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"restartPolicy":"Always"`, `"restartPolicy":"Always","volumes":[{"name":"v","emptyDir":{}}],"affinity":{"nodeAffinity":{}}`)
			},
		},
		{
			name:  "replicaset uses the same template paths",
			kind:  "ReplicaSet",
			patch: `{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.16","name":"nginx"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `"image":"nginx:1.14.2"`, `"image":"nginx:1.16"`)
			},
		},
		{
			name:  "unknown kind: lists are replaced",
			kind:  "Widget",
			patch: `{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.16","name":"nginx"}]}}}}`,
			want: func(t *testing.T) string {
				return edit(t, deployment, `{"name":"nginx","image":"nginx:1.14.2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}],"resources":{}},
      {"name":"sidecar","image":"busybox:1.36","command":["sh","-c","sleep 3600"]}`, `{"name":"nginx","image":"nginx:1.16"}`)
			},
		},
		{
			name:  "null patch is a no-op",
			patch: `null`,
			want:  func(t *testing.T) string { return deployment },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, doc := tt.kind, tt.doc
			if kind == "" {
				kind = "Deployment"
			}
			if doc == "" {
				doc = deployment
			}
			got, err := StrategicMergePatch([]byte(doc), []byte(tt.patch), kind)
			if err != nil {
				t.Fatalf("StrategicMergePatch: %v", err)
			}
			if want := canon(t, tt.want(t)); string(got) != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			// Apply dispatches to the same code.
			got2, err := Apply(StrategicMerge, []byte(doc), []byte(tt.patch), kind)
			if err != nil || string(got2) != string(got) {
				t.Errorf("Apply(StrategicMerge) = %s, %v; want the same result", got2, err)
			}
		})
	}
}

func TestStrategicMergePatchPod(t *testing.T) {
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
	  "spec":{"containers":[{"name":"app","image":"app:1","volumeMounts":[{"name":"data","mountPath":"/data"}]}],
	    "volumes":[{"name":"data","emptyDir":{}}]},
	  "status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}],
	    "podIPs":[{"ip":"10.0.0.1"}],"containerStatuses":[{"name":"app","ready":true,"restartCount":0}]}}`
	tests := []struct {
		name, patch, want string
	}{
		{
			name:  "set image",
			patch: `{"spec":{"containers":[{"name":"app","image":"app:2"}]}}`,
			want:  strings.Replace(pod, `"image":"app:1"`, `"image":"app:2"`, 1),
		},
		{
			name:  "volumeMounts merge by mountPath",
			patch: `{"spec":{"containers":[{"name":"app","volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg"}]}],"volumes":[{"name":"cfg","configMap":{"name":"c"}}]}}`,
			want: strings.NewReplacer(`{"name":"data","mountPath":"/data"}]`, `{"name":"cfg","mountPath":"/etc/cfg"},{"name":"data","mountPath":"/data"}]`,
				`{"name":"data","emptyDir":{}}]`, `{"name":"cfg","configMap":{"name":"c"}},{"name":"data","emptyDir":{}}]`).Replace(pod),
		},
		{
			name:  "status: conditions merge by type, containerStatuses are replaced",
			patch: `{"status":{"conditions":[{"type":"Ready","status":"False"}],"containerStatuses":[{"name":"app","ready":false}]}}`,
			want: strings.NewReplacer(`{"type":"Ready","status":"True"}`, `{"type":"Ready","status":"False"}`,
				`"containerStatuses":[{"name":"app","ready":true,"restartCount":0}]`, `"containerStatuses":[{"name":"app","ready":false}]`).Replace(pod),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StrategicMergePatch([]byte(pod), []byte(tt.patch), "Pod")
			if err != nil {
				t.Fatal(err)
			}
			if want := canon(t, tt.want); string(got) != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestStrategicMergePatchNode(t *testing.T) {
	node := `{"kind":"Node","metadata":{"name":"n"},"spec":{"podCIDRs":["10.0.0.0/24"],"taints":[{"key":"a","effect":"NoSchedule"}]},
	  "status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"1.2.3.4"}]}}`
	patch := `{"spec":{"podCIDRs":["fd00::/64"],"taints":[{"key":"b","effect":"NoExecute"}]},
	  "status":{"conditions":[{"type":"MemoryPressure","status":"False"}],"addresses":[{"type":"Hostname","address":"n"}]}}`
	want := `{"kind":"Node","metadata":{"name":"n"},"spec":{"podCIDRs":["fd00::/64","10.0.0.0/24"],"taints":[{"key":"b","effect":"NoExecute"}]},
	  "status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}],
	    "addresses":[{"type":"Hostname","address":"n"},{"type":"InternalIP","address":"1.2.3.4"}]}}`
	got, err := StrategicMergePatch([]byte(node), []byte(patch), "Node")
	if err != nil {
		t.Fatal(err)
	}
	if w := canon(t, want); string(got) != w {
		t.Errorf("got\n%s\nwant\n%s", got, w)
	}
}

func TestStrategicMergePatchOrder(t *testing.T) {
	// Ordering of merged lists, following upstream's normalizeElementOrder.
	doc := `{"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}}`
	tests := []struct {
		name, patch, want string
	}{
		// Upstream quirk: without $setElementOrder, new items go first.
		{"new item prepended", `{"spec":{"containers":[{"name":"d"}]}}`, `d a b c`},
		{"new item after a patched item", `{"spec":{"containers":[{"name":"c","x":1},{"name":"d"}]}}`, `a b c d`},
		{"patch order kept for new items", `{"spec":{"containers":[{"name":"d"},{"name":"a","x":1}]}}`, `d a b c`},
		{"changed item keeps its place", `{"spec":{"containers":[{"name":"b","x":1}]}}`, `a b c`},
		{"$setElementOrder full", `{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"b"},{"name":"a"}]}}`, `c b a`},
		{"$setElementOrder with server-only item", `{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"}]}}`, `b c a`},
		{"$setElementOrder with a new item", `{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"n"},{"name":"b"},{"name":"c"}],"containers":[{"name":"n"}]}}`, `a n b c`},
		{"$setElementOrder and delete", `{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"}],"containers":[{"name":"b","$patch":"delete"}]}}`, `c a`},
		// Upstream orders server-only items by the original list as its in-place delete
		// and append left it: [a c n] here, not [a b c] (checked with kubectl patch --local).
		{"$setElementOrder, delete, add, server-only item", `{"spec":{"$setElementOrder/containers":[{"name":"n"},{"name":"a"}],"containers":[{"name":"n"},{"name":"b","$patch":"delete"}]}}`, `c n a`},
		{"$setElementOrder, delete, two adds, server-only item", `{"spec":{"$setElementOrder/containers":[{"name":"n"},{"name":"m"},{"name":"a"}],"containers":[{"name":"n"},{"name":"m"},{"name":"b","$patch":"delete"}]}}`, `c n m a`},
		{"$setElementOrder, delete first, add, server-only item", `{"spec":{"$setElementOrder/containers":[{"name":"n"},{"name":"c"}],"containers":[{"name":"n"},{"name":"a","$patch":"delete"}]}}`, `b n c`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StrategicMergePatch([]byte(doc), []byte(tt.patch), "Pod")
			if err != nil {
				t.Fatal(err)
			}
			v, _ := decode(got)
			var names []string
			for _, c := range v.(map[string]any)["spec"].(map[string]any)["containers"].([]any) {
				names = append(names, c.(map[string]any)["name"].(string))
			}
			if g := strings.Join(names, " "); g != tt.want {
				t.Errorf("order %q, want %q (result %s)", g, tt.want, got)
			}
		})
	}
}

func TestStrategicMergePatchErrors(t *testing.T) {
	tests := []struct {
		name, doc, patch string
		want             error
	}{
		{"malformed JSON", deployment, `{"metadata":`, ErrInvalidPatch},
		{"trailing data", deployment, `{} {}`, ErrInvalidPatch},
		{"not an object", deployment, `[{"op":"add"}]`, ErrInvalidPatch},
		{"unknown $patch", deployment, `{"metadata":{"$patch":"frobnicate"}}`, ErrInvalidPatch},
		{"unknown $patch in list", deployment, `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","$patch":"x"}]}}}}`, ErrInvalidPatch},
		{"item without merge key", deployment, `{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.16"}]}}}}`, ErrInvalidPatch},
		{"delete without merge key", deployment, `{"spec":{"template":{"spec":{"containers":[{"$patch":"delete"}]}}}}`, ErrInvalidPatch},
		{"merge list of non-objects", deployment, `{"spec":{"template":{"spec":{"containers":["nginx"]}}}}`, ErrInvalidPatch},
		{"object in a primitive set", deployment, `{"metadata":{"finalizers":[{"a":1}]}}`, ErrInvalidPatch},
		{"$setElementOrder not a list", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":{"name":"nginx"}}}}}`, ErrInvalidPatch},
		{"$setElementOrder without field", deployment, `{"spec":{"$setElementOrder":[]}}`, ErrInvalidPatch},
		{"$setElementOrder item without key", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"image":"x"}]}}}}`, ErrInvalidPatch},
		{"$setElementOrder out of order", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"name":"sidecar","image":"a"},{"name":"nginx","image":"b"}]}}}}`, ErrInvalidPatch},
		{"$deleteFromPrimitiveList not a list", deployment, `{"metadata":{"$deleteFromPrimitiveList/finalizers":"f1"}}`, ErrInvalidPatch},
		{"$deleteFromPrimitiveList without field", deployment, `{"metadata":{"$deleteFromPrimitiveList/":["f1"]}}`, ErrInvalidPatch},
		{"$retainKeys not a list", deployment, `{"spec":{"strategy":{"$retainKeys":"type"}}}`, ErrInvalidPatch},
		{"$retainKeys missing a patched field", deployment, `{"spec":{"strategy":{"$retainKeys":["type"],"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}`, ErrInvalidPatch},
		{"original not JSON", `{`, `{}`, ErrInvalidDocument},
		{"original not an object", `[]`, `{}`, ErrInvalidDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StrategicMergePatch([]byte(tt.doc), []byte(tt.patch), "Deployment")
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %s, %v; want an error wrapping %v", got, err, tt.want)
			}
			t.Log(err)
		})
	}
}
