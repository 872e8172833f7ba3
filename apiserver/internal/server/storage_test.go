package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
)

const (
	persistentVolumes = "/api/v1/persistentvolumes"
	pvcPath           = "/api/v1/namespaces/default/persistentvolumeclaims"
	storageClasses    = "/apis/storage.k8s.io/v1/storageclasses"
)

func hostPathPVJSON(name string) string {
	return `{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"` + name + `"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"storageClassName":"manual","hostPath":{"path":"/data/` + name + `"}}}`
}

func claimJSON(name, class string) string {
	c := ""
	if class != "-" {
		c = `,"storageClassName":"` + class + `"`
	}
	return `{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"` + name + `"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}` + c + `}}`
}

// invalidField posts body, wants a 422 and returns its first cause's field and the message.
func invalidField(t *testing.T, c *apiClient, path, body string) (string, string) {
	t.Helper()
	st := c.post(path, body).must(t, http.StatusUnprocessableEntity).json(t)
	return str(dig(st, "details", "causes", 0, "field")), str(st["message"])
}

// TestPersistentVolumeKinds: PersistentVolumes and PersistentVolumeClaims (core/v1) and
// StorageClasses (storage.k8s.io/v1) are served as upstream serves them: discovery with
// their short names, defaults, the status subresource, validation's field causes and
// messages, and watches.
func TestPersistentVolumeKinds(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)

	for _, d := range []struct{ path, name, kind, short string }{
		{"/api/v1", "persistentvolumes", "PersistentVolume", "pv"},
		{"/api/v1", "persistentvolumeclaims", "PersistentVolumeClaim", "pvc"},
		{"/apis/storage.k8s.io/v1", "storageclasses", "StorageClass", "sc"},
	} {
		r := discovered(t, c, d.path, d.name)
		if r == nil || r["kind"] != d.kind || dig(r, "shortNames", 0) != d.short || r["namespaced"] != (d.name == "persistentvolumeclaims") {
			t.Errorf("discovery of %s: %v", d.name, r)
		}
	}
	if r := discovered(t, c, "/api/v1", "persistentvolumes/status"); r == nil {
		t.Error("no persistentvolumes/status in discovery")
	}

	// A StorageClass gets upstream's defaults; what provisioned volumes depend on is immutable.
	sc := c.post(storageClasses, `{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"slow"},"provisioner":"example.com/slow","parameters":{"tier":"hdd"}}`).
		must(t, http.StatusCreated).json(t)
	if sc["reclaimPolicy"] != "Delete" || sc["volumeBindingMode"] != "Immediate" {
		t.Errorf("storage class defaults: %v", sc)
	}
	if f, msg := invalidField(t, c, storageClasses, `{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"none"}}`); f != "provisioner" ||
		!strings.Contains(msg, `StorageClass.storage.k8s.io "none" is invalid: provisioner: Required value`) {
		t.Errorf("class without provisioner: %s %s", f, msg)
	}
	st := c.do("PATCH", storageClasses+"/slow", "application/merge-patch+json", `{"parameters":{"tier":"ssd"}}`).must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "parameters: Forbidden: updates to parameters are forbidden.") {
		t.Errorf("parameter change: %v", st["message"])
	}
	c.do("PATCH", storageClasses+"/slow", "application/merge-patch+json", `{"allowVolumeExpansion":true}`).must(t, http.StatusOK)

	// A PersistentVolume: Retain and Filesystem by default, Pending since its creation, no
	// generation (upstream's strategy sets none).
	pv := c.post(persistentVolumes, hostPathPVJSON("pv1")).must(t, http.StatusCreated).json(t)
	if dig(pv, "spec", "persistentVolumeReclaimPolicy") != "Retain" || dig(pv, "spec", "volumeMode") != "Filesystem" ||
		dig(pv, "status", "phase") != "Pending" || dig(pv, "status", "lastPhaseTransitionTime") != dig(pv, "metadata", "creationTimestamp") ||
		dig(pv, "metadata", "generation") != nil || dig(pv, "spec", "hostPath", "type") != "" {
		t.Errorf("pv1 = %v", pv)
	}
	for _, tc := range []struct{ body, field, want string }{
		{`{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"bad"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"local":{"path":"/mnt/disk"}}}`,
			"spec.nodeAffinity", "spec.nodeAffinity: Required value: Local volume requires node affinity"},
		{`{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"bad"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"]}}`,
			"spec", "spec: Required value: must specify a volume type"},
		{`{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"bad"},"spec":{"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/x"}}}`,
			"spec.capacity", "spec.capacity: Required value"},
		{`{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"bad"},"spec":{"capacity":{"storage":"1Gi"},"hostPath":{"path":"/x"}}}`,
			"spec.accessModes", "spec.accessModes: Required value"},
		{`{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"bad"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{}}}`,
			"spec.hostPath.path", "spec.hostPath.path: Required value"},
	} {
		if f, msg := invalidField(t, c, persistentVolumes, tc.body); f != tc.field || !strings.Contains(msg, tc.want) {
			t.Errorf("field %q message %q\nwant %q %q", f, msg, tc.field, tc.want)
		}
	}
	// The source is immutable.
	st = c.do("PATCH", persistentVolumes+"/pv1", "application/merge-patch+json", `{"spec":{"hostPath":{"path":"/elsewhere"}}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation") {
		t.Errorf("source change: %v", st["message"])
	}

	// Claims: accessModes and a positive storage request, with upstream's field paths.
	for _, tc := range []struct{ body, field, want string }{
		{`{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"bad"},"spec":{"resources":{"requests":{"storage":"1Gi"}}}}`,
			"spec.accessModes", "spec.accessModes: Required value: at least 1 access mode is required"},
		{`{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"bad"},"spec":{"accessModes":["ReadWriteOnce"]}}`,
			"spec.resources[storage]", "spec.resources[storage]: Required value"},
		{`{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"bad"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"0"}}}}`,
			"spec.resources[storage]", `spec.resources[storage]: Invalid value: "0": must be greater than zero`},
	} {
		if f, msg := invalidField(t, c, pvcPath, tc.body); f != tc.field || !strings.Contains(msg, tc.want) {
			t.Errorf("field %q message %q\nwant %q %q", f, msg, tc.field, tc.want)
		}
	}

	// Watch claims while one is created, bound by its status and spec, then deleted.
	pvc := c.post(pvcPath, claimJSON("data", "manual")).must(t, http.StatusCreated).json(t)
	if dig(pvc, "status", "phase") != "Pending" || dig(pvc, "spec", "volumeMode") != "Filesystem" || dig(pvc, "metadata", "generation") != nil {
		t.Errorf("data = %v", pvc)
	}
	events := watchEvents(t, c, pvcPath+"?watch=1&resourceVersion="+str(dig(pvc, "metadata", "resourceVersion")))
	// The binder's two writes: spec.volumeName once, then the status.
	c.do("PATCH", pvcPath+"/data", "application/merge-patch+json", `{"spec":{"volumeName":"pv1"}}`).must(t, http.StatusOK)
	got := c.do("PATCH", pvcPath+"/data/status", "application/merge-patch+json",
		`{"status":{"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{"storage":"1Gi"}}}`).must(t, http.StatusOK).json(t)
	if dig(got, "status", "phase") != "Bound" || dig(got, "spec", "volumeName") != "pv1" {
		t.Errorf("bound claim = %v", got)
	}
	// Bound, the claim keeps its volume and its class.
	st = c.do("PATCH", pvcPath+"/data", "application/merge-patch+json", `{"spec":{"volumeName":"pv2"}}`).must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "spec: Forbidden: spec is immutable after creation") {
		t.Errorf("volumeName change: %v", st["message"])
	}
	// The main resource cannot change the status.
	c.do("PATCH", pvcPath+"/data", "application/merge-patch+json", `{"status":{"phase":"Lost"}}`).must(t, http.StatusOK)
	if ph := dig(c.get(pvcPath+"/data").must(t, http.StatusOK).json(t), "status", "phase"); ph != "Bound" {
		t.Errorf("phase after a main-resource write = %v", ph)
	}
	for _, w := range []string{"MODIFIED data volumeName=pv1", "MODIFIED data phase=Bound"} {
		select {
		case ev := <-events:
			got := fmt.Sprintf("%s %s volumeName=%s", ev["type"], dig(ev, "object", "metadata", "name"), dig(ev, "object", "spec", "volumeName"))
			if strings.Contains(w, "phase=") {
				got = fmt.Sprintf("%s %s phase=%s", ev["type"], dig(ev, "object", "metadata", "name"), dig(ev, "object", "status", "phase"))
			}
			if got != w {
				t.Errorf("event %q, want %q", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event %q", w)
		}
	}

	// A volume's phase moves through its status subresource, with its transition time.
	got = c.do("PATCH", persistentVolumes+"/pv1/status", "application/merge-patch+json", `{"status":{"phase":"Available"}}`).must(t, http.StatusOK).json(t)
	if dig(got, "status", "phase") != "Available" || dig(got, "status", "lastPhaseTransitionTime") == nil {
		t.Errorf("pv1 status = %v", got["status"])
	}

	// Lists.
	list := c.get(persistentVolumes).must(t, http.StatusOK).json(t)
	if list["kind"] != "PersistentVolumeList" || len(list["items"].([]any)) != 1 {
		t.Errorf("list = %v", list)
	}
	list = c.get("/api/v1/persistentvolumeclaims").must(t, http.StatusOK).json(t)
	if list["kind"] != "PersistentVolumeClaimList" || len(list["items"].([]any)) != 1 {
		t.Errorf("list across namespaces = %v", list)
	}
}

// watchEvents opens a JSON watch on path and delivers its events until the test ends.
func watchEvents(t *testing.T, c *apiClient, path string) <-chan map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch %s answered %d", path, resp.StatusCode)
	}
	events := make(chan map[string]any, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
	}()
	return events
}

