package preload

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"pause-3.9.tar", "nginx-1.14.2.tar", "x.tar.gz", "nginx-1.14.2.inputs", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.tar"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "nginx-1.14.2.tar"), filepath.Join(dir, "pause-3.9.tar"), filepath.Join(dir, "x.tar.gz")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestImportNeedsTarballs(t *testing.T) {
	_, err := Import(context.Background(), Config{Address: "/nonexistent.sock", Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no *.tar") {
		t.Errorf("empty dir: %v", err)
	}
	_, err = Import(context.Background(), Config{Address: "/nonexistent.sock", Dir: "/nonexistent"})
	if err == nil {
		t.Error("missing dir: no error")
	}
}
