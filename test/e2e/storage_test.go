package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPersistentVolumesOnContainerd follows a StatefulSet's claim from template to disk and
// back, on a cluster brought up as `make up` brings it (the default StorageClass "standard"
// included, its volumes under the cluster's $KUBELAB_DIR/local-path): the statefulset
// controller makes claim www-db-0 before pod db-0; the scheduler's VolumeBinding picks the
// node and marks the claim; the local-path provisioner makes a hostPath PV on that node and
// the binder binds both; the kubelet mounts it, so nginx serves a page written into the
// volume. The pod deleted, its successor mounts the same claim and serves the same page.
// The set deleted, the claim stays (retention Retain); the claim deleted, the provisioner's
// helper pod removes the directory and the PV goes. A pod's generic ephemeral volume takes
// the same road, its claim made by the ephemeral-volume controller and deleted with the pod.
//
// It needs root, containerd and the tools the journey needs; it says why when it skips.
func TestPersistentVolumesOnContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("storage e2e: -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("storage e2e: needs root (containerd, CNI bridge); run `sudo go test ./test/e2e -run PersistentVolumes`")
	}
	for _, c := range []string{"containerd", "runc", "ctr", "iptables", "skopeo", "openssl", "curl"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("storage e2e: %s is missing; run hack/install-deps.sh (or make node-deps)", c)
		}
	}
	if _, err := os.Stat("/usr/bin/docker-registry"); err != nil {
		t.Skip("storage e2e: /usr/bin/docker-registry is missing; run hack/install-deps.sh")
	}
	c := newLocalCluster(t)
	c.env = append(c.env, "KUBELAB_APPLY=0") // no seed Deployment: this test brings its own pods
	t0 := time.Now()
	if out, err := c.script("local-up.sh", nil); err != nil {
		if strings.Contains(out, "containerd: did not come up") {
			t.Skipf("storage e2e: containerd cannot start on this machine:\n%s", tail(out, 30))
		}
		t.Fatalf("local-up.sh: %v\n%s", err, tail(out, 60))
	}
	t.Logf("local-up.sh: %v", time.Since(t0).Round(time.Millisecond))
	if got := c.mustGet(t, "get", "storageclass", "standard", "-o", "jsonpath={.provisioner} {.parameters.path}"); got != "kubelab.io/local-path "+filepath.Join(c.dir, "local-path") {
		t.Fatalf("default class standard: %q", got)
	}

	manifest := filepath.Join(t.TempDir(), "db.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        volumeMounts: [{name: www, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 16Mi}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.kubectl("apply", "-f", manifest); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.kubectl("get", "pods,pvc,pv,events", "-A", "-o", "wide")
			t.Logf("---- pods, claims, volumes, events\n%s", out)
		}
	})

	running := func(uidNot string) (uid, ip string) {
		waitFor(t, 90*time.Second, "db-0 Running on its claim", func() bool {
			out, err := c.kubectl("get", "pod", "db-0", "-o", "jsonpath={.metadata.uid} {.status.phase} {.status.podIP} {.metadata.deletionTimestamp}")
			f := strings.Fields(out)
			if err != nil || len(f) != 3 || f[0] == uidNot || f[1] != "Running" {
				return false
			}
			uid, ip = f[0], f[2]
			return true
		})
		return uid, ip
	}
	uid, ip := running("")
	var claim struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			VolumeName       string `json:"volumeName"`
			StorageClassName string `json:"storageClassName"`
		} `json:"spec"`
		Status struct {
			Phase string `json:"phase"`
		} `json:"status"`
	}
	out := c.mustGet(t, "get", "pvc", "www-db-0", "-o", "json")
	if err := json.Unmarshal([]byte(out), &claim); err != nil {
		t.Fatalf("claim www-db-0: %v\n%s", err, out)
	}
	if claim.Status.Phase != "Bound" || claim.Spec.StorageClassName != "standard" || claim.Metadata.Annotations["volume.kubernetes.io/selected-node"] != "journey-node" {
		t.Fatalf("claim www-db-0 is not Bound to a PV of class standard with selected-node journey-node:\n%s", out)
	}
	pv := claim.Spec.VolumeName
	dir := c.mustGet(t, "get", "pv", pv, "-o", "jsonpath={.spec.hostPath.path}")
	if !strings.HasPrefix(dir, filepath.Join(c.dir, "local-path")+"/") {
		t.Fatalf("PV %s at %q, want under %s", pv, dir, filepath.Join(c.dir, "local-path"))
	}

	// Written through the pod, served by nginx, and on the node's disk.
	const page = "kept by www-db-0"
	if out, err := c.kubectl("exec", "db-0", "--", "/usr/local/bin/kubelab-tool", "write", "/usr/share/nginx/html/index.html", page); err != nil {
		t.Fatalf("write into the volume: %v\n%s", err, out)
	}
	expectPage(t, ip, page)
	if b, err := os.ReadFile(filepath.Join(dir, "index.html")); err != nil || strings.TrimSpace(string(b)) != page {
		t.Fatalf("the PV's directory holds %q, %v; want the page", b, err)
	}

	// A new pod under the same name mounts the same claim.
	if out, err := c.kubectl("delete", "pod", "db-0", "--wait=false"); err != nil {
		t.Fatalf("delete pod: %v\n%s", err, out)
	}
	_, ip = running(uid)
	expectPage(t, ip, page)
	if got := c.mustGet(t, "get", "pvc", "-o", "name"); got != "persistentvolumeclaim/www-db-0" {
		t.Fatalf("claims after the pod came back: %q, want only www-db-0", got)
	}

	// The set goes, the claim stays (Retain); the claim goes, so do the PV and its directory.
	if out, err := c.kubectl("delete", "statefulset", "db"); err != nil {
		t.Fatalf("delete statefulset: %v\n%s", err, out)
	}
	waitFor(t, 60*time.Second, "db-0 gone", func() bool {
		out, _ := c.kubectl("get", "pods", "-l", "app=db", "-o", "name")
		return strings.TrimSpace(out) == ""
	})
	if got := c.mustGet(t, "get", "pvc", "www-db-0", "-o", "jsonpath={.status.phase}"); got != "Bound" {
		t.Fatalf("claim after its set was deleted: %q, want still Bound (retention Retain)", got)
	}
	if out, err := c.kubectl("delete", "pvc", "www-db-0"); err != nil {
		t.Fatalf("delete pvc: %v\n%s", err, out)
	}
	waitFor(t, 90*time.Second, "PV "+pv+" and its directory gone", func() bool {
		out, err := c.kubectl("get", "pv", "-o", "name")
		if err != nil || strings.TrimSpace(out) != "" {
			return false
		}
		_, err = os.Stat(dir)
		return errors.Is(err, os.ErrNotExist)
	})

	// A generic ephemeral volume: the ephemeral-volume controller makes claim scratch-data
	// owned by the pod, which then goes through the same binding and mount; the pod deleted,
	// the garbage collector deletes its claim, and the volume and its directory follow.
	scratch := filepath.Join(t.TempDir(), "scratch.yaml")
	if err := os.WriteFile(scratch, []byte(`apiVersion: v1
kind: Pod
metadata: {name: scratch}
spec:
  containers:
  - name: nginx
    image: nginx:1.14.2
    volumeMounts: [{name: data, mountPath: /usr/share/nginx/html}]
  volumes:
  - name: data
    ephemeral:
      volumeClaimTemplate:
        metadata: {labels: {kind: scratch}}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 8Mi}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.kubectl("apply", "-f", scratch); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	waitFor(t, 90*time.Second, "pod scratch Running on its ephemeral claim", func() bool {
		out, err := c.kubectl("get", "pod", "scratch", "-o", "jsonpath={.status.phase}")
		return err == nil && out == "Running"
	})
	owner := c.mustGet(t, "get", "pvc", "scratch-data", "-o", "jsonpath={.status.phase} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.spec.volumeName}")
	f := strings.Fields(owner)
	if len(f) != 3 || f[0] != "Bound" || f[1] != "Pod/scratch" {
		t.Fatalf("claim scratch-data: %q, want Bound and owned by Pod/scratch", owner)
	}
	scratchDir := c.mustGet(t, "get", "pv", f[2], "-o", "jsonpath={.spec.hostPath.path}")
	const note = "scratch space"
	if out, err := c.kubectl("exec", "scratch", "--", "/usr/local/bin/kubelab-tool", "write", "/usr/share/nginx/html/index.html", note); err != nil {
		t.Fatalf("write into the ephemeral volume: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(scratchDir, "index.html")); err != nil || strings.TrimSpace(string(b)) != note {
		t.Fatalf("the ephemeral volume's directory holds %q, %v", b, err)
	}
	if out, err := c.kubectl("delete", "pod", "scratch"); err != nil {
		t.Fatalf("delete pod: %v\n%s", err, out)
	}
	waitFor(t, 90*time.Second, "the ephemeral claim, its volume and directory gone with the pod", func() bool {
		claims, err1 := c.kubectl("get", "pvc", "-o", "name")
		pvs, err2 := c.kubectl("get", "pv", "-o", "name")
		_, err := os.Stat(scratchDir)
		return err1 == nil && err2 == nil && strings.TrimSpace(claims) == "" && strings.TrimSpace(pvs) == "" && errors.Is(err, os.ErrNotExist)
	})
}

// expectPage waits until nginx at ip answers GET / with page (a fresh pod may not listen
// yet).
func expectPage(t *testing.T, ip, page string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 15*time.Second, "nginx at "+ip+" serving the volume's page", func() bool {
		resp, err := client.Get("http://" + ip + "/")
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Logf("GET %s: %v", ip, err)
			}
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200 && strings.TrimSpace(string(b)) == page
	})
}
