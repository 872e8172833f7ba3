package kubelet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kubelab.io/kubelet/internal/cni"
	krt "kubelab.io/kubelet/runtime"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/resource"
)

// KubeletVersion is what the node reports as its kubelet version.
const KubeletVersion = "v1.32.0-kubelab"

// NodeLeaseNamespace holds the nodes' heartbeat Leases.
const NodeLeaseNamespace = "kube-node-lease"

// capacity is the node's capacity from its host facts.
func capacity(h HostInfo, maxPods int) resource.List {
	return resource.List{
		"cpu":    resource.NewMilliQuantity(h.CPUMilli, resource.DecimalSI),
		"memory": resource.NewQuantity(h.MemoryBytes, resource.BinarySI),
		"pods":   resource.NewQuantity(int64(maxPods), resource.DecimalSI),
	}
}

// allocatable is capacity minus the reservations, never below zero.
func allocatable(capacity, reserved resource.List) resource.List {
	out := capacity.Sub(reserved)
	for name, q := range out {
		if q.Sign() < 0 {
			out[name] = resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	// Keep the units readable: cpu in millicores, memory in Ki.
	if q, ok := out["cpu"]; ok {
		out["cpu"] = resource.NewMilliQuantity(q.MilliValue(), resource.DecimalSI)
	}
	if q, ok := out["memory"]; ok {
		out["memory"] = resource.NewQuantity(q.Value(), resource.BinarySI)
	}
	return out
}

// nodeStatusInput is everything NodeStatus is computed from.
type nodeStatusInput struct {
	Host        HostInfo
	MaxPods     int
	Reserved    resource.List
	Addresses   []*corev1.NodeAddress
	RuntimeVer  string
	Runtime     *runtimeapi.RuntimeStatus
	RuntimeErr  error
	NeedPodCIDR bool
	PodCIDR     string
	// Preloading: --preload-images has not finished importing.
	Preloading  bool
	KubeletPort int32
	Now         time.Time
	Old         *corev1.NodeStatus
}

// runtimeReadiness says whether the runtime and its network are ready, and why not.
func runtimeReadiness(in *nodeStatusInput) (bool, string) {
	if in.RuntimeErr != nil {
		return false, "container runtime is down: " + in.RuntimeErr.Error()
	}
	var msgs []string
	rc := krt.Condition(in.Runtime, runtimeapi.RuntimeReady)
	if rc == nil || !rc.GetStatus() {
		msgs = append(msgs, fmt.Sprintf("container runtime status check may not have completed yet: RuntimeReady=false reason:%s message:%s", rc.GetReason(), rc.GetMessage()))
	}
	nc := krt.Condition(in.Runtime, runtimeapi.NetworkReady)
	if nc == nil || !nc.GetStatus() {
		msgs = append(msgs, fmt.Sprintf("container runtime network not ready: NetworkReady=false reason:%s message:%s", nc.GetReason(), nc.GetMessage()))
	} else if in.NeedPodCIDR && in.PodCIDR == "" {
		msgs = append(msgs, "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:the node has no spec.podCIDR yet, so the kubelet wrote no CNI configuration")
	}
	if in.Preloading {
		msgs = append(msgs, "preloading images (--preload-images) has not finished")
	}
	return len(msgs) == 0, strings.Join(msgs, ", ")
}

func nodeCondition(typ string, ok bool, reason, msg string) *corev1.NodeCondition {
	return &corev1.NodeCondition{Type: typ, Status: boolStatus(ok), Reason: reason, Message: msg}
}

// nodeStatus computes NodeStatus. It is pure; heartbeat times are now, transition times
// are kept from Old while a condition's status holds.
func nodeStatus(in *nodeStatusInput) *corev1.NodeStatus {
	capa := capacity(in.Host, in.MaxPods)
	st := &corev1.NodeStatus{
		Capacity:        capa.Proto(),
		Allocatable:     allocatable(capa, in.Reserved).Proto(),
		Addresses:       in.Addresses,
		DaemonEndpoints: &corev1.NodeDaemonEndpoints{KubeletEndpoint: &corev1.DaemonEndpoint{Port: in.KubeletPort}},
		NodeInfo: &corev1.NodeSystemInfo{
			MachineID: in.Host.MachineID, SystemUUID: in.Host.SystemUUID, BootID: in.Host.BootID,
			KernelVersion: in.Host.KernelVersion, OsImage: in.Host.OSImage, ContainerRuntimeVersion: in.RuntimeVer,
			KubeletVersion: KubeletVersion, KubeProxyVersion: "", OperatingSystem: in.Host.OperatingSystem, Architecture: in.Host.Architecture,
		},
		Images: in.Old.GetImages(),
	}
	ready, msg := runtimeReadiness(in)
	readyCond := nodeCondition("Ready", true, "KubeletReady", "kubelet is posting ready status")
	if !ready {
		readyCond = nodeCondition("Ready", false, "KubeletNotReady", msg)
	}
	conds := []*corev1.NodeCondition{
		nodeCondition("MemoryPressure", false, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		nodeCondition("DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		nodeCondition("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		readyCond,
	}
	now := &metav1.Time{Seconds: in.Now.Unix()}
	for _, c := range conds {
		c.LastHeartbeatTime = now
		c.LastTransitionTime = now
		for _, o := range in.Old.GetConditions() {
			if o.GetType() == c.GetType() && o.GetStatus() == c.GetStatus() && o.GetLastTransitionTime() != nil {
				c.LastTransitionTime = o.GetLastTransitionTime()
			}
		}
	}
	st.Conditions = conds
	return st
}

// nodeStatusChanged: whether st differs from old in anything but heartbeat times.
func nodeStatusChanged(old, st *corev1.NodeStatus) bool {
	strip := func(s *corev1.NodeStatus) *corev1.NodeStatus {
		if s == nil {
			return &corev1.NodeStatus{}
		}
		c := proto.Clone(s).(*corev1.NodeStatus)
		for _, cond := range c.Conditions {
			cond.LastHeartbeatTime = nil
		}
		return c
	}
	return !proto.Equal(strip(old), strip(st))
}

// newNode is the Node the kubelet registers.
func (k *Kubelet) newNode() *corev1.Node {
	labels := map[string]string{
		"kubernetes.io/hostname": k.cfg.NodeName,
		"kubernetes.io/os":       k.host.OperatingSystem,
		"kubernetes.io/arch":     k.host.Architecture,
		"beta.kubernetes.io/os":  k.host.OperatingSystem, "beta.kubernetes.io/arch": k.host.Architecture,
	}
	maps.Copy(labels, k.cfg.NodeLabels)
	return &corev1.Node{
		Kind: "Node", ApiVersion: "v1",
		Metadata: &metav1.ObjectMeta{Name: k.cfg.NodeName, Labels: labels,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"}},
		Spec: &corev1.NodeSpec{},
	}
}

// registerNode creates the Node, or adds the kubelet's labels to the one there.
func (k *Kubelet) registerNode(ctx context.Context) error {
	node := k.newNode()
	_, err := k.client.Nodes().Create(ctx, node)
	if err == nil {
		k.log.Info("registered node", "node", k.cfg.NodeName)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", k.cfg.NodeName, err)
	}
	existing, err := k.client.Nodes().Get(ctx, k.cfg.NodeName)
	if err != nil {
		return fmt.Errorf("register node %s: %w", k.cfg.NodeName, err)
	}
	missing := false
	for key, v := range node.GetMetadata().GetLabels() {
		if existing.GetMetadata().GetLabels()[key] != v {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	upd := proto.Clone(existing).(*corev1.Node)
	if upd.Metadata.Labels == nil {
		upd.Metadata.Labels = map[string]string{}
	}
	maps.Copy(upd.Metadata.Labels, node.GetMetadata().GetLabels())
	if _, err := k.client.Nodes().Update(ctx, upd); err != nil {
		return fmt.Errorf("update labels of node %s: %w", k.cfg.NodeName, err)
	}
	return nil
}

func (k *Kubelet) addresses() []*corev1.NodeAddress {
	var out []*corev1.NodeAddress
	if k.cfg.NodeIP != "" {
		out = append(out, &corev1.NodeAddress{Type: "InternalIP", Address: k.cfg.NodeIP})
	}
	out = append(out, &corev1.NodeAddress{Type: "Hostname", Address: k.cfg.NodeName})
	return out
}

// syncNodeStatus reads the Node, writes the CNI configuration when its podCIDR is new,
// and writes NodeStatus when it changed or the last report is older than
// NodeStatusReportFrequency.
func (k *Kubelet) syncNodeStatus(ctx context.Context) error {
	node, err := k.client.Nodes().Get(ctx, k.cfg.NodeName)
	if err != nil {
		return fmt.Errorf("get node %s: %w", k.cfg.NodeName, err)
	}
	podCIDR := node.GetSpec().GetPodCIDR()
	if podCIDR != "" && k.cfg.CNIConfDir != "" {
		changed, err := cni.Write(k.cfg.CNIConfDir, cni.Config{Bridge: k.cfg.CNIBridge, PodCIDR: podCIDR})
		if err != nil {
			k.log.Error("write CNI config", "err", err)
		} else if changed {
			k.log.Info("wrote CNI config", "dir", k.cfg.CNIConfDir, "podCIDR", podCIDR, "bridge", k.cfg.CNIBridge)
		}
	}
	k.mu.Lock()
	k.podCIDR = podCIDR
	k.mu.Unlock()

	rs, rerr := k.rt.Status(ctx)
	in := &nodeStatusInput{
		Host: k.host, MaxPods: k.cfg.MaxPods, Reserved: k.cfg.Reserved, Addresses: k.addresses(),
		RuntimeVer: k.runtimeVersion, Runtime: rs, RuntimeErr: rerr,
		NeedPodCIDR: k.cfg.CNIConfDir != "", PodCIDR: podCIDR, KubeletPort: int32(k.cfg.Port), Preloading: k.Preloading(),
		Now: k.clock.Now(), Old: node.GetStatus(),
	}
	st := nodeStatus(in)
	k.setAllocatable(st)
	ready := st.Conditions[len(st.Conditions)-1].GetStatus() == "True"
	k.mu.Lock()
	k.nodeReady = ready
	last := k.lastNodeReport
	k.mu.Unlock()
	if !nodeStatusChanged(node.GetStatus(), st) && k.clock.Since(last) < k.cfg.NodeStatusReportFrequency {
		return nil
	}
	upd := proto.Clone(node).(*corev1.Node)
	upd.Status = st
	if _, err := k.client.Nodes().UpdateStatus(ctx, upd); err != nil {
		return fmt.Errorf("update status of node %s: %w", k.cfg.NodeName, err)
	}
	k.mu.Lock()
	k.lastNodeReport = k.clock.Now()
	k.mu.Unlock()
	return nil
}

func (k *Kubelet) setAllocatable(st *corev1.NodeStatus) {
	alloc, _ := resource.ParseList(st.GetAllocatable())
	k.mu.Lock()
	k.allocatable = alloc
	k.mu.Unlock()
}

// renewLease creates or renews the node's Lease in kube-node-lease.
func (k *Kubelet) renewLease(ctx context.Context) error {
	leases := k.client.Leases(NodeLeaseNamespace)
	now := k.clock.Now()
	renew := &metav1.MicroTime{Seconds: now.Unix(), Nanos: int32(now.Nanosecond() / 1000 * 1000)}
	lease, err := leases.Get(ctx, k.cfg.NodeName)
	if apierrors.IsNotFound(err) {
		l := &coordinationv1.Lease{
			Kind: "Lease", ApiVersion: "coordination.k8s.io/v1",
			Metadata: &metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: NodeLeaseNamespace},
			Spec: &coordinationv1.LeaseSpec{
				HolderIdentity: proto.String(k.cfg.NodeName), LeaseDurationSeconds: proto.Int32(int32(k.cfg.LeaseDuration / time.Second)),
				RenewTime: renew,
			},
		}
		if node, err := k.client.Nodes().Get(ctx, k.cfg.NodeName); err == nil {
			l.Metadata.OwnerReferences = []*metav1.OwnerReference{{ApiVersion: "v1", Kind: "Node", Name: k.cfg.NodeName, Uid: node.GetMetadata().GetUid()}}
		}
		if _, err := leases.Create(ctx, l); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease: %w", err)
	}
	upd := proto.Clone(lease).(*coordinationv1.Lease)
	if upd.Spec == nil {
		upd.Spec = &coordinationv1.LeaseSpec{}
	}
	upd.Spec.HolderIdentity = proto.String(k.cfg.NodeName)
	upd.Spec.LeaseDurationSeconds = proto.Int32(int32(k.cfg.LeaseDuration / time.Second))
	upd.Spec.RenewTime = renew
	if _, err := leases.Update(ctx, upd); err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}

// ensureNamespace creates kube-node-lease when missing (the apiserver may not have).
func (k *Kubelet) ensureLeaseNamespace(ctx context.Context) {
	_, err := k.client.Namespaces().Get(ctx, NodeLeaseNamespace)
	if err == nil || !apierrors.IsNotFound(err) {
		return
	}
	ns := &corev1.Namespace{Kind: "Namespace", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: NodeLeaseNamespace}}
	if _, err := k.client.Namespaces().Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		k.log.Warn("create namespace", "namespace", NodeLeaseNamespace, "err", err)
	}
}

var errStopped = errors.New("stopped")
