package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// applyDeployment is a Deployment manifest whose containers and their env lists are given
// as "name:ENV1,ENV2" specs, in order.
func applyDeployment(containers ...string) string {
	var b strings.Builder
	b.WriteString(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: order
spec:
  selector:
    matchLabels: {app: order}
  template:
    metadata:
      labels: {app: order}
    spec:
      containers:
`)
	for _, c := range containers {
		name, envs, _ := strings.Cut(c, ":")
		b.WriteString("      - name: \"" + name + "\"\n        image: busybox\n")
		if envs != "" {
			b.WriteString("        env:\n")
			for _, e := range strings.Split(envs, ",") {
				b.WriteString("        - {name: \"" + e + "\", value: v}\n")
			}
		}
	}
	return b.String()
}

// names lists the "name" of each item of a JSON list.
func names(l any) string {
	items, _ := l.([]any)
	var out []string
	for _, it := range items {
		out = append(out, it.(map[string]any)["name"].(string))
	}
	return strings.Join(out, " ")
}

// TestStockKubectlApplyReorders re-applies a Deployment whose containers and env are
// reordered, with an item added in the middle and one removed. The stock kubectl sends a
// strategic merge patch carrying $setElementOrder/containers and $setElementOrder/env
// (the new order), the added items and {"$patch":"delete"} for the removed ones; the
// stored lists must follow the manifest's order. A container added out of band (by a
// strategic patch, so not in last-applied) is a server-only item: apply leaves it alone,
// and upstream's normalizeElementOrder places it among the patch items by the stored order
// as upstream's merge leaves it (see upstreamServerOrder in kubelab.io/proto/patch). The
// expected orders were checked with "kubectl patch --local", which runs upstream's
// strategicpatch on the same patch.
func TestStockKubectlApplyReorders(t *testing.T) {
	s, _ := seedServer(t)
	dir := t.TempDir()
	apply := func(manifest string) string {
		t.Helper()
		f := filepath.Join(dir, "order.yaml")
		if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		return kubectl(t, s, "apply", "-f", f)
	}
	stored := func() (containers, env string) {
		t.Helper()
		dep := adminClient(t, s).get("/apis/apps/v1/namespaces/default/deployments/order").must(t, 200).json(t)
		cs := dig(dep, "spec", "template", "spec", "containers")
		for _, c := range cs.([]any) {
			if c.(map[string]any)["name"] == "a" {
				env = names(c.(map[string]any)["env"])
			}
		}
		return names(cs), env
	}

	apply(applyDeployment("a:X,Y,Z", "b", "c"))
	if cs, env := stored(); cs != "a b c" || env != "X Y Z" {
		t.Fatalf("after create: containers %q env %q", cs, env)
	}
	// An out-of-band container, placed last by its own $setElementOrder.
	kubectl(t, s, "patch", "deployment", "order", "--type", "strategic", "-p",
		`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"side"}],"containers":[{"name":"side","image":"busybox"}]}}}}`)

	// Reverse the containers, add n in the middle, drop b; in a, reverse env, add W in
	// the middle and drop Y.
	if out := apply(applyDeployment("c", "n", "a:Z,W,X")); !strings.Contains(out, "configured") {
		t.Fatalf("re-apply: %s", out)
	}
	// Upstream deletes b in place and appends n into the freed slot, so side is placed by
	// [a c side n]: after c, before n.
	if cs, env := stored(); cs != "c side n a" || env != "Z W X" {
		t.Errorf("after re-apply: containers %q (want \"c side n a\"), env %q (want \"Z W X\")", cs, env)
	}

	// A pure reorder: the patch is only $setElementOrder. side stood before a, n and c,
	// so it stays before them.
	apply(applyDeployment("a:X,Z,W", "n", "c"))
	if cs, env := stored(); cs != "side a n c" || env != "X Z W" {
		t.Errorf("after reorder-only apply: containers %q (want \"side a n c\"), env %q (want \"X Z W\")", cs, env)
	}
}
