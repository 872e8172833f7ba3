package kubelet_test

// ConfigMaps and Secrets on the real containerd, created and read over gRPC: a Secret's
// key reaches a container as an env var (and through $(VAR) into its args) and as a file
// on a tmpfs; a ConfigMap's index.html is what nginx serves from a configMap volume; a pod
// whose ConfigMap is missing waits with CreateContainerConfigError (env) or FailedMount
// (volume) until it is created.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/kubelet/internal/kubelet"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func (e *e2eEnv) createConfigMap(name string, data map[string]string) {
	e.t.Helper()
	cm := &corev1.ConfigMap{Kind: "ConfigMap", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: data}
	if _, err := e.cs.ConfigMaps("default").Create(e.ctx, cm); err != nil {
		e.t.Fatalf("create configmap %s: %v", name, err)
	}
}

func (e *e2eEnv) setConfigMapKey(name, key, value string) {
	e.t.Helper()
	cm, err := e.cs.ConfigMaps("default").Get(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	cm.Data[key] = value
	if _, err := e.cs.ConfigMaps("default").Update(e.ctx, cm); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2eEnv) createSecret(name string, data map[string][]byte) {
	e.t.Helper()
	s := &corev1.Secret{Kind: "Secret", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: data}
	if _, err := e.cs.Secrets("default").Create(e.ctx, s); err != nil {
		e.t.Fatalf("create secret %s: %v", name, err)
	}
}

// writerPod is nginx serving an emptyDir that an init container fills with its args
// (kubelab-tool write), after env sets the init container's environment.
func (e *e2eEnv) writerPod(name string, env []*corev1.EnvVar, text string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	return e.nginx(name, func(p *corev1.Pod) {
		p.Spec.Volumes = []*corev1.Volume{{Name: "html", EmptyDir: &corev1.EmptyDirVolumeSource{}}}
		w := initContainer("write", tool, "write", "/work/index.html", text)
		w.Env = env
		w.VolumeMounts = []*corev1.VolumeMount{{Name: "html", MountPath: "/work"}}
		p.Spec.InitContainers = []*corev1.Container{w}
		p.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "html", MountPath: "/usr/share/nginx/html", ReadOnly: true}}
		for _, m := range mutate {
			m(p)
		}
	})
}

func procMounts(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *e2eEnv) waitServes(name, want string) {
	e.t.Helper()
	p := e.waitRunningReady(name, 60*time.Second)
	wait(e.t, 20*time.Second, "pod "+name+" serves "+want, func() (bool, string) {
		body, err := httpBody("http://" + p.GetStatus().GetPodIP() + "/")
		return err == nil && body == want, fmt.Sprintf("%q %v", body, err)
	})
}

