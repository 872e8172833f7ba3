package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
)

// CPU cgroup arithmetic, as the kubelet does it (pkg/kubelet/cm/helpers_linux.go).
const (
	minShares     = 2
	sharesPerCPU  = 1024
	milliPerCPU   = 1000
	quotaPeriod   = 100000 // 100 ms in µs
	minQuotaUsecs = 1000
)

// milliCPUToShares converts a cpu request to cgroup cpu.shares.
func milliCPUToShares(milli int64) int64 {
	if milli == 0 {
		return minShares
	}
	return max(milli*sharesPerCPU/milliPerCPU, minShares)
}

// milliCPUToQuota converts a cpu limit to a CFS quota for period (0: no limit).
func milliCPUToQuota(milli, period int64) int64 {
	if milli == 0 {
		return 0
	}
	return max(milli*period/milliPerCPU, minQuotaUsecs)
}

// linuxResources turns a container's requests and limits into cgroup settings. A limit
// without a request counts as the request (the API's defaulting).
func linuxResources(c *corev1.Container) *runtimeapi.LinuxContainerResources {
	req, _ := resource.ParseList(c.GetResources().GetRequests())
	lim, _ := resource.ParseList(c.GetResources().GetLimits())
	var cpuReq, cpuLim, memLim int64
	if q, ok := lim["cpu"]; ok {
		cpuLim = q.MilliValue()
	}
	if q, ok := req["cpu"]; ok {
		cpuReq = q.MilliValue()
	} else {
		cpuReq = cpuLim
	}
	if q, ok := lim["memory"]; ok {
		memLim = q.Value()
	}
	r := &runtimeapi.LinuxContainerResources{CpuShares: milliCPUToShares(cpuReq), MemoryLimitInBytes: memLim}
	if cpuLim > 0 {
		r.CpuPeriod = quotaPeriod
		r.CpuQuota = milliCPUToQuota(cpuLim, quotaPeriod)
	}
	return r
}

// podLogDir is where the pod's container logs go: <root>/<ns>_<name>_<uid>.
func podLogDir(root string, pod *corev1.Pod) string {
	m := pod.GetMetadata()
	return filepath.Join(root, m.GetNamespace()+"_"+m.GetName()+"_"+m.GetUid())
}

// containerLogPath is the log path relative to the pod's log directory.
func containerLogPath(name string, restartCount int) string {
	return filepath.Join(name, strconv.Itoa(restartCount)+".log")
}

// podLabels are the labels on everything the kubelet creates for pod.
func podLabels(pod *corev1.Pod) map[string]string {
	m := pod.GetMetadata()
	l := map[string]string{
		krt.LabelPodName: m.GetName(), krt.LabelPodNamespace: m.GetNamespace(), krt.LabelPodUID: m.GetUid(),
		krt.LabelManagedBy: krt.ManagedByValue,
	}
	if n := pod.GetSpec().GetNodeName(); n != "" {
		l[krt.LabelNodeName] = n
	}
	return l
}

// sandboxOptions are the node-wide inputs of a sandbox configuration.
type sandboxOptions struct {
	PodLogRoot   string
	CgroupParent string
	// HostDNS is the node's resolver configuration (/etc/resolv.conf).
	HostDNS *runtimeapi.DNSConfig
	// ClusterDNS and ClusterDomain configure ClusterFirst pods when set.
	ClusterDNS    []string
	ClusterDomain string
}

