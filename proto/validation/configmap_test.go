package validation_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/validation"
)

func TestValidateConfigMap(t *testing.T) {
	big := strings.Repeat("x", validation.MaxSecretSize)
	for _, tc := range []struct {
		name string
		cm   *corev1.ConfigMap
		want want
	}{
		{"valid", &corev1.ConfigMap{Data: map[string]string{"a.b_c-D9": "x"}, BinaryData: map[string][]byte{"bin": {0, 255}}}, want{}},
		{"bad key", &corev1.ConfigMap{Data: map[string]string{"a/b": "x"}}, want{"data[a/b]", invalid, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"}},
		{"dot", &corev1.ConfigMap{BinaryData: map[string][]byte{".": nil}}, want{"binaryData[.]", invalid, "must not be '.'"}},
		{"dotdot", &corev1.ConfigMap{Data: map[string]string{"..": ""}}, want{"data[..]", invalid, "must not be '..'"}},
		{"dotdot prefix", &corev1.ConfigMap{Data: map[string]string{"..x": ""}}, want{"data[..x]", invalid, "must not start with '..'"}},
		{"long key", &corev1.ConfigMap{Data: map[string]string{strings.Repeat("k", 254): ""}}, want{"data[" + strings.Repeat("k", 254) + "]", invalid, "must be no more than 253 characters"}},
		{"duplicate", &corev1.ConfigMap{Data: map[string]string{"k": "1"}, BinaryData: map[string][]byte{"k": {1}}}, want{"data[k]", invalid, "duplicate of key present in binaryData"}},
		{"too big", &corev1.ConfigMap{Data: map[string]string{"a": big}, BinaryData: map[string][]byte{"b": {1}}}, want{"", tooLong, "may not be more than 1048576 bytes"}},
		{"exactly max", &corev1.ConfigMap{Data: map[string]string{"a": big}}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) { expect(t, validation.ValidateConfigMap(tc.cm), tc.want) })
	}
}

func TestValidateConfigMapUpdate(t *testing.T) {
	old := &corev1.ConfigMap{Immutable: proto.Bool(true), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": {1}}}
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   want
	}{
		{"unchanged", func(*corev1.ConfigMap) {}, want{}},
		{"labels only", func(c *corev1.ConfigMap) { c.Metadata = nil }, want{}},
		{"data", func(c *corev1.ConfigMap) { c.Data["a"] = "2" }, want{"data", forbidden, "field is immutable when `immutable` is set"}},
		{"binaryData", func(c *corev1.ConfigMap) { c.BinaryData["b"] = []byte{2} }, want{"binaryData", forbidden, "field is immutable when `immutable` is set"}},
		{"unset", func(c *corev1.ConfigMap) { c.Immutable = nil }, want{"immutable", forbidden, "field is immutable when `immutable` is set"}},
		{"false", func(c *corev1.ConfigMap) { c.Immutable = proto.Bool(false) }, want{"immutable", forbidden, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := proto.Clone(old).(*corev1.ConfigMap)
			tc.mutate(cm)
			expect(t, validation.ValidateUpdate(cm, old), tc.want)
		})
	}
	// A mutable ConfigMap may change, and become immutable.
	mutable := &corev1.ConfigMap{Data: map[string]string{"a": "1"}}
	expect(t, validation.ValidateUpdate(&corev1.ConfigMap{Immutable: proto.Bool(true), Data: map[string]string{"a": "2"}}, mutable), want{})
}

func TestSecret(t *testing.T) {
	// Defaulting: type Opaque, stringData merged over data and dropped.
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("1"), "b": []byte("2")}, StringData: map[string]string{"b": "two", "c": "3"}}
	defaults.Default(s)
	if s.GetType() != "Opaque" || s.StringData != nil || string(s.Data["a"]) != "1" || string(s.Data["b"]) != "two" || string(s.Data["c"]) != "3" {
		t.Fatalf("defaulted secret = %v", s)
	}
	only := &corev1.Secret{StringData: map[string]string{"k": "v"}}
	defaults.Default(only)
	if string(only.Data["k"]) != "v" {
		t.Fatalf("stringData alone = %v", only)
	}

	expect(t, validation.Validate(&corev1.Secret{Data: map[string][]byte{"a b": nil}}), want{"data[a b]", invalid, "a valid config key"})
	expect(t, validation.Validate(&corev1.Secret{Data: map[string][]byte{"a": make([]byte, validation.MaxSecretSize+1)}}), want{"data", tooLong, "may not be more than 1048576 bytes"})

	old := &corev1.Secret{Type: "Opaque", Immutable: proto.Bool(true), Data: map[string][]byte{"a": []byte("1")}}
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Secret)
		want   want
	}{
		{"unchanged", func(*corev1.Secret) {}, want{}},
		{"type", func(s *corev1.Secret) { s.Type = "kubernetes.io/tls" }, want{"type", invalid, "field is immutable"}},
		{"data", func(s *corev1.Secret) { s.Data["a"] = []byte("2") }, want{"data", forbidden, "field is immutable when `immutable` is set"}},
		{"unset", func(s *corev1.Secret) { s.Immutable = nil }, want{"immutable", forbidden, "field is immutable when `immutable` is set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := proto.Clone(old).(*corev1.Secret)
			tc.mutate(s)
			expect(t, validation.ValidateUpdate(s, old), tc.want)
		})
	}
	// type is immutable on a mutable Secret too.
	expect(t, validation.ValidateUpdate(&corev1.Secret{Type: "x"}, &corev1.Secret{Type: "Opaque"}), want{"type", invalid, "field is immutable"})
}
