package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stockKubectl is the upstream client pods/exec is checked with, beside kubelab's own.
const stockKubectl = "/usr/bin/kubectl"

// runKubectlBin runs the kubectl at bin as the cluster admin with stdin, bounded by a
// minute so that a stream that never ends fails the test instead of stalling it.
func (c *localCluster) runKubectlBin(bin, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", filepath.Join(c.dir, "pki", "admin.kubeconfig")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// expectExec runs the kubectl at bin (the stock one, or kubelab's) exec against p
// through the whole chain: kubectl → apiserver (pods/exec) → kubelet (/exec) →
// containerd's streaming server. Both offer a websocket (v5.channel.k8s.io), which the
// apiserver accepts and translates to SPDY, the only protocol containerd 1.6 speaks;
// kubelab's kubectl speaks nothing else. Checked: stdout, stderr, stdin with -i, and the
// command's exit code.
func (c *localCluster) expectExec(t *testing.T, bin string, p pod) {
	t.Helper()
	name := p.Metadata.Name
	out, errOut, err := c.runKubectlBin(bin, "", "exec", name, "--", "kubelab-tool", "cat", "/etc/hostname")
	if err != nil || strings.TrimSpace(out) != name {
		t.Errorf("kubectl exec %s -- kubelab-tool cat /etc/hostname: %v: stdout %q, stderr %q; want the pod's name", name, err, out, errOut)
	}
	// nginx -v writes to stderr: the stderr stream comes back apart from stdout.
	out, errOut, err = c.runKubectlBin(bin, "", "exec", name, "--", "nginx", "-v")
	if err != nil || out != "" || !strings.Contains(errOut, "nginx version: nginx/") {
		t.Errorf("kubectl exec %s -- nginx -v: %v: stdout %q, stderr %q; want the version on stderr", name, err, out, errOut)
	}
	out, errOut, err = c.runKubectlBin(bin, "typed into kubectl\n", "exec", "-i", name, "--", "kubelab-tool", "cat")
	if err != nil || out != "typed into kubectl\n" {
		t.Errorf("kubectl exec -i %s -- kubelab-tool cat: %v: stdout %q, stderr %q; want stdin echoed", name, err, out, errOut)
	}
	_, errOut, err = c.runKubectlBin(bin, "", "exec", name, "--", "kubelab-tool", "exit", "3")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(errOut, "command terminated with exit code 3") {
		t.Errorf("kubectl exec %s -- kubelab-tool exit 3: %v, stderr %q; want kubectl to exit 3", name, err, errOut)
	}
	_, errOut, err = c.runKubectlBin(bin, "", "exec", name, "-c", "nope", "--", "true")
	if err == nil || !strings.Contains(errOut, "container nope is not valid for pod "+name) {
		t.Errorf("kubectl exec %s -c nope: %v, stderr %q; want upstream's 400", name, err, errOut)
	}
}