// podHostname is the pod's hostname: spec.hostname, else its name, cut to 63 characters.
func podHostname(pod *corev1.Pod) string {
	h := pod.GetSpec().GetHostname()
	if h == "" {
		h = pod.GetMetadata().GetName()
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// dnsConfig is the pod's resolver configuration by its dnsPolicy.
func dnsConfig(pod *corev1.Pod, o sandboxOptions) *runtimeapi.DNSConfig {
	spec := pod.GetSpec()
	policy := spec.GetDnsPolicy()
	if policy == "" {
		policy = "ClusterFirst"
	}
	if spec.GetHostNetwork() && policy == "ClusterFirst" {
		policy = "Default"
	}
	cfg := &runtimeapi.DNSConfig{}
	switch {
	case policy == "None":
	case (policy == "ClusterFirst" || policy == "ClusterFirstWithHostNet") && len(o.ClusterDNS) > 0:
		ns := pod.GetMetadata().GetNamespace()
		domain := o.ClusterDomain
		if domain == "" {
			domain = "cluster.local"
		}
		cfg.Servers = append(cfg.Servers, o.ClusterDNS...)
		cfg.Searches = append([]string{ns + ".svc." + domain, "svc." + domain, domain}, o.HostDNS.GetSearches()...)
		cfg.Options = []string{"ndots:5"}
	default: // Default, or ClusterFirst without a cluster DNS: the node's resolver
		if o.HostDNS != nil {
			cfg.Servers = append(cfg.Servers, o.HostDNS.GetServers()...)
			cfg.Searches = append(cfg.Searches, o.HostDNS.GetSearches()...)
			cfg.Options = append(cfg.Options, o.HostDNS.GetOptions()...)
		}
	}
	if dc := spec.GetDnsConfig(); dc != nil {
		cfg.Servers = append(cfg.Servers, dc.GetNameservers()...)
		cfg.Searches = append(cfg.Searches, dc.GetSearches()...)
		for _, opt := range dc.GetOptions() {
			s := opt.GetName()
			if opt.Value != nil {
				s += ":" + opt.GetValue()
			}
			cfg.Options = append(cfg.Options, s)
		}
	}
	return cfg
}

// parseResolvConf reads nameservers, search domains and options from a resolv.conf.
func parseResolvConf(data []byte) *runtimeapi.DNSConfig {
	cfg := &runtimeapi.DNSConfig{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, f[1])
		case "search", "domain":
			cfg.Searches = append(cfg.Searches[:0], f[1:]...)
		case "options":
			cfg.Options = append(cfg.Options, f[1:]...)
		}
	}
	return cfg
}

func protocol(p string) runtimeapi.Protocol {
	switch p {
	case "UDP":
		return runtimeapi.Protocol_UDP
	case "SCTP":
		return runtimeapi.Protocol_SCTP
	}
	return runtimeapi.Protocol_TCP
}

// sandboxConfig is the CRI configuration of pod's sandbox, attempt-th of its life.
func sandboxConfig(pod *corev1.Pod, attempt uint32, o sandboxOptions) *runtimeapi.PodSandboxConfig {
	m := pod.GetMetadata()
	labels := podLabels(pod)
	for k, v := range m.GetLabels() {
		if _, ours := labels[k]; !ours {
			labels[k] = v
		}
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: m.GetName(), Namespace: m.GetNamespace(), Uid: m.GetUid(), Attempt: attempt},
		Hostname:     podHostname(pod),
		LogDirectory: podLogDir(o.PodLogRoot, pod),
		DnsConfig:    dnsConfig(pod, o),
		Labels:       labels,
		Annotations:  m.GetAnnotations(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: o.CgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: namespaceOptions(pod),
			},
		},
	}
	if pod.GetSpec().GetHostNetwork() {
		cfg.Hostname = ""
	}
	for _, c := range pod.GetSpec().GetContainers() {
		for _, p := range c.GetPorts() {
			if p.GetHostPort() == 0 {
				continue
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{
				Protocol: protocol(p.GetProtocol()), ContainerPort: p.GetContainerPort(), HostPort: p.GetHostPort(), HostIp: p.GetHostIP(),
			})
		}
	}
	return cfg
}