func TestE2EConfigMapsAndSecretsOnContainerd(t *testing.T) {
	e := startE2E(t, "kubelab-e2e-objects", 4*time.Minute, func(c *kubelet.Config) { c.ResyncInterval = 2 * time.Second })

	t.Run("a Secret key as env var, expanded into the args with $(VAR), and as a file on a tmpfs", func(t *testing.T) {
		le := e.sub(t)
		le.createSecret("db", map[string][]byte{"password": []byte("s3cr3t-from-a-secret")})
		p := le.writerPod("secret-env", []*corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{Name: "db", Key: "password"}}}}, "password=$(PASSWORD)", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, &corev1.Volume{Name: "creds", Secret: &corev1.SecretVolumeSource{SecretName: "db",
				Items: []*corev1.KeyToPath{{Key: "password", Path: "db/pw"}}, DefaultMode: proto.Int32(0o400)}})
			c := p.Spec.Containers[0]
			c.VolumeMounts = append(c.VolumeMounts, &corev1.VolumeMount{Name: "creds", MountPath: "/etc/creds"})
		})
		le.waitServes("secret-env", "password=s3cr3t-from-a-secret\n")
		dir := filepath.Join(e.cfg.RootDir, "pods", p.GetMetadata().GetUid(), "volumes", "kubernetes.io~secret", "creds")
		if b, err := os.ReadFile(filepath.Join(dir, "db", "pw")); err != nil || string(b) != "s3cr3t-from-a-secret" {
			t.Errorf("secret file: %q %v", b, err)
		}
		if !strings.Contains(procMounts(t), " "+dir+" tmpfs ") {
			t.Errorf("secret volume %s is not a tmpfs", dir)
		}
		le.deleteAndWait(30*time.Second, "secret-env")
		if strings.Contains(procMounts(t), dir) {
			t.Errorf("secret tmpfs still mounted after the pod is gone")
		}
		if _, err := os.Stat(filepath.Dir(filepath.Dir(filepath.Dir(dir)))); !os.IsNotExist(err) {
			t.Errorf("pod directory still there: %v", err)
		}
	})

	t.Run("nginx serves a ConfigMap's index.html from a configMap volume", func(t *testing.T) {
		le := e.sub(t)
		le.createConfigMap("web", map[string]string{"index.html": "served from a ConfigMap\n", "other": "x"})
		le.nginx("cm-web", func(p *corev1.Pod) {
			p.Spec.Volumes = []*corev1.Volume{{Name: "html", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "web",
				Items: []*corev1.KeyToPath{{Key: "index.html", Path: "index.html"}}}}}
			p.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "html", MountPath: "/usr/share/nginx/html"}}
		})
		p := le.waitRunningReady("cm-web", 60*time.Second)
		le.waitServes("cm-web", "served from a ConfigMap\n")
		// An update reaches the running container (the kubelet's periodic sync, 2 s here).
		le.setConfigMapKey("web", "index.html", "updated in place\n")
		le.waitServes("cm-web", "updated in place\n")
		if got := le.pod("cm-web"); containerIDOf(got) != containerIDOf(p) {
			t.Errorf("the container was replaced (%s -> %s), not updated in place", containerIDOf(p), containerIDOf(got))
		}
		le.deleteAndWait(30*time.Second, "cm-web")
	})

	t.Run("a missing ConfigMap of a volume is FailedMount until it is created", func(t *testing.T) {
		le := e.sub(t)
		p := le.nginx("late-vol", func(p *corev1.Pod) {
			p.Spec.Volumes = []*corev1.Volume{{Name: "html", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "late-html"}}}
			p.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "html", MountPath: "/usr/share/nginx/html"}}
		})
		wait(t, 30*time.Second, "FailedMount event, ContainerCreating", func() (bool, string) {
			got := le.pod("late-vol")
			reason, _ := waitingReason(got, "nginx")
			return reason == "ContainerCreating" && got.GetStatus().GetPhase() == "Pending" &&
					hasEvent(le.events("late-vol"), `FailedMount: MountVolume.SetUp failed for volume "html" : configmap "late-html" not found`),
				fmt.Sprint(reason, le.events("late-vol"))
		})
		if n := len(le.containersOf(p.GetMetadata().GetUid())); n != 0 {
			t.Fatalf("%d containers created before the volume was mounted", n)
		}
		le.createConfigMap("late-html", map[string]string{"index.html": "late but here\n"})
		le.waitServes("late-vol", "late but here\n")
		le.deleteAndWait(30*time.Second, "late-vol")
	})

	t.Run("a missing ConfigMap is CreateContainerConfigError until it is created", func(t *testing.T) {
		le := e.sub(t)
		le.writerPod("late-env", []*corev1.EnvVar{{Name: "MODE", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Name: "late", Key: "MODE"}}}}, "mode=$(MODE)")
		wait(t, 60*time.Second, "CreateContainerConfigError and a Failed event", func() (bool, string) {
			got := le.pod("late-env")
			reason, msg := waitingReason(got, "write")
			return reason == "CreateContainerConfigError" && msg == `configmap "late" not found` && got.GetStatus().GetPhase() == "Pending" &&
					hasEvent(le.events("late-env"), `Failed: Error: configmap "late" not found`),
				fmt.Sprint(reason, msg, le.events("late-env"))
		})
		le.createConfigMap("late", map[string]string{"other": "x"})
		wait(t, 30*time.Second, "the missing key reported", func() (bool, string) {
			reason, msg := waitingReason(le.pod("late-env"), "write")
			return reason == "CreateContainerConfigError" && msg == "couldn't find key MODE in ConfigMap default/late", reason + msg
		})
		le.setConfigMapKey("late", "MODE", "prod")
		le.waitServes("late-env", "mode=prod\n")
		le.deleteAndWait(30*time.Second, "late-env")
	})
}
