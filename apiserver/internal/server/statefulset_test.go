package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const statefulsets = "/apis/apps/v1/namespaces/default/statefulsets"

// webStatefulSet is the manifest of Kubernetes' StatefulSet tutorial, with its
// volumeClaimTemplates.
const webStatefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: nginx
  serviceName: nginx
  replicas: 2
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ "ReadWriteOnce" ]
      resources:
        requests:
          storage: 1Gi
`

// TestStatefulSetKind: StatefulSets are served as apps/v1 serves them: upstream's defaults
// and validation messages (volumeClaimTemplates defaulted and validated as claims), status
// and scale subresources, and the stock kubectl's create -f, get sts (NAME READY AGE) and scale sts.
func TestStatefulSetKind(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)

	if r := discovered(t, c, "/apis/apps/v1", "statefulsets"); r["namespaced"] != true || r["kind"] != "StatefulSet" ||
		dig(r, "shortNames", 0) != "sts" || dig(r, "categories", 0) != "all" {
		t.Errorf("discovery of statefulsets in apps/v1: %v", r)
	}
	if r := discovered(t, c, "/apis/apps/v1", "statefulsets/scale"); r["group"] != "autoscaling" || r["kind"] != "Scale" {
		t.Errorf("discovery of statefulsets/scale: %v", r)
	}

	manifest := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(manifest, []byte(webStatefulSet), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := kubectl(t, s, "create", "-f", manifest); !strings.Contains(out, "statefulset.apps/web created") {
		t.Errorf("kubectl create -f: %s", out)
	}
	got := c.get(statefulsets+"/web").must(t, http.StatusOK).json(t)
	for path, want := range map[string]any{
		"spec.replicas":                                         float64(2),
		"spec.serviceName":                                      "nginx",
		"spec.podManagementPolicy":                              "OrderedReady",
		"spec.updateStrategy.type":                              "RollingUpdate",
		"spec.updateStrategy.rollingUpdate.partition":           float64(0),
		"spec.revisionHistoryLimit":                             float64(10),
		"spec.persistentVolumeClaimRetentionPolicy.whenDeleted": "Retain",
		"spec.persistentVolumeClaimRetentionPolicy.whenScaled":  "Retain",
		"spec.template.spec.restartPolicy":                      "Always",
		"status.replicas":                                       float64(0),
		"status.availableReplicas":                              float64(0),
		"metadata.generation":                                   float64(1),
	} {
		if g := digPath(got, path); g != want {
			t.Errorf("%s = %#v, want %#v", path, g, want)
		}
	}
	// Templates are defaulted as claims are.
	if g := dig(got, "spec", "volumeClaimTemplates", 0, "spec", "volumeMode"); g != "Filesystem" {
		t.Errorf("volumeClaimTemplates[0].spec.volumeMode = %#v, want Filesystem", g)
	}
	if g := dig(got, "spec", "volumeClaimTemplates", 0, "status", "phase"); g != "Pending" {
		t.Errorf("volumeClaimTemplates[0].status.phase = %#v, want Pending", g)
	}

	for _, tc := range []struct{ body, want string }{
		{`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},"spec":{"serviceName":"db","selector":{"matchLabels":{"app":"db"}},"template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"nginx","volumeMounts":[{"name":"data","mountPath":"/data"}]}]}},"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"]}}]}}`,
			`StatefulSet.apps "db" is invalid: spec.volumeClaimTemplates[0].spec.resources[storage]: Required value`},
		{`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"bad"},"spec":{"podManagementPolicy":"Burst","selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`,
			`spec.podManagementPolicy: Invalid value: "Burst": must be 'OrderedReady' or 'Parallel'`},
		{`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"bad"},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"y"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`,
			"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`"},
		{`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"web.x"},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`,
			`metadata.name: Invalid value: "web.x": must not contain dots`},
	} {
		st := c.post(statefulsets, tc.body).must(t, http.StatusUnprocessableEntity).json(t)
		if !strings.Contains(str(st["message"]), tc.want) {
			t.Errorf("message = %q\nwant      %q", st["message"], tc.want)
		}
	}
	st := c.do("PATCH", statefulsets+"/web", "application/merge-patch+json", `{"spec":{"serviceName":"other"}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if want := "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"; !strings.Contains(str(st["message"]), want) {
		t.Errorf("serviceName update: %v", st["message"])
	}
	// maxUnavailable is an alpha field whose gate is off: dropped, as kube-apiserver 1.32 does.
	got = c.do("PATCH", statefulsets+"/web", "application/merge-patch+json", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1,"maxUnavailable":2}}}}`).
		must(t, http.StatusOK).json(t)
	if ru, _ := digPath(got, "spec.updateStrategy.rollingUpdate").(map[string]any); len(ru) != 1 || ru["partition"] != float64(1) {
		t.Errorf("rollingUpdate = %v", ru)
	}
	c.do("PATCH", statefulsets+"/web/status", "application/merge-patch+json", `{"status":{"replicas":2,"readyReplicas":1,"currentReplicas":2,"updatedReplicas":2,"availableReplicas":1}}`).
		must(t, http.StatusOK)

	out := kubectl(t, s, "get", "sts")
	for _, want := range []string{"NAME   READY   AGE", "web    1/2"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get sts lacks %q:\n%s", want, out)
		}
	}
	out = kubectl(t, s, "get", "sts", "-o", "wide")
	if !strings.Contains(out, "CONTAINERS   IMAGES") || !strings.Contains(out, "nginx        nginx:1.14.2") {
		t.Errorf("kubectl get sts -o wide:\n%s", out)
	}
	if out := kubectl(t, s, "scale", "sts", "web", "--replicas=5"); !strings.Contains(out, "statefulset.apps/web scaled") {
		t.Errorf("kubectl scale: %s", out)
	}
	sc := c.get(statefulsets+"/web/scale").must(t, http.StatusOK).json(t)
	if digPath(sc, "spec.replicas") != float64(5) || digPath(sc, "status.replicas") != float64(2) || digPath(sc, "status.selector") != "app=nginx" {
		t.Errorf("scale = %v", sc)
	}
	if out := kubectl(t, s, "get", "all"); !strings.Contains(out, "statefulset.apps/web") {
		t.Errorf("kubectl get all lacks the statefulset:\n%s", out)
	}
}
