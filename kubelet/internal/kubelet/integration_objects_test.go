package kubelet

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/kube"
	"kubelab.io/client/transport"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// countingTransport counts the calls a kubelet makes, by verb and resource. The
// apiserver's /metrics count only REST requests; the kubelet speaks gRPC.
type countingTransport struct {
	transport.Interface
	mu    sync.Mutex
	calls map[string]int // "get configmaps" → n
}

func (c *countingTransport) count(verb string, ref transport.Ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[verb+" "+ref.Mapping.Plural]++
}

func (c *countingTransport) Calls(verb, resource string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[verb+" "+resource]
}

func (c *countingTransport) Get(ctx context.Context, ref transport.Ref) (runtime.Object, error) {
	c.count("get", ref)
	return c.Interface.Get(ctx, ref)
}

func (c *countingTransport) List(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (runtime.ListObject, error) {
	c.count("list", ref)
	return c.Interface.List(ctx, ref, opts)
}

func (c *countingTransport) Watch(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (watch.Interface, error) {
	c.count("watch", ref)
	return c.Interface.Watch(ctx, ref, opts)
}

// A ConfigMap used by a pod's volume and env is read through one watch, with the node's
// credentials (the Node authorizer allows a list and watch by name of a referenced
// object): an update reaches the volume's file with no GET, however many resyncs pass.
func TestIntegrationConfigMapThroughWatch(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx := context.Background()
	if _, err := cs.ConfigMaps("default").Create(ctx, &corev1.ConfigMap{Metadata: &metav1.ObjectMeta{Name: "web-conf"},
		Data: map[string]string{"index.html": "v1"}}); err != nil {
		t.Fatal(err)
	}
	nodeCS, err := kube.NewForConfigFile(srv.UserKubeconfig("system:node:node-1", "system:nodes"),
		kube.Options{GRPC: true, GRPCAddress: srv.GRPCAddr(), QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nodeCS.Close() })
	counted := &countingTransport{Interface: nodeCS.Transport(), calls: map[string]int{}}
	root := t.TempDir()
	startKubeletAt(t, kube.New(counted), krt.NewFake(), "node-1", root)

	pod := nginxPod("conf-web", "node-1")
	pod.Spec.Volumes = []*corev1.Volume{{Name: "conf", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "web-conf"}}}
	c := pod.Spec.Containers[0]
	c.VolumeMounts = []*corev1.VolumeMount{{Name: "conf", MountPath: "/usr/share/nginx/html"}}
	c.Env = append(c.Env, &corev1.EnvVar{Name: "PAGE", ValueFrom: &corev1.EnvVarSource{
		ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Name: "web-conf", Key: "index.html"}}})
	if _, err := cs.Pods("default").Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	uid := waitRunningReady(t, cs, "conf-web").GetMetadata().GetUid()
	dir := filepath.Join(root, "pods", uid, "volumes", "kubernetes.io~configmap", "conf")
	if got := volumeFiles(t, dir); got != "index.html:644=v1" {
		t.Fatalf("volume holds %q", got)
	}

	cm, err := cs.ConfigMaps("default").Get(ctx, "web-conf")
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["index.html"] = "v2"
	if _, err := cs.ConfigMaps("default").Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	// The kubelet rewrites the volume on a resync (every second here), from the watch.
	eventually(t, 10*time.Second, "the update in the volume", func() (bool, string) {
		got := volumeFiles(t, dir)
		return got == "index.html:644=v2", got
	})
	if n := counted.Calls("get", "configmaps"); n != 0 {
		t.Errorf("%d GETs of configmaps; the kubelet should read them from its watch", n)
	}
	// One list and one watch for the volume and the env var together; a few more only if
	// the watch was broken and resumed.
	if lists, watches := counted.Calls("list", "configmaps"), counted.Calls("watch", "configmaps"); lists < 1 || lists > 2 || watches < 1 || watches > 2 {
		t.Errorf("%d lists and %d watches of configmaps, want one of each", lists, watches)
	}
}