func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.GetSpec().GetHostNetwork() {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.GetSpec().GetHostPID() {
		ns.Pid = runtimeapi.NamespaceMode_NODE
	}
	if pod.GetSpec().GetHostIPC() {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	return ns
}

// envContext is what env var references resolve against.
type envContext struct {
	PodIPs, HostIPs []string
	NodeName        string
	// Allocatable is the node's, for resourceFieldRef limits a container does not set.
	Allocatable resource.List
	// Objects reads the ConfigMaps and Secrets of configMapKeyRef, secretKeyRef and
	// envFrom (nil: none can be read).
	Objects objectGetter
	// Services are the variables the services the pod sees give it (serviceEnvFor).
	Services map[string]string
}

// fieldRefValue resolves a downward-API fieldRef of an env var: the fields only env vars
// may name (node, service account, IPs), else the metadata fields volumes share.
func fieldRefValue(pod *corev1.Pod, path string, ec envContext) (string, error) {
	first := func(s []string) string {
		if len(s) > 0 {
			return s[0]
		}
		return ""
	}
	switch path {
	case "spec.nodeName":
		if n := pod.GetSpec().GetNodeName(); n != "" {
			return n, nil
		}
		return ec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.GetSpec().GetServiceAccountName(), nil
	case "status.hostIP":
		return first(ec.HostIPs), nil
	case "status.hostIPs":
		return strings.Join(ec.HostIPs, ","), nil
	case "status.podIP":
		return first(ec.PodIPs), nil
	case "status.podIPs":
		return strings.Join(ec.PodIPs, ","), nil
	}
	return metadataFieldValue(pod.GetMetadata(), path)
}

// resourceFieldValue resolves a resourceFieldRef of container c, for an env var or a
// downward API file (limits.cpu rounds up to whole cores by default, as Kubernetes does).
// A limit c does not set is the node's allocatable.
func resourceFieldValue(c *corev1.Container, sel *corev1.ResourceFieldSelector, allocatable resource.List) (string, error) {
	which, name, ok := strings.Cut(sel.GetResource(), ".")
	if !ok {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", sel.GetResource())
	}
	var list resource.List
	switch which {
	case "limits":
		list, _ = resource.ParseList(c.GetResources().GetLimits())
	case "requests":
		list, _ = resource.ParseList(c.GetResources().GetRequests())
	default:
		return "", fmt.Errorf("unsupported resourceFieldRef %q", sel.GetResource())
	}
	q, ok := list[name]
	if !ok && which == "limits" {
		q, ok = allocatable[name]
	}
	if !ok {
		return "0", nil
	}
	divisor := resource.MustParse("1")
	if d := sel.GetDivisor(); d != nil {
		if dq, err := resource.FromProto(d); err == nil && !dq.IsZero() {
			divisor = dq
		}
	}
	if name == "cpu" {
		m, dm := q.MilliValue(), divisor.MilliValue()
		return strconv.FormatInt((m+dm-1)/dm, 10), nil
	}
	v, dv := q.Value(), divisor.Value()
	return strconv.FormatInt((v+dv-1)/dv, 10), nil
}

// expand replaces $(VAR) references with env values; $$(VAR) escapes to $(VAR), and
// unknown references are left as they are (Kubernetes' expansion rules).
func expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// containerEnv resolves the container's environment as Kubernetes' kubelet does: first
// every envFrom source in order (a ConfigMap's or Secret's keys, with their prefix), then
// env in order, each replacing an earlier variable of its name in place. env values may
// refer to any variable set before them with $(NAME). ConfigMaps and Secrets are read
// through ec.Objects; a missing one (or key) that is not optional is an error, which the
// caller reports as CreateContainerConfigError and retries. The services' variables
// (ec.Services) come last, those the container does not set itself, and $(NAME) may refer
// to them too. The map returned is every variable, for command and args.
func containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ec envContext) ([]*runtimeapi.KeyValue, map[string]string, error) {
	ns := pod.GetMetadata().GetNamespace()
	vals := maps.Clone(ec.Services)
	if vals == nil {
		vals = map[string]string{}
	}
	index := map[string]int{}
	var out []*runtimeapi.KeyValue
	set := func(k, v string) {
		vals[k] = v
		if i, ok := index[k]; ok {
			out[i].Value = v
			return
		}
		index[k] = len(out)
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: v})
	}
	for _, src := range c.GetEnvFrom() {
		if ec.Objects == nil {
			return nil, nil, errors.New("envFrom: this kubelet reads no ConfigMaps or Secrets")
		}
		kvs, err := envFromValues(ctx, ec.Objects, ns, src)
		if err != nil {
			return nil, nil, err
		}
		for _, kv := range kvs {
			set(kv[0], kv[1])
		}
	}
	for _, e := range c.GetEnv() {
		var v string
		switch src := e.GetValueFrom(); {
		case src == nil:
			v = expand(e.GetValue(), vals)
		case src.GetFieldRef() != nil:
			var err error
			if v, err = fieldRefValue(pod, src.GetFieldRef().GetFieldPath(), ec); err != nil {
				return nil, nil, fmt.Errorf("env %s: %w", e.GetName(), err)
			}
		case src.GetResourceFieldRef() != nil:
			var err error
			if v, err = resourceFieldValue(c, src.GetResourceFieldRef(), ec.Allocatable); err != nil {
				return nil, nil, fmt.Errorf("env %s: %w", e.GetName(), err)
			}
		case src.GetConfigMapKeyRef() != nil || src.GetSecretKeyRef() != nil:
			if ec.Objects == nil {
				return nil, nil, fmt.Errorf("env %s: this kubelet reads no ConfigMaps or Secrets", e.GetName())
			}
			val, ok, err := keyRefValue(ctx, ec.Objects, ns, src)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			v = val
		default:
			return nil, nil, fmt.Errorf("env %s: no value source this kubelet supports", e.GetName())
		}
		set(e.GetName(), v)
	}
	for _, k := range slices.Sorted(maps.Keys(ec.Services)) {
		if _, set := index[k]; !set {
			out = append(out, &runtimeapi.KeyValue{Key: k, Value: ec.Services[k]})
		}
	}
	return out, vals, nil
}

