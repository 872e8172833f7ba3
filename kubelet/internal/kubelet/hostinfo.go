package kubelet

import (
	"bufio"
	"bytes"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
)

// HostInfo is what the kubelet reports about its machine.
type HostInfo struct {
	CPUMilli        int64
	MemoryBytes     int64
	KernelVersion   string
	OSImage         string
	OperatingSystem string
	Architecture    string
	MachineID       string
	SystemUUID      string
	BootID          string
	Hostname        string
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// memTotal parses MemTotal (kB) from /proc/meminfo.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// prettyName parses PRETTY_NAME from an os-release file.
func prettyName(osRelease []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(osRelease))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// ReadHostInfo reads the machine's facts from /proc, /etc and the Go runtime.
func ReadHostInfo() HostInfo {
	h := HostInfo{
		CPUMilli:        int64(goruntime.NumCPU()) * 1000,
		KernelVersion:   readTrim("/proc/sys/kernel/osrelease"),
		OperatingSystem: goruntime.GOOS,
		Architecture:    goruntime.GOARCH,
		MachineID:       readTrim("/etc/machine-id"),
		SystemUUID:      readTrim("/sys/class/dmi/id/product_uuid"),
		BootID:          readTrim("/proc/sys/kernel/random/boot_id"),
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		h.MemoryBytes = memTotal(b)
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		h.OSImage = prettyName(b)
	} else if b, err := os.ReadFile("/usr/lib/os-release"); err == nil {
		h.OSImage = prettyName(b)
	}
	if h.OSImage == "" {
		h.OSImage = "Unknown"
	}
	h.Hostname, _ = os.Hostname()
	return h
}

// FirstNonLoopbackIP is the node's default InternalIP: the first global unicast IPv4
// address of an up interface (IPv6 when there is none).
func FirstNonLoopbackIP() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var v6 string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
			if v6 == "" {
				v6 = ipn.IP.String()
			}
		}
	}
	return v6
}
