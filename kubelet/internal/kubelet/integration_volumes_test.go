package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/kubeconfig"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

const saMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// A pod admitted with the ServiceAccount plugin gets the kube-api-access volume; the
// kubelet writes its token (issued by the apiserver, bound to the pod), the cluster CA and
// the namespace on the node, and keeps a downward API volume in step with the pod's labels.
func TestIntegrationServiceAccountVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("projected and downward API volumes are tmpfs mounts: mounting needs root")
	}
	srv := apiservertest.StartWithServiceAccounts(t)
	cs := srv.Clientset(true)
	ctx := context.Background()
	// What the controller-manager would create: the namespace's account and the CA bundle.
	if _, err := cs.ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Name: "default"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := cs.ConfigMaps("default").Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "kube-root-ca.crt"},
		Data: map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\ntest\n"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	root := t.TempDir()
	fake := krt.NewFake()
	// The kubelet runs with its node's credentials, as in a cluster: the Node authorizer
	// must let it read kube-root-ca.crt and request the pod's token.
	nodeCS := nodeClientset(t, srv, "node-1")
	startKubeletAt(t, nodeCS, fake, "node-1", root)

	pod := nginxPod("sa-web", "node-1")
	pod.Spec.Volumes = []*corev1.Volume{{Name: "podinfo", DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []*corev1.DownwardAPIVolumeFile{fieldFile("labels", "metadata.labels")}}}}
	pod.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "podinfo", MountPath: "/etc/podinfo"}}
	if _, err := cs.Pods("default").Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod = waitRunningReady(t, cs, "sa-web")
	uid := pod.GetMetadata().GetUid()
	var access string
	for _, v := range pod.GetSpec().GetVolumes() {
		if strings.HasPrefix(v.GetName(), "kube-api-access-") {
			access = v.GetName()
		}
	}
	if access == "" {
		t.Fatalf("admission added no kube-api-access volume: %v", pod.GetSpec().GetVolumes())
	}
	dir := filepath.Join(root, "pods", uid, "volumes", "kubernetes.io~projected", access)
	if got := volumeFiles(t, dir); !strings.Contains(got, "ca.crt:644=-----BEGIN CERTIFICATE-----\ntest\n namespace:644=default token:644=") {
		t.Errorf("kube-api-access volume holds %q", got)
	}

	// The token is the apiserver's: it authenticates as the pod's service account.
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tokenClient(t, srv, string(tok)).Pods("default").Get(ctx, "sa-web")
	// RBAC grants an account nothing by default: forbidden, to the account by name.
	if want := `User "system:serviceaccount:default:default"`; !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("a request with the pod's token: %v, want it refused to %s", err, want)
	}

	// The container mounts it read-only where client libraries look.
	ids := fake.RunningContainers("nginx")
	if len(ids) != 1 {
		t.Fatalf("running nginx containers: %v", ids)
	}
	st, _ := fake.ContainerStatus(ctx, ids[0])
	var mounts []string
	for _, m := range st.GetMounts() {
		mounts = append(mounts, fmt.Sprintf("%s=%s:%v", m.GetContainerPath(), m.GetHostPath(), m.GetReadonly()))
	}
	if want := saMountPath + "=" + dir + ":true"; !strings.Contains(strings.Join(mounts, " "), want) {
		t.Errorf("mounts %v, want %s", mounts, want)
	}

	// New labels reach the downward API file while the container runs.
	infoDir := filepath.Join(root, "pods", uid, "volumes", "kubernetes.io~downward-api", "podinfo")
	if got, want := volumeFiles(t, infoDir), `labels:644=app="web"`; got != want {
		t.Errorf("podinfo %q, want %q", got, want)
	}
	p := getPod(t, cs, "sa-web")
	p.Metadata.Labels["tier"] = "front"
	if _, err := cs.Pods("default").Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "labels file updated", func() (bool, string) {
		got := volumeFiles(t, infoDir)
		return got == "labels:644=app=\"web\"\ntier=\"front\"", got
	})

	// Deleted: the volumes are unmounted and gone with the pod's directory.
	if _, err := cs.Pods("default").Delete(ctx, "sa-web", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "pod directory removed", func() (bool, string) {
		_, err := os.Stat(filepath.Join(root, "pods", uid))
		return os.IsNotExist(err), fmt.Sprint(err)
	})
}

// nodeClientset is a clientset to srv with node's credentials, as its kubelet has them
// in a cluster (the Node authorizer and system:node's role decide what it may read).
func nodeClientset(t *testing.T, srv *apiservertest.Server, node string) *kube.Clientset {
	t.Helper()
	cs, err := kube.NewForConfigFile(srv.UserKubeconfig("system:node:"+node, "system:nodes"),
		kube.Options{GRPC: true, GRPCAddress: srv.GRPCAddr(), QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// tokenClient is a REST clientset to srv that authenticates with a bearer token only.
func tokenClient(t *testing.T, srv *apiservertest.Server, token string) *kube.Clientset {
	t.Helper()
	cfg, _, err := kubeconfig.LoadDefault(srv.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.ClientConfig(kubeconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	rc.TLS.CertData, rc.TLS.KeyData, rc.BearerToken = nil, nil, token
	cs, err := kube.NewForConfig(rc, kube.Options{QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
