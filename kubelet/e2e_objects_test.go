package kubelet_test

// ConfigMaps and Secrets on the real containerd, created and read over gRPC: a Secret's
// key reaches a container as an env var (and through $(VAR) into its args), and a pod
// whose ConfigMap is missing waits with CreateContainerConfigError until it is created.

import (
	"fmt"
	"testing"
	"time"

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

func (e *e2eEnv) createSecret(name string, data map[string][]byte) {
	e.t.Helper()
	s := &corev1.Secret{Kind: "Secret", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: data}
	if _, err := e.cs.Secrets("default").Create(e.ctx, s); err != nil {
		e.t.Fatalf("create secret %s: %v", name, err)
	}
}

// writerPod is nginx serving an emptyDir that an init container fills with its args
// (kubelab-tool write), after env sets the init container's environment.
func (e *e2eEnv) writerPod(name string, env []*corev1.EnvVar, text ...string) *corev1.Pod {
	return e.nginx(name, func(p *corev1.Pod) {
		p.Spec.Volumes = []*corev1.Volume{{Name: "html", EmptyDir: &corev1.EmptyDirVolumeSource{}}}
		w := initContainer("write", append([]string{tool, "write", "/work/index.html"}, text...)...)
		w.Env = env
		w.VolumeMounts = []*corev1.VolumeMount{{Name: "html", MountPath: "/work"}}
		p.Spec.InitContainers = []*corev1.Container{w}
		p.Spec.Containers[0].VolumeMounts = []*corev1.VolumeMount{{Name: "html", MountPath: "/usr/share/nginx/html", ReadOnly: true}}
	})
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
	e := startE2E(t, "kubelab-e2e-objects", 4*time.Minute, nil)

	t.Run("a Secret key as env var, expanded into the args with $(VAR)", func(t *testing.T) {
		le := e.sub(t)
		le.createSecret("db", map[string][]byte{"password": []byte("s3cr3t-from-a-secret")})
		le.writerPod("secret-env", []*corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{Name: "db", Key: "password"}}}}, "password=$(PASSWORD)")
		le.waitServes("secret-env", "password=s3cr3t-from-a-secret\n")
		le.deleteAndWait(30*time.Second, "secret-env")
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
		cm, err := le.cs.ConfigMaps("default").Get(le.ctx, "late")
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["MODE"] = "prod"
		if _, err := le.cs.ConfigMaps("default").Update(le.ctx, cm); err != nil {
			t.Fatal(err)
		}
		le.waitServes("late-env", "mode=prod\n")
		le.deleteAndWait(30*time.Second, "late-env")
	})
}
