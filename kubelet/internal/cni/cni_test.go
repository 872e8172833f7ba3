package cni

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRenderGolden(t *testing.T) {
	got, err := Render(Config{Bridge: "kubelab0", PodCIDR: "10.244.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "10-kubelab.conflist")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Bridge: "kubelab0", PodCIDR: ""},
		{Bridge: "kubelab0", PodCIDR: "10.244.1.0"},
		{Bridge: "", PodCIDR: "10.244.1.0/24"},
		{Bridge: "a-very-long-bridge-name", PodCIDR: "10.244.1.0/24"},
	} {
		if _, err := Render(cfg); err == nil {
			t.Errorf("Render(%+v) succeeded", cfg)
		}
	}
}

func TestWriteOnlyWhenChanged(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Bridge: "kubelab1", PodCIDR: "10.244.2.0/24"}
	for i, want := range []bool{true, false} {
		changed, err := Write(dir, cfg)
		if err != nil || changed != want {
			t.Fatalf("write %d: changed %v err %v, want %v", i, changed, err, want)
		}
	}
	cfg.PodCIDR = "10.244.3.0/24"
	if changed, err := Write(dir, cfg); err != nil || !changed {
		t.Fatalf("new CIDR: changed %v err %v", changed, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
}
