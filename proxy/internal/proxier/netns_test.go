package proxier_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netnsEnv marks the copy of the test binary that runs inside a fresh network namespace.
const netnsEnv = "KUBELAB_PROXY_TEST_NETNS"

// inNetns runs the calling test in a network namespace of its own, so the iptables rules
// it writes never touch the host's: outside one it re-runs this test binary, for this
// test only, under `unshare -n`, reports its output and returns false (the caller returns);
// inside it brings up lo and a veth pair kl0/kl1 (kl0: 10.244.0.5/32 and 172.18.0.2/24,
// the default route) and returns true. The namespace goes with the process: nothing is
// left to clean up. Skips, saying why, unless root with iptables and unshare.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			{"link", "add", "kl0", "type", "veth", "peer", "name", "kl1"},
			{"addr", "add", "10.244.0.5/32", "dev", "kl0"},
			{"addr", "add", "172.18.0.2/24", "dev", "kl0"},
			{"link", "set", "kl0", "up"},
			{"link", "set", "kl1", "up"},
			{"route", "add", "default", "dev", "kl0"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		return true
	}
	if testing.Short() {
		t.Skip("netns: -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("netns: needs root for a network namespace and iptables (sudo go test ./proxy/...)")
	}
	for _, c := range []string{"unshare", "ip", "iptables", "iptables-save", "iptables-restore"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("netns: %s is missing (Debian: apt-get install iptables iproute2 util-linux)", c)
		}
	}
	args := []string{"-n", os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.count=1", "-test.v"}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a fresh network namespace (unshare -n):\n%s", indent(string(out)))
	if err != nil {
		t.Fatalf("unshare -n %s: %v", t.Name(), err)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skip("skipped inside the network namespace")
	}
	return false
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
