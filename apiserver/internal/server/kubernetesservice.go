package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/registry/servicealloc"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// The kubernetes Service in default, and its Endpoints and EndpointSlice: how pods reach
// the apiservers. Each apiserver keeps them, as upstream's lease endpoint reconciler does:
// it holds a key /registry/masterleases/<ip> (value: its port) under an etcd lease it keeps
// alive, and every reconcile writes the Endpoints from the live keys, sorted. So every
// apiserver computes the same addresses and none undoes another's write, an apiserver that
// dies drops out once its lease expires (15 s), and one that shuts down removes itself.
// The Service (cluster IP the first of the range, port 443 "https" to the secure port) is
// created when missing and its ports and type put back when changed; apiservers are
// expected to share one secure port, as upstream expects.

const (
	namespaceDefault      = "default"
	kubernetesServiceName = "kubernetes"
	masterLeasePrefix     = "/registry/masterleases/"
	masterLeaseTTL        = 15 // seconds
	// endpointReconcileInterval is upstream's --endpoint-reconciler interval.
	endpointReconcileInterval = 10 * time.Second
	// labelSkipMirror keeps the endpointslice mirroring controller off these Endpoints:
	// the apiserver writes their slice itself.
	labelSkipMirror = "endpointslice.kubernetes.io/skip-mirror"
)

type masterEndpoints struct {
	s     *Server
	ip    netip.Addr
	port  int
	lease clientv3.LeaseID
	stop  context.CancelFunc
	done  chan struct{}
}

// startMasterEndpoints reconciles once (so the service normally exists when Start
// returns), then every endpointReconcileInterval until Close.
func (s *Server) startMasterEndpoints(ctx context.Context) error {
	ip, err := endpointIP(s.cfg.AdvertiseAddress)
	if err != nil {
		s.log.Warn("the kubernetes service gets no endpoints", "err", err)
	}
	m := &masterEndpoints{s: s, ip: ip, port: s.listener.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	if err := m.reconcile(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("kubernetes service: %w", err)
		}
		// Not fatal, as upstream's controller: the address may be held by a service created
		// while this one was gone, or a peer's create may have just won, and an apiserver that
		// refused to start over either would never start again. The loop retries.
		s.log.Error("reconcile the kubernetes service", "err", err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	s.masterEndpoints = m
	go func() {
		defer close(m.done)
		t := time.NewTicker(endpointReconcileInterval)
		defer t.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
				if err := m.reconcile(loopCtx); err != nil && loopCtx.Err() == nil {
					s.log.Error("reconcile the kubernetes service", "err", err)
				}
			}
		}
	}()
	return nil
}

// endpointIP is the address other hosts reach this apiserver at: the advertise address,
// unless it is loopback or unspecified (which an Endpoints may not hold), as with
// kube-apiserver's default, the first global unicast IPv4 address of an interface that is up.
func endpointIP(advertise string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(advertise); err == nil && !ip.IsLoopback() && !ip.IsUnspecified() && ip.Is4() {
		return ip, nil
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && p.Addr().IsGlobalUnicast() {
				return p.Addr(), nil
			}
		}
	}
	return netip.Addr{}, errors.New("no non-loopback IPv4 address to advertise in the kubernetes endpoints (set --advertise-address)")
}

// close stops the loop and takes this apiserver out of the endpoints, best effort.
func (m *masterEndpoints) close() {
	m.stop()
	<-m.done
	if !m.ip.IsValid() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := m.s.client.Delete(ctx, masterLeasePrefix+m.ip.String()); err == nil {
		_ = m.writeEndpoints(ctx)
	}
	if m.lease != 0 {
		_, _ = m.s.client.Revoke(ctx, m.lease)
	}
}

func (m *masterEndpoints) reconcile(ctx context.Context) error {
	if err := m.ensureService(ctx); err != nil {
		return err
	}
	if !m.ip.IsValid() {
		return nil
	}
	if err := m.renewLease(ctx); err != nil {
		return err
	}
	return m.writeEndpoints(ctx)
}

