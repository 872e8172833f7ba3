package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestRunFlags(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, flagName := range []string{"-kubeconfig", "-hostname-override", "-node-ip", "-container-runtime-endpoint", "-cni-conf-dir", "-cni-bridge", "-root-dir", "-pod-log-dir", "-node-labels", "-register-node", "-healthz-port", "-port", "-tls-cert-file", "-tls-private-key-file", "-client-ca-file", "-preload-images"} {
		if !strings.Contains(out.String(), flagName) {
			t.Errorf("usage lacks %s", flagName)
		}
	}
	for _, args := range [][]string{
		{"--node-labels", "novalue"},
		{"--system-reserved", "cpu=lots"},
		{"--node-ip", "not-an-ip"},
		{"--log-level", "loud"},
	} {
		if err := Run(context.Background(), args, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestParseKV(t *testing.T) {
	m, err := parseKV("a=1, b=2,,c=")
	if err != nil || m["a"] != "1" || m["b"] != "2" || m["c"] != "" || len(m) != 3 {
		t.Fatalf("%v %v", m, err)
	}
}
