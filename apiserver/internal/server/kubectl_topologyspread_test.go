package server

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const spreadDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
spec:
  replicas: 3
  selector:
    matchLabels: {app: spread}
  template:
    metadata:
      labels: {app: spread}
    spec:
      topologySpreadConstraints:
      - maxSkew: MAXSKEW
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: DoNotSchedule
        minDomains: 2
        labelSelector:
          matchLabels: {app: spread}
        matchLabelKeys: [pod-template-hash]
        nodeAffinityPolicy: Honor
      EXTRA
      containers:
      - name: nginx
        image: nginx:1.14.2
`

// TestStockKubectlApplyTopologySpread applies a Deployment whose pod template spreads its
// pods (the stock kubectl's strict decoding refuses fields the OpenAPI lacks), re-applies
// it with a changed and an added constraint (a strategic merge patch keyed by
// topologyKey), and sees a constraint apiserver validation refuses in upstream's words.
func TestStockKubectlApplyTopologySpread(t *testing.T) {
	s, _ := seedServer(t)
	dir := t.TempDir()
	apply := func(maxSkew, extra string) (string, error) {
		t.Helper()
		f := filepath.Join(dir, "spread.yaml")
		m := strings.NewReplacer("MAXSKEW", maxSkew, "EXTRA", extra).Replace(spreadDeployment)
		if err := os.WriteFile(f, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		return kubectlErr(t, s, "apply", "-f", f)
	}
	stored := func() any {
		t.Helper()
		dep := adminClient(t, s).get("/apis/apps/v1/namespaces/default/deployments/spread").must(t, 200).json(t)
		return dig(dep, "spec", "template", "spec", "topologySpreadConstraints")
	}
	zone := func(maxSkew float64) map[string]any {
		return map[string]any{
			"maxSkew": maxSkew, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
			"minDomains": float64(2), "labelSelector": map[string]any{"matchLabels": map[string]any{"app": "spread"}},
			"matchLabelKeys": []any{"pod-template-hash"}, "nodeAffinityPolicy": "Honor",
		}
	}

	if out, err := apply("1", ""); err != nil || !strings.Contains(out, "deployment.apps/spread created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if got, want := stored(), []any{zone(1)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after create:\ngot  %v\nwant %v", got, want)
	}

	host := "- {maxSkew: 3, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: spread}}}"
	if out, err := apply("2", host); err != nil || !strings.Contains(out, "configured") {
		t.Fatalf("re-apply: %v\n%s", err, out)
	}
	want := []any{zone(2), map[string]any{
		"maxSkew": float64(3), "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
		"labelSelector": map[string]any{"matchLabels": map[string]any{"app": "spread"}},
	}}
	if got := stored(); !reflect.DeepEqual(got, want) {
		t.Errorf("after re-apply:\ngot  %v\nwant %v", got, want)
	}

	out, err := apply("0", host)
	if err == nil || !strings.Contains(out, "spec.template.spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero") {
		t.Errorf("apply maxSkew 0: %v\n%s", err, out)
	}
}