// TestStorageKubectl: the stock kubectl's get pv,pvc,sc prints upstream's columns from the
// server's tables, with the default class marked.
func TestStorageKubectl(t *testing.T) {
	s, _ := seedServer(t)
	c := adminClient(t, s)
	c.post(storageClasses, `{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"standard","annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},"provisioner":"rancher.io/local-path","volumeBindingMode":"WaitForFirstConsumer"}`).
		must(t, http.StatusCreated)
	c.post(persistentVolumes, hostPathPVJSON("pv1")).must(t, http.StatusCreated)
	c.post(pvcPath, claimJSON("data", "manual")).must(t, http.StatusCreated)

	out := kubectl(t, s, "get", "pv,pvc,sc")
	for _, want := range []string{
		"NAME                   CAPACITY   ACCESS MODES   RECLAIM POLICY   STATUS    CLAIM   STORAGECLASS   VOLUMEATTRIBUTESCLASS   REASON   AGE",
		"persistentvolume/pv1   1Gi        RWO            Retain           Pending           manual         <unset>",
		"NAME                         STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   VOLUMEATTRIBUTESCLASS   AGE",
		"persistentvolumeclaim/data   Pending                                      manual         <unset>",
		"NAME                                             PROVISIONER             RECLAIMPOLICY   VOLUMEBINDINGMODE      ALLOWVOLUMEEXPANSION   AGE",
		"storageclass.storage.k8s.io/standard (default)   rancher.io/local-path   Delete          WaitForFirstConsumer   false",
	} {
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("kubectl get pv,pvc,sc lacks a line starting %q:\n%s", want, out)
		}
	}
	// kubectl apply (strict field validation, server-side defaults) creates and updates a claim.
	manifest := filepath.Join(t.TempDir(), "pvc.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: applied
  labels: {app: web}
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 2Gi
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := kubectl(t, s, "apply", "-f", manifest); !strings.Contains(out, "persistentvolumeclaim/applied created") {
		t.Errorf("kubectl apply: %s", out)
	}
	if out := kubectl(t, s, "get", "pvc", "applied", "-o", "jsonpath={.spec.storageClassName} {.metadata.finalizers[0]}"); out != "standard kubernetes.io/pvc-protection" {
		t.Errorf("applied claim: %q", out)
	}
	if out := kubectl(t, s, "label", "pvc", "applied", "tier=db"); !strings.Contains(out, "labeled") {
		t.Errorf("kubectl label: %s", out)
	}

	// kubectl explain reads the schemas from the OpenAPI v3 documents.
	out = kubectl(t, s, "explain", "pvc.spec.storageClassName")
	if !strings.Contains(out, "KIND:       PersistentVolumeClaim") || !strings.Contains(out, "storageClassName") {
		t.Errorf("kubectl explain pvc.spec.storageClassName:\n%s", out)
	}
	out = kubectl(t, s, "explain", "storageclass.volumeBindingMode")
	if !strings.Contains(out, "GROUP:      storage.k8s.io") {
		t.Errorf("kubectl explain storageclass.volumeBindingMode:\n%s", out)
	}
}

