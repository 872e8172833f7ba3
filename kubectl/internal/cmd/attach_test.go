package cmd

import (
	"context"
	"strings"
	"testing"
)

// TestExecAndAttachIntegration: exec and attach share one session code over the
// apiserver's websocket translation to the kubelet's SPDY; attach follows the container's
// terminal and says what upstream says.
func TestExecAndAttachIntegration(t *testing.T) {
	sc := newStreamCluster(t)
	ctx := context.Background()
	out, errOut, err := runKubectl(ctx, t, sc.s.Kubeconfig(), "", "exec", "web", "--", "echo", "hello")
	if err != nil || out.String() != "hello\n" {
		t.Errorf("exec: %v, stdout %q, stderr %q", err, out, errOut)
	}
	// spdytest's attach is cat: stdin comes back on stdout.
	out, errOut, err = runKubectl(ctx, t, sc.s.Kubeconfig(), "typed in\n", "attach", "pod/web", "-i")
	if err != nil || out.String() != "typed in\n" || errOut.String() != "If you don't see a command prompt, try pressing enter.\n" {
		t.Errorf("attach -i: %v, stdout %q, stderr %q", err, out, errOut)
	}
	// A terminal is the container's to have; quiet says nothing.
	out, errOut, err = runKubectl(ctx, t, sc.s.Kubeconfig(), "", "attach", "web", "-t", "-q")
	if err != nil || out.String() != "" || errOut.String() != "" {
		t.Errorf("attach -t -q: %v, stdout %q, stderr %q", err, out, errOut)
	}
	_, errOut, _ = runKubectl(ctx, t, sc.s.Kubeconfig(), "", "attach", "web", "-t")
	if want := "error: Unable to use a TTY - container nginx did not allocate one\n"; !strings.HasPrefix(errOut.String(), want) {
		t.Errorf("attach -t: stderr %q, want %q first", errOut, want)
	}
	_, errOut, err = runKubectl(ctx, t, sc.s.Kubeconfig(), "", "attach", "web", "-c", "nope")
	if err == nil || errOut.String() != "error: cannot attach to the container: container not found (nope)\n" {
		t.Errorf("attach -c nope: %v, stderr %q", err, errOut)
	}
	if got := sc.kubelet.Requests(); len(got) != 4 || !strings.HasPrefix(got[1], "POST /attach/default/web/nginx?") {
		t.Errorf("kubelet got %q", got)
	}
}
