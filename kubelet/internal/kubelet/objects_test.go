package kubelet

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// fakeObjects serves ConfigMaps and Secrets from maps keyed by namespace/name and records
// what was asked.
type fakeObjects struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	gets       []string
}

func (f *fakeObjects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.gets = append(f.gets, "configmaps "+ns+"/"+name)
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "configmaps"}, name)
}

func (f *fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.gets = append(f.gets, "secrets "+ns+"/"+name)
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "secrets"}, name)
}

func testObjects() *fakeObjects {
	return &fakeObjects{
		configMaps: map[string]*corev1.ConfigMap{
			"default/web": {Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Data: map[string]string{"MODE": "prod", "index.html": "<h1>hi</h1>\n"}, BinaryData: map[string][]byte{"logo": {0xff, 0x00}}},
		},
		secrets: map[string]*corev1.Secret{
			"default/db": {Metadata: &metav1.ObjectMeta{Name: "db", Namespace: "default"},
				Data: map[string][]byte{"password": []byte("s3cr3t"), "user": []byte("admin")}},
		},
	}
}

func envPod(c *corev1.Container) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default", Uid: "u1"},
		Spec: &corev1.PodSpec{Containers: []*corev1.Container{c}}}
}

func cmKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Name: name, Key: key, Optional: proto.Bool(optional)}}
}

func secretKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: name, Key: key, Optional: proto.Bool(optional)}}
}

func TestContainerEnvFromObjects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       *corev1.Container
		want    []string // KEY=value, in order
		wantErr string
	}{
		{name: "configMapKeyRef and secretKeyRef, secret bytes decoded, $(VAR) sees them",
			c: &corev1.Container{Env: []*corev1.EnvVar{
				{Name: "MODE", ValueFrom: cmKey("web", "MODE", false)},
				{Name: "PASSWORD", ValueFrom: secretKey("db", "password", false)},
				{Name: "DSN", Value: "admin:$(PASSWORD)@db?mode=$(MODE)"},
			}},
			want: []string{"MODE=prod", "PASSWORD=s3cr3t", "DSN=admin:s3cr3t@db?mode=prod"}},
		{name: "envFrom with prefixes, sorted keys, env replacing in place",
			c: &corev1.Container{
				EnvFrom: []*corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{Name: "web"}, Prefix: "CM_"},
					{SecretRef: &corev1.SecretEnvSource{Name: "db"}},
				},
				Env: []*corev1.EnvVar{{Name: "user", Value: "root"}, {Name: "X", Value: "$(CM_MODE)"}},
			},
			want: []string{"CM_MODE=prod", "CM_index.html=<h1>hi</h1>\n", "CM_logo=\xff\x00", "password=s3cr3t", "user=root", "X=prod"}},
		{name: "optional missing object and key are left out",
			c: &corev1.Container{
				EnvFrom: []*corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{Name: "nope", Optional: proto.Bool(true)}},
					{SecretRef: &corev1.SecretEnvSource{Name: "nope", Optional: proto.Bool(true)}}},
				Env: []*corev1.EnvVar{
					{Name: "A", ValueFrom: cmKey("nope", "k", true)},
					{Name: "B", ValueFrom: cmKey("web", "nokey", true)},
					{Name: "C", ValueFrom: secretKey("nope", "k", true)},
					{Name: "D", ValueFrom: secretKey("db", "nokey", true)},
					{Name: "E", Value: "$(A)"},
				}},
			want: []string{"E=$(A)"}},
		{name: "missing configmap", c: &corev1.Container{Env: []*corev1.EnvVar{{Name: "A", ValueFrom: cmKey("x", "k", false)}}},
			wantErr: `configmap "x" not found`},
		{name: "missing configmap key", c: &corev1.Container{Env: []*corev1.EnvVar{{Name: "A", ValueFrom: cmKey("web", "k", false)}}},
			wantErr: `couldn't find key k in ConfigMap default/web`},
		{name: "missing secret", c: &corev1.Container{Env: []*corev1.EnvVar{{Name: "A", ValueFrom: secretKey("x", "k", false)}}},
			wantErr: `secret "x" not found`},
		{name: "missing secret key", c: &corev1.Container{Env: []*corev1.EnvVar{{Name: "A", ValueFrom: secretKey("db", "k", false)}}},
			wantErr: `couldn't find key k in Secret default/db`},
		{name: "missing envFrom configmap", c: &corev1.Container{EnvFrom: []*corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{Name: "x"}}}},
			wantErr: `configmap "x" not found`},
		{name: "missing envFrom secret", c: &corev1.Container{EnvFrom: []*corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{Name: "x"}}}},
			wantErr: `secret "x" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Name = "c"
			objs := testObjects()
			kvs, _, err := containerEnv(context.Background(), envPod(tc.c), tc.c, envContext{Objects: objs})
			if tc.wantErr != "" || err != nil {
				if fmt.Sprint(err) != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			var got []string
			for _, kv := range kvs {
				got = append(got, kv.GetKey()+"="+kv.GetValue())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("env %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContainerConfigExpandsObjectValuesInArgs(t *testing.T) {
	c := &corev1.Container{Name: "c", Command: []string{"tool", "write", "/out"}, Args: []string{"$(PASSWORD)", "$$(PASSWORD)"},
		Env: []*corev1.EnvVar{{Name: "PASSWORD", ValueFrom: secretKey("db", "password", false)}}}
	cfg, err := containerConfig(context.Background(), envPod(c), c, 0, "img", envContext{Objects: testObjects()})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.GetArgs(); len(got) != 2 || got[0] != "s3cr3t" || got[1] != "$(PASSWORD)" {
		t.Errorf("args %q", got)
	}
	if got := cfg.GetEnvs(); len(got) != 1 || !proto.Equal(got[0], &runtimeapi.KeyValue{Key: "PASSWORD", Value: "s3cr3t"}) {
		t.Errorf("envs %v", got)
	}
	if _, err := containerConfig(context.Background(), envPod(c), c, 0, "img", envContext{}); err == nil {
		t.Error("a secretKeyRef resolved with no way to read Secrets")
	}
}
