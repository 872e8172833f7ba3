// Package e2e drives the built kubelab binaries from outside, as a user or a script would:
// real processes, real ports, kill -9.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// binDir holds the binaries under test: $KUBELAB_BIN (make test sets it to bin/), or a
// fresh build into a temp dir.
var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("KUBELAB_BIN")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "kubelab-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", dir+"/", "./apiserver/cmd/apiserver",
			"./controller-manager/cmd/controller-manager", "./scheduler/cmd/scheduler", "./kubelet/cmd/kubelet")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			os.Exit(1)
		}
		binDir = dir
	}
	os.Exit(m.Run())
}
