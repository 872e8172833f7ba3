// Package kubeview is the records.View over shared informers: Services, EndpointSlices and
// Namespaces, each one list+watch, read from the informers' indexed caches. It holds no other
// state, so a restarted server answers from a fresh list (crash-only).
package kubeview

import (
	"sync/atomic"
	"time"

	"kubelab.io/client/cache"
	"kubelab.io/client/informers"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	"kubelab.io/proto/runtime"
)

// Indexes the view adds to the shared informers.
const (
	// serviceIPIndex: Services by each of their cluster IPs (PTR).
	serviceIPIndex = "dns.clusterIP"
	// sliceServiceIndex: EndpointSlices by "namespace/service" of their service-name label.
	sliceServiceIndex = "dns.service"
	// sliceIPIndex: EndpointSlices by each endpoint address (PTR).
	sliceIPIndex = "dns.address"
)

// View reads the informers of one factory. Build it before the factory starts.
type View struct {
	services   informers.Informer[*corev1.Service]
	slices     informers.Informer[*discoveryv1.EndpointSlice]
	namespaces informers.Informer[*corev1.Namespace]
	// modified is the Unix time of the last change any informer delivered (the SOA serial).
	modified atomic.Int64
	now      func() time.Time
}

// New registers the view's informers and indexes with f. now stamps changes (time.Now when
// nil).
func New(f *informers.SharedInformerFactory, now func() time.Time) (*View, error) {
	if now == nil {
		now = time.Now
	}
	v := &View{services: f.Services(), slices: f.EndpointSlices(), namespaces: f.Namespaces(), now: now}
	if err := v.services.Informer().AddIndexers(cache.Indexers{serviceIPIndex: serviceIPs}); err != nil {
		return nil, err
	}
	if err := v.slices.Informer().AddIndexers(cache.Indexers{sliceServiceIndex: sliceService, sliceIPIndex: sliceIPs}); err != nil {
		return nil, err
	}
	v.touch()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(runtime.Object) { v.touch() },
		UpdateFunc: func(o, n runtime.Object) { v.touchIfChanged(o, n) },
		DeleteFunc: func(any) { v.touch() },
	}
	for _, inf := range []cache.SharedIndexInformer{v.services.Informer(), v.slices.Informer(), v.namespaces.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *View) touch() { v.modified.Store(v.now().Unix()) }

func (v *View) touchIfChanged(o, n runtime.Object) {
	if o.GetMetadata().GetResourceVersion() != n.GetMetadata().GetResourceVersion() {
		v.touch()
	}
}

// Synced reports whether every informer has its first list.
func (v *View) Synced() bool {
	return v.services.Informer().HasSynced() && v.slices.Informer().HasSynced() && v.namespaces.Informer().HasSynced()
}

// NamespaceExists reports whether the namespace is in the cache.
func (v *View) NamespaceExists(name string) bool {
	_, err := v.namespaces.Lister().Get(name)
	return err == nil
}

// Service returns the cached Service namespace/name, or nil.
func (v *View) Service(namespace, name string) *corev1.Service {
	svc, err := v.services.Lister().Namespace(namespace).Get(name)
	if err != nil {
		return nil
	}
	return svc
}

// EndpointSlices returns the cached slices of Service namespace/name.
func (v *View) EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice {
	return byIndex[*discoveryv1.EndpointSlice](v.slices.Informer(), sliceServiceIndex, namespace+"/"+service)
}

// ServicesByIP returns the cached Services with ip among their cluster IPs.
func (v *View) ServicesByIP(ip string) []*corev1.Service {
	return byIndex[*corev1.Service](v.services.Informer(), serviceIPIndex, ip)
}

// EndpointSlicesByIP returns the cached slices with an endpoint of address ip.
func (v *View) EndpointSlicesByIP(ip string) []*discoveryv1.EndpointSlice {
	return byIndex[*discoveryv1.EndpointSlice](v.slices.Informer(), sliceIPIndex, ip)
}

// Serial is the Unix time of the last change seen, as CoreDNS's SOA serial.
func (v *View) Serial() uint32 { return uint32(v.modified.Load()) }

func byIndex[T runtime.Object](inf cache.SharedIndexInformer, index, key string) []T {
	objs, err := inf.GetIndexer().ByIndex(index, key)
	if err != nil {
		return nil
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func serviceIPs(obj runtime.Object) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, ip := range svc.GetSpec().GetClusterIPs() {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, ip)
		}
	}
	if ip := svc.GetSpec().GetClusterIP(); len(out) == 0 && ip != "" && ip != corev1.ClusterIPNone {
		out = append(out, ip)
	}
	return out, nil
}

func sliceService(obj runtime.Object) ([]string, error) {
	name := obj.GetMetadata().GetLabels()[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{obj.GetMetadata().GetNamespace() + "/" + name}, nil
}

func sliceIPs(obj runtime.Object) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, ep := range s.GetEndpoints() {
		out = append(out, ep.GetAddresses()...)
	}
	return out, nil
}