func (m *masterEndpoints) ensureService(ctx context.Context) error {
	st := m.s.store("", "services")
	ports := []*corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: &metav1.IntOrString{IntVal: int32(m.port)}}}
	cur, err := st.Get(ctx, namespaceDefault, kubernetesServiceName)
	if apierrors.IsNotFound(err) {
		ip := m.s.serviceAlloc.FirstIP().String()
		svc := &corev1.Service{Kind: "Service", ApiVersion: "v1",
			Metadata: &metav1.ObjectMeta{Name: kubernetesServiceName, Namespace: namespaceDefault,
				Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
			Spec: &corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
				SessionAffinity: corev1.ServiceAffinityNone, Ports: ports}}
		_, err = st.Create(ctx, namespaceDefault, svc, registry.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // another apiserver's; the next round checks it
		}
		return err
	}
	if err != nil {
		return err
	}
	svc := cur.(*corev1.Service)
	if svc.GetSpec().GetType() == corev1.ServiceTypeClusterIP && len(svc.GetSpec().GetPorts()) == 1 &&
		proto.Equal(svc.Spec.Ports[0], ports[0]) {
		return nil
	}
	svc.Spec.Type, svc.Spec.Ports = corev1.ServiceTypeClusterIP, ports
	_, err = st.Update(ctx, namespaceDefault, kubernetesServiceName, svc, registry.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// renewLease puts this apiserver's key under a lease, kept alive by the client; a new
// lease is granted when the old one is gone (etcd restarted, or it expired while this
// apiserver was cut off).
func (m *masterEndpoints) renewLease(ctx context.Context) error {
	c := m.s.client
	key := masterLeasePrefix + m.ip.String()
	if m.lease != 0 {
		if _, err := c.KeepAliveOnce(ctx, m.lease); err == nil {
			resp, err := c.Get(ctx, key)
			if err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) == m.lease {
				return nil
			}
		}
	}
	g, err := c.Grant(ctx, masterLeaseTTL)
	if err != nil {
		return fmt.Errorf("grant the master lease: %w", err)
	}
	if _, err := c.Put(ctx, key, strconv.Itoa(m.port), clientv3.WithLease(g.ID)); err != nil {
		return fmt.Errorf("put the master lease: %w", err)
	}
	m.lease = g.ID
	return nil
}

// writeEndpoints makes the kubernetes Endpoints and EndpointSlice list the live apiservers.
func (m *masterEndpoints) writeEndpoints(ctx context.Context) error {
	resp, err := m.s.client.Get(ctx, masterLeasePrefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	byPort := map[int32][]string{}
	for _, kv := range resp.Kvs {
		port, err := strconv.Atoi(string(kv.Value))
		if err != nil {
			continue
		}
		byPort[int32(port)] = append(byPort[int32(port)], strings.TrimPrefix(string(kv.Key), masterLeasePrefix))
	}
	ep := &corev1.Endpoints{Kind: "Endpoints", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{
		Name: kubernetesServiceName, Namespace: namespaceDefault, Labels: map[string]string{labelSkipMirror: "true"}}}
	for _, port := range slices.Sorted(maps.Keys(byPort)) {
		ips := byPort[port]
		slices.Sort(ips)
		ss := &corev1.EndpointSubset{Ports: []*corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}}}
		for _, ip := range ips {
			ss.Addresses = append(ss.Addresses, &corev1.EndpointAddress{Ip: ip})
		}
		ep.Subsets = append(ep.Subsets, ss)
	}
	if err := upsert(ctx, m.s.store("", "endpoints"), ep, func(cur runtime.Object) bool {
		c := cur.(*corev1.Endpoints)
		return c.GetMetadata().GetLabels()[labelSkipMirror] == "true" && slicesEqual(c.GetSubsets(), ep.Subsets)
	}); err != nil {
		return err
	}
	// As upstream's endpoints adapter: the slice mirrors the first subset.
	es := &discoveryv1.EndpointSlice{Kind: "EndpointSlice", ApiVersion: "discovery.k8s.io/v1", Metadata: &metav1.ObjectMeta{
		Name: kubernetesServiceName, Namespace: namespaceDefault, Labels: map[string]string{discoveryv1.LabelServiceName: kubernetesServiceName}},
		AddressType: discoveryv1.AddressTypeIPv4}
	if len(ep.Subsets) > 0 {
		for _, p := range ep.Subsets[0].Ports {
			es.Ports = append(es.Ports, &discoveryv1.EndpointPort{Name: proto.String(p.Name), Protocol: proto.String(p.Protocol), Port: proto.Int32(p.Port)})
		}
		for _, a := range ep.Subsets[0].Addresses {
			es.Endpoints = append(es.Endpoints, &discoveryv1.Endpoint{Addresses: []string{a.Ip}, Conditions: &discoveryv1.EndpointConditions{Ready: proto.Bool(true)}})
		}
	}
	return upsert(ctx, m.s.store(discoveryv1Group, "endpointslices"), es, func(cur runtime.Object) bool {
		c := cur.(*discoveryv1.EndpointSlice)
		return c.GetMetadata().GetLabels()[discoveryv1.LabelServiceName] == kubernetesServiceName &&
			slicesEqual(c.GetEndpoints(), es.Endpoints) && slicesEqual(c.GetPorts(), es.Ports)
	})
}

