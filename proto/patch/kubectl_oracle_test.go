package patch

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubectlOracle compares StrategicMergePatch with the strategic merge
// patch of a real kubectl ("kubectl patch --local", which runs
// k8s.io/apimachinery's strategicpatch on the client). It needs kubectl on
// PATH and is opt-in:
//
//	PATCH_KUBECTL_ORACLE=1 go test ./patch/ -run KubectlOracle
//
// PATCH_KUBECTL_ORACLE_RANDOM=N adds N randomly assembled patches.
func TestKubectlOracle(t *testing.T) {
	if os.Getenv("PATCH_KUBECTL_ORACLE") == "" {
		t.Skip("set PATCH_KUBECTL_ORACLE=1 to compare with kubectl patch --local")
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found")
	}
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","finalizers":["a"]},
	  "spec":{"containers":[{"name":"app","image":"app:1","volumeMounts":[{"name":"data","mountPath":"/data"}]}],
	    "volumes":[{"name":"data","emptyDir":{}}]},
	  "status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}}`
	pod2 := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i","command":["x","y"]}],"securityContext":{"runAsUser":1}}}`
	node := `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"spec":{"podCIDRs":["10.0.0.0/24"],"taints":[{"key":"a","effect":"NoSchedule"}]},
	  "status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"1.2.3.4"}]}}`

	pod3 := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"i"},{"name":"b","image":"i"},{"name":"c","image":"i"}]}}`

	type tc struct{ kind, doc, patch string }
	cases := []tc{
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.16","name":"nginx"}]}}}}`},
		{"Deployment", deployment, `{"metadata":{"labels":{"tier":"web","app":null}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-25T10:00:00Z"}}}}}`},
		{"Deployment", deployment, `{"spec":{"paused":true}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"name":"A","value":"2"}],"name":"nginx"}]}}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"$setElementOrder/env":[{"name":"B"},{"name":"A"}],"env":[{"name":"B","value":"b"}],"name":"nginx"}]}}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"$patch":"delete","name":"sidecar"}]}}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"x:1"},{"$patch":"replace"}]}}}}`},
		{"Deployment", deployment, `{"spec":{"selector":{"$patch":"replace","matchLabels":{"app":"y"}}}}`},
		{"Deployment", deployment, `{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}}`},
		{"Deployment", deployment, `{"metadata":{"$deleteFromPrimitiveList/finalizers":["f1"]}}`},
		{"Deployment", deployment, `{"metadata":{"finalizers":["f3","f1"]}}`},
		{"Deployment", deployment, `{"metadata":{"$setElementOrder/finalizers":["f1","f3"],"$deleteFromPrimitiveList/finalizers":["f2"],"finalizers":["f3"]}}`},
		{"Deployment", deployment, `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Thing","name":"o2","uid":"o-2"},{"uid":"o-1","controller":true}]}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","ports":[{"containerPort":443}]}]}}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"tolerations":[{"key":"k2","operator":"Exists"}]}}}}`},
		{"Deployment", deployment, `{"status":{"conditions":[{"type":"Available","status":"False"}]}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"containers":[{"name":"d"},{"name":"nginx","image":"n"}]}}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"s"},{"name":"d"}]}}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"n"}],"containers":[{"name":"n","image":"n"}]}}}}`},
		{"Deployment", deployment, `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"n"}],"containers":[{"name":"n","image":"n"},{"name":"nginx","$patch":"delete"}]}}}}`},
		{"Pod", pod3, `{"spec":{"$setElementOrder/containers":[{"name":"n"},{"name":"a"}],"containers":[{"name":"n","image":"i"},{"name":"b","$patch":"delete"}]}}`},
		{"Pod", pod3, `{"spec":{"$setElementOrder/containers":[{"name":"n"},{"name":"c"}],"containers":[{"name":"n","image":"i"},{"name":"a","$patch":"delete"}]}}`},
		{"Pod", pod3, `{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"n"},{"name":"m"}],"containers":[{"name":"n","image":"i"},{"name":"m","image":"i"},{"name":"a","$patch":"delete"},{"name":"b","$patch":"delete"}]}}`},
		{"Pod", pod, `{"spec":{"containers":[{"name":"app","volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg"}]}],"volumes":[{"name":"cfg","configMap":{"name":"c"}}]}}`},
		{"Pod", pod, `{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Initialized","status":"True"}]}}`},
		{"Pod", pod, `{"spec":{"volumes":[{"$retainKeys":["configMap","name"],"name":"data","configMap":{"name":"c"}}]}}`},
		{"Pod", pod2, `{"spec":{"containers":[{"name":"c","$deleteFromPrimitiveList/command":["x"]}]}}`},
		{"Pod", pod2, `{"spec":{"securityContext":{"$patch":"delete"}}}`},
		{"Pod", pod2, `{"spec":{"containers":[{"name":"c","ports":[{"containerPort":1,"$patch":"delete"},{"containerPort":2}]}]}}`},
		{"Pod", pod2, `{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"1"},"requests":null}}]}}`},
		{"Pod", pod2, `{"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1","valueFrom":null}]}]}}`},
		{"Pod", pod2, `{"metadata":{"labels":{"$patch":"frob"}}}`},
		{"Pod", pod2, `{"spec":{"containers":[{"image":"no-name"}]}}`},
		{"Node", node, `{"spec":{"podCIDRs":["fd00::/64"],"taints":[{"key":"b","effect":"NoExecute"}]},"status":{"conditions":[{"type":"MemoryPressure","status":"False"}],"addresses":[{"type":"Hostname","address":"n"}]}}`},
	}

	// Random patches assembled from pieces kubectl emits.
	pieces := []string{
		`"metadata":{"labels":{"tier":"web"}}`,
		`"metadata":{"labels":{"app":null},"finalizers":["f3"]}`,
		`"metadata":{"$deleteFromPrimitiveList/finalizers":["f2","f9"]}`,
		`"metadata":{"$setElementOrder/finalizers":["f2","f1"]}`,
		`"spec":{"replicas":5}`,
		`"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"i"}]}}}`,
		`"spec":{"template":{"spec":{"containers":[{"name":"new","image":"i"}]}}}`,
		`"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}`,
		`"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"B","value":"b"},{"name":"A","value":"a"}]}]}}}`,
		`"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","$patch":"delete"}],"ports":[{"containerPort":81}]}]}}}`,
		`"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}}}`,
		`"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"new"},{"name":"sidecar"}],"containers":[{"name":"new","image":"i"}]}}}`,
		`"spec":{"template":{"spec":{"tolerations":null,"restartPolicy":"Never"}}}`,
		`"spec":{"template":{"metadata":{"annotations":{"a":"b"}}}}`,
		`"status":{"conditions":[{"type":"Progressing","status":"False"},{"type":"ReplicaFailure","status":"True"}]}`,
		`"spec":{"strategy":{"$retainKeys":["rollingUpdate","type"],"rollingUpdate":{"maxSurge":2}}}`,
	}
	n := 0
	fmt.Sscan(os.Getenv("PATCH_KUBECTL_ORACLE_RANDOM"), &n)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		var parts []string
		for j := 0; j < 1+rng.Intn(3); j++ {
			parts = append(parts, "{"+pieces[rng.Intn(len(pieces))]+"}")
		}
		// Combine the pieces with a merge patch of patches (objects merge,
		// later lists win).
		p := []byte(parts[0])
		for _, q := range parts[1:] {
			var err error
			if p, err = MergeJSON(p, []byte(q)); err != nil {
				t.Fatal(err)
			}
		}
		cases = append(cases, tc{"Deployment", deployment, string(p)})
	}

	dir := t.TempDir()
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			want, kerr := kubectlPatch(t, kubectl, dir, c.doc, c.patch)
			got, err := StrategicMergePatch([]byte(c.doc), []byte(c.patch), c.kind)
			if kerr != nil || err != nil {
				if (kerr == nil) != (err == nil) {
					t.Errorf("patch %s\nkubectl error: %v\nour error: %v\nour result: %s", c.patch, kerr, err, got)
				}
				return
			}
			// Round-trip ours through kubectl too, so both are normalized the same way.
			norm, err := kubectlPatch(t, kubectl, dir, string(got), `{}`)
			if err != nil {
				t.Fatalf("normalizing %s: %v", got, err)
			}
			if !bytes.Equal(norm, want) {
				t.Errorf("patch %s\nkubectl: %s\nours:    %s", c.patch, want, norm)
			}
		})
	}
}

func kubectlPatch(t *testing.T, kubectl, dir, doc, patch string) ([]byte, error) {
	t.Helper()
	f := filepath.Join(dir, "doc.json")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubectl, "patch", "--local", "-f", f, "--type", "strategic", "-p", patch, "-o", "json")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "none"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	v, err := decode(out)
	if err != nil {
		return nil, err
	}
	return encode(v)
}