// containerConfig is the CRI configuration of the restartCount-th instance of c.
func containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, restartCount int, image string, ec envContext) (*runtimeapi.ContainerConfig, error) {
	envs, vals, err := containerEnv(ctx, pod, c, ec)
	if err != nil {
		return nil, err
	}
	var cmd, args []string
	for _, s := range c.GetCommand() {
		cmd = append(cmd, expand(s, vals))
	}
	for _, s := range c.GetArgs() {
		args = append(args, expand(s, vals))
	}
	labels := podLabels(pod)
	labels[krt.LabelContainerName] = c.GetName()
	grace := int64(30)
	if g := pod.GetSpec().TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	ann := map[string]string{
		krt.AnnotationContainerHash:    containerHash(c),
		krt.AnnotationRestartCount:     strconv.Itoa(restartCount),
		krt.AnnotationTerminationGrace: strconv.FormatInt(grace, 10),
	}
	if p := c.GetTerminationMessagePath(); p != "" {
		ann[krt.AnnotationTerminationMessage] = p
	}
	if pre := c.GetLifecycle().GetPreStop().GetExec(); pre != nil {
		ann[krt.AnnotationPreStopExec] = encodeCommand(pre.GetCommand())
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: c.GetName(), Attempt: uint32(restartCount)},
		Image:       &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: c.GetImage()},
		Command:     cmd,
		Args:        args,
		WorkingDir:  c.GetWorkingDir(),
		Envs:        envs,
		Labels:      labels,
		Annotations: ann,
		LogPath:     containerLogPath(c.GetName(), restartCount),
		Stdin:       c.GetStdin(),
		StdinOnce:   c.GetStdinOnce(),
		Tty:         c.GetTty(),
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(c),
			SecurityContext: containerSecurity(pod, c),
		},
	}
	return cfg, nil
}

func containerSecurity(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerSecurityContext {
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	psc, csc := pod.GetSpec().GetSecurityContext(), c.GetSecurityContext()
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	if psc.RunAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: psc.GetRunAsUser()}
	}
	if psc.RunAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: psc.GetRunAsGroup()}
	}
	// fsGroup first, then supplementalGroups, as upstream: every container may use the
	// volumes the kubelet gave to the pod's fsGroup (fsgroup.go).
	if psc.FsGroup != nil {
		sc.SupplementalGroups = append(sc.SupplementalGroups, psc.GetFsGroup())
	}
	sc.SupplementalGroups = append(sc.SupplementalGroups, psc.GetSupplementalGroups()...)
	if csc.RunAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: csc.GetRunAsUser()}
	}
	if csc.RunAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: csc.GetRunAsGroup()}
	}
	sc.Privileged = csc.GetPrivileged()
	sc.ReadonlyRootfs = csc.GetReadOnlyRootFilesystem()
	if csc.AllowPrivilegeEscalation != nil {
		sc.NoNewPrivs = !csc.GetAllowPrivilegeEscalation()
	}
	if caps := csc.GetCapabilities(); caps != nil {
		sc.Capabilities = &runtimeapi.Capability{AddCapabilities: caps.GetAdd(), DropCapabilities: caps.GetDrop()}
	}
	return sc
}