const discoveryv1Group = "discovery.k8s.io"

// upsert creates want, or replaces what is stored unless same says it already matches. A
// write another apiserver made first is left for the next round.
func upsert(ctx context.Context, st *registry.Store, want runtime.Object, same func(cur runtime.Object) bool) error {
	m := want.GetMetadata()
	cur, err := st.Get(ctx, m.GetNamespace(), m.GetName())
	if apierrors.IsNotFound(err) {
		_, err = st.Create(ctx, m.GetNamespace(), want, registry.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if err != nil || same(cur) {
		return err
	}
	runtime.Meta(want).ResourceVersion = cur.GetMetadata().GetResourceVersion()
	_, err = st.Update(ctx, m.GetNamespace(), m.GetName(), want, registry.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func slicesEqual[T proto.Message](a, b []T) bool {
	return slices.EqualFunc(a, b, func(x, y T) bool { return proto.Equal(x, y) })
}

// serviceAllocator builds the Services' allocator from the range flags and puts it in the
// services' registration.
func (s *Server) serviceAllocator() (*servicealloc.Allocator, error) {
	cidr := s.cfg.ServiceClusterIPRange
	if cidr == "" {
		cidr = servicealloc.DefaultServiceClusterIPRange
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("--service-cluster-ip-range: %w", err)
	}
	ports := s.cfg.ServiceNodePortRange
	if ports == "" {
		ports = servicealloc.DefaultNodePortRange
	}
	pr, err := servicealloc.ParsePortRange(ports)
	if err != nil {
		return nil, fmt.Errorf("--service-node-port-range: %w", err)
	}
	st := s.store("", "services")
	claimer, ok := st.Storage.(servicealloc.ClaimReader)
	if !ok {
		return nil, errors.New("service storage cannot hold claims")
	}
	a, err := servicealloc.New(servicealloc.Config{ClusterIPRange: p, NodePortRange: pr, Claims: claimer})
	if err != nil {
		return nil, err
	}
	st.Resource.Allocator = a
	return a, nil
}

// servingHosts are the serving certificate's extra SANs: the advertise address and, as
// kube-apiserver's, what pods reach it by through the kubernetes service: its cluster IP,
// kubernetes.default.svc.cluster.local, and the address its endpoints name.
func (s *Server) servingHosts() []string {
	hosts := []string{s.cfg.AdvertiseAddress, "kubernetes.default.svc.cluster.local"}
	cidr := s.cfg.ServiceClusterIPRange
	if cidr == "" {
		cidr = servicealloc.DefaultServiceClusterIPRange
	}
	if p, err := netip.ParsePrefix(cidr); err == nil {
		hosts = append(hosts, p.Masked().Addr().Next().String())
	}
	if ip, err := endpointIP(s.cfg.AdvertiseAddress); err == nil {
		hosts = append(hosts, ip.String())
	}
	return hosts
}
