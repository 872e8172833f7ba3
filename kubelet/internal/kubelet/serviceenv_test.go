package kubelet

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

func service(ns, name, ip string, ports ...*corev1.ServicePort) *corev1.Service {
	return &corev1.Service{Metadata: &metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: &corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

// The variables of one service, as Kubernetes' kubelet writes them (envvars.FromServices).
func TestServiceVars(t *testing.T) {
	svc := service("default", "web-front", "10.96.0.12",
		&corev1.ServicePort{Name: "http", Port: 80, Protocol: "TCP"},
		&corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: "UDP"})
	got := map[string]string{}
	for _, kv := range serviceVars(svc) {
		got[kv[0]] = kv[1]
	}
	want := map[string]string{
		"WEB_FRONT_SERVICE_HOST":         "10.96.0.12",
		"WEB_FRONT_SERVICE_PORT":         "80",
		"WEB_FRONT_SERVICE_PORT_HTTP":    "80",
		"WEB_FRONT_SERVICE_PORT_DNS_UDP": "53",
		"WEB_FRONT_PORT":                 "tcp://10.96.0.12:80",
		"WEB_FRONT_PORT_80_TCP":          "tcp://10.96.0.12:80",
		"WEB_FRONT_PORT_80_TCP_PROTO":    "tcp",
		"WEB_FRONT_PORT_80_TCP_PORT":     "80",
		"WEB_FRONT_PORT_80_TCP_ADDR":     "10.96.0.12",
		"WEB_FRONT_PORT_53_UDP":          "udp://10.96.0.12:53",
		"WEB_FRONT_PORT_53_UDP_PROTO":    "udp",
		"WEB_FRONT_PORT_53_UDP_PORT":     "53",
		"WEB_FRONT_PORT_53_UDP_ADDR":     "10.96.0.12",
	}
	if !maps.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// Which services a pod sees: its namespace's with a cluster IP (unless enableServiceLinks
// is false) and always the master `kubernetes` Service, its own namespace's of that name
// first.
func TestServiceEnvPicksServices(t *testing.T) {
	port := &corev1.ServicePort{Port: 443, Protocol: "TCP"}
	services := []*corev1.Service{
		service("default", "kubernetes", "10.96.0.1", port),
		service("shop", "cart", "10.96.0.20", port),
		service("shop", "headless", "None", port),
		service("shop", "external", "", port),
		service("other", "billing", "10.96.0.30", port),
	}
	hosts := func(env map[string]string) []string {
		var out []string
		for k, v := range env {
			if strings.HasSuffix(k, "_SERVICE_HOST") {
				out = append(out, k+"="+v)
			}
		}
		slices.Sort(out)
		return out
	}
	if got, want := hosts(serviceEnv(services, "shop", true)), []string{"CART_SERVICE_HOST=10.96.0.20", "KUBERNETES_SERVICE_HOST=10.96.0.1"}; !slices.Equal(got, want) {
		t.Errorf("links on: %q, want %q", got, want)
	}
	if got, want := hosts(serviceEnv(services, "shop", false)), []string{"KUBERNETES_SERVICE_HOST=10.96.0.1"}; !slices.Equal(got, want) {
		t.Errorf("links off: %q, want %q", got, want)
	}
	own := append(slices.Clone(services), service("shop", "kubernetes", "10.96.0.99", port))
	if got, want := hosts(serviceEnv(own, "shop", true)), []string{"CART_SERVICE_HOST=10.96.0.20", "KUBERNETES_SERVICE_HOST=10.96.0.99"}; !slices.Equal(got, want) {
		t.Errorf("own kubernetes service: %q, want %q", got, want)
	}
}

// The container's own variables win over the services', $(NAME) reaches the services'
// variables, and the services' come after the container's, in name order.
func TestContainerEnvWithServices(t *testing.T) {
	c := &corev1.Container{Name: "c", Args: []string{"--api=$(KUBERNETES_SERVICE_HOST)"}, Env: []*corev1.EnvVar{
		{Name: "CART_SERVICE_PORT", Value: "8080"},
		{Name: "CART_URL", Value: "http://$(CART_SERVICE_HOST):$(CART_SERVICE_PORT)"},
	}}
	ec := envContext{Services: map[string]string{"CART_SERVICE_HOST": "10.96.0.20", "CART_SERVICE_PORT": "80", "KUBERNETES_SERVICE_HOST": "10.96.0.1"}}
	cfg, err := containerConfig(context.Background(), envPod(c), c, 0, "img", ec)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range cfg.GetEnvs() {
		got = append(got, kv.GetKey()+"="+kv.GetValue())
	}
	want := []string{"CART_SERVICE_PORT=8080", "CART_URL=http://10.96.0.20:8080", "CART_SERVICE_HOST=10.96.0.20", "KUBERNETES_SERVICE_HOST=10.96.0.1"}
	if !slices.Equal(got, want) {
		t.Errorf("env %q, want %q", got, want)
	}
	if args := cfg.GetArgs(); len(args) != 1 || args[0] != "--api=10.96.0.1" {
		t.Errorf("args %q", args)
	}
}

// A real apiserver and kubelet: a container started after a Service exists gets its
// variables and the `kubernetes` Service's.
func TestIntegrationServiceEnv(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	ctx := context.Background()
	for _, svc := range []*corev1.Service{
		service("default", "kubernetes-lab", "10.96.0.60", &corev1.ServicePort{Name: "https", Port: 443, TargetPort: &metav1.IntOrString{IntVal: 6443}}),
		service("default", "cart", "10.96.0.61", &corev1.ServicePort{Name: "http", Port: 80, TargetPort: &metav1.IntOrString{IntVal: 8080}}),
	} {
		svc.Metadata.Namespace = ""
		if _, err := cs.Services("default").Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	fake := krt.NewFake()
	startKubelet(t, cs, fake, "node-1")
	pod := nginxPod("env-web", "node-1")
	if _, err := cs.Pods("default").Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitRunningReady(t, cs, "env-web")
	var env map[string]string
	eventually(t, 10*time.Second, "the container's config", func() (bool, string) {
		ids := fake.RunningContainers(pod.Spec.Containers[0].Name)
		if len(ids) != 1 {
			return false, "no running container"
		}
		env = map[string]string{}
		for _, kv := range fake.ContainerConfig(ids[0]).GetEnvs() {
			env[kv.GetKey()] = kv.GetValue()
		}
		return true, ""
	})
	for k, v := range map[string]string{"CART_SERVICE_HOST": "10.96.0.61", "CART_SERVICE_PORT_HTTP": "80", "CART_PORT": "tcp://10.96.0.61:80",
		"KUBERNETES_LAB_SERVICE_HOST": "10.96.0.60"} {
		if env[k] != v {
			t.Errorf("%s=%q, want %q (env %v)", k, env[k], v, env)
		}
	}

	// enableServiceLinks: false keeps the namespace's services out.
	quiet := nginxPod("quiet-web", "node-1")
	quiet.Spec.EnableServiceLinks = proto.Bool(false)
	quiet.Spec.Containers[0].Name = "quiet"
	if _, err := cs.Pods("default").Create(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	waitRunningReady(t, cs, "quiet-web")
	ids := fake.RunningContainers("quiet")
	if len(ids) != 1 {
		t.Fatalf("quiet containers %v", ids)
	}
	for _, kv := range fake.ContainerConfig(ids[0]).GetEnvs() {
		if strings.HasPrefix(kv.GetKey(), "CART_") {
			t.Errorf("%s set with enableServiceLinks false", kv.GetKey())
		}
	}
}