// TestStorageClientset: the clientset's typed PersistentVolume, PersistentVolumeClaim and
// StorageClass clients work over both transports (gRPC carries the protobuf), status
// included, as the binder and provisioner will use them.
func TestStorageClientset(t *testing.T) {
	s := testServer(t)
	ctx := context.Background()
	for transportName, cs := range clientTransports(t, s) {
		t.Run(transportName, func(t *testing.T) {
			sc, err := cs.StorageClasses().Create(ctx, &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: "sc-" + transportName},
				Provisioner: "rancher.io/local-path", VolumeBindingMode: proto.String(storagev1.VolumeBindingWaitForFirstConsumer)})
			if err != nil || sc.GetReclaimPolicy() != "Delete" {
				t.Fatalf("create class: %v %v", sc, err)
			}
			pv, err := cs.PersistentVolumes().Create(ctx, &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: "pv-" + transportName},
				Spec: &corev1.PersistentVolumeSpec{Capacity: map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}, AccessModes: []string{corev1.ReadWriteOnce},
					StorageClassName: sc.GetMetadata().GetName(), Local: &corev1.LocalVolumeSource{Path: "/mnt/disk"},
					NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
						MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: "In", Values: []string{"node-1"}}}}}}}}})
			if err != nil {
				t.Fatalf("create volume: %v", err)
			}
			pvc, err := cs.PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "pvc-" + transportName},
				Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{corev1.ReadWriteOnce}, StorageClassName: proto.String(sc.GetMetadata().GetName()),
					Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}}}})
			if err != nil {
				t.Fatalf("create claim: %v", err)
			}
			pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "default", Name: pvc.GetMetadata().GetName(), Uid: pvc.GetMetadata().GetUid()}
			if pv, err = cs.PersistentVolumes().Update(ctx, pv); err != nil {
				t.Fatalf("bind volume: %v", err)
			}
			pv.Status.Phase = corev1.VolumeBound
			if pv, err = cs.PersistentVolumes().UpdateStatus(ctx, pv); err != nil || pv.GetStatus().GetPhase() != corev1.VolumeBound {
				t.Fatalf("volume status: %v %v", pv.GetStatus(), err)
			}
			list, err := cs.PersistentVolumeClaims("").List(ctx, transport.ListOptions{})
			if err != nil || !slices.ContainsFunc(list.GetItems(), func(c *corev1.PersistentVolumeClaim) bool {
				return c.GetMetadata().GetName() == pvc.GetMetadata().GetName() && c.GetSpec().GetVolumeMode() == corev1.PersistentVolumeFilesystem
			}) {
				t.Fatalf("list claims: %v %v", list, err)
			}
		})
	}
}
