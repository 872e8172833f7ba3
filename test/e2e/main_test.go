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
// fresh build of commands (and toolCommand) into a temp dir.
var binDir string

// toolDir holds kubelab-cri when binDir lacks it; repoRoot is the checkout.
var toolDir, repoRoot string

// commands are the binaries under test; toolCommand is kubelab-cri, the CRI inspector.
var commands = []string{
	"./apiserver/cmd/apiserver", "./controller-manager/cmd/controller-manager",
	"./scheduler/cmd/scheduler", "./kubelet/cmd/kubelet",
}

const toolCommand = "./test/cmd/kubelab-cri"

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	binDir = os.Getenv("KUBELAB_BIN")
	var cmds []string
	if binDir == "" {
		cmds = append(commands, toolCommand)
	} else if _, err := os.Stat(filepath.Join(binDir, "kubelab-cri")); err != nil {
		// make test's bin/ has the four binaries; the CRI tool is built beside them.
		cmds = []string{toolCommand}
	}
	if len(cmds) > 0 {
		dir, err := os.MkdirTemp("", "kubelab-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, cmds...)...)
		cmd.Dir = repoRoot
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			os.Exit(1)
		}
		if binDir == "" {
			binDir = dir
		} else {
			toolDir = dir
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}
