// Package cni renders and writes the node's CNI network configuration: a bridge (one name
// per node, so several lab nodes on one host do not share it) with host-local IPAM on the
// node's spec.podCIDR, and portmap for hostPorts. containerd's CRI plugin watches the
// directory and reports NetworkReady once a configuration is there. The chain ends with the
// firewall plugin, which accepts forwarded traffic per pod IP: Docker hosts set the FORWARD
// policy to DROP with br_netfilter on, and pod-to-pod traffic would be dropped. loopback is
// not chained: containerd's CRI brings up lo itself.
package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// DefaultConfDir is where containerd looks for CNI configuration.
const DefaultConfDir = "/etc/cni/net.d"

// FileName is the kubelet's conflist; it sorts before most others so containerd picks it.
const FileName = "10-kubelab.conflist"

// Config is what the node's network configuration depends on.
type Config struct {
	// Name is the network's name ("kubelab").
	Name string
	// Bridge is the Linux bridge's name ("kubelab0").
	Bridge string
	// PodCIDR is the node's spec.podCIDR.
	PodCIDR string
	// MTU, when not 0, is set on the bridge and veths.
	MTU int
}

// Render returns the conflist for cfg.
func Render(cfg Config) ([]byte, error) {
	prefix, err := netip.ParsePrefix(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", cfg.PodCIDR, err)
	}
	if cfg.Bridge == "" {
		return nil, fmt.Errorf("no bridge name")
	}
	if len(cfg.Bridge) > 15 {
		return nil, fmt.Errorf("bridge name %q is longer than 15 characters", cfg.Bridge)
	}
	name := cfg.Name
	if name == "" {
		name = "kubelab"
	}
	defaultRoute := "0.0.0.0/0"
	if prefix.Addr().Is6() {
		defaultRoute = "::/0"
	}
	bridge := map[string]any{
		"type": "bridge", "bridge": cfg.Bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
		"ipam": map[string]any{
			"type":   "host-local",
			"ranges": [][]map[string]string{{{"subnet": prefix.Masked().String()}}},
			"routes": []map[string]string{{"dst": defaultRoute}},
			// One state dir per bridge, so nodes sharing a host keep separate leases.
			"dataDir": "/var/lib/cni/networks/" + cfg.Bridge,
		},
	}
	if cfg.MTU > 0 {
		bridge["mtu"] = cfg.MTU
	}
	list := map[string]any{
		"cniVersion": "0.4.0",
		"name":       name,
		"plugins": []any{
			bridge,
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
			map[string]any{"type": "firewall"},
		},
	}
	return json.MarshalIndent(list, "", "  ")
}

// Write writes the conflist into dir when its content differs from what is there,
// atomically, and reports whether it changed.
func Write(dir string, cfg Config) (bool, error) {
	data, err := Render(cfg)
	if err != nil {
		return false, err
	}
	return writeIfChanged(filepath.Join(dir, FileName), append(data, '\n'))
}

func writeIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	return true, nil
}
