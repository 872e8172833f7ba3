// Package controllerctx is what the controller-manager hands every controller: the clients,
// the shared informers (one watch per kind for all controllers), an event recorder, and the
// options from its flags. A controller package exports
//
//	func New(ctx context.Context, cc *controllerctx.Context) (*Controller, error)
//	func (c *Controller) Run(ctx context.Context, workers int)
//
// New only registers informer handlers and builds the queue; Run starts the workers after
// the informers have synced and returns when ctx ends.
package controllerctx

import (
	"log/slog"
	"time"

	"kubelab.io/client/informers"
	"kubelab.io/client/kube"
	"kubelab.io/client/record"
)

// Context is shared by every controller of one controller-manager.
type Context struct {
	Client    *kube.Clientset
	Informers *informers.SharedInformerFactory
	// Recorder returns the event recorder of a component ("deployment-controller");
	// recorders are started by the controller-manager.
	Recorder func(component string) *record.Recorder
	Log      *slog.Logger
	Options  Options
	// Clock is injected so tests control time; nil means time.Now.
	Clock func() time.Time
}

// Now is the context's clock.
func (c *Context) Now() time.Time {
	if c.Clock != nil {
		return c.Clock()
	}
	return time.Now()
}

// Options are the controllers' settings, named after kube-controller-manager's flags.
type Options struct {
	ConcurrentDeploymentSyncs      int // --concurrent-deployment-syncs (5)
	ConcurrentReplicaSetSyncs      int // --concurrent-replicaset-syncs (5)
	ConcurrentGCSyncs              int // --concurrent-gc-syncs (20)
	ConcurrentNamespaceSyncs       int // --concurrent-namespace-syncs (10)
	ConcurrentResourceQuotaSyncs   int // --concurrent-resource-quota-syncs (5)
	ConcurrentJobSyncs             int // --concurrent-job-syncs (5)
	ConcurrentDaemonSetSyncs       int // --concurrent-daemonset-syncs (2)
	ConcurrentStatefulSetSyncs     int // --concurrent-statefulset-syncs (5)
	ConcurrentTTLSyncs             int // --concurrent-ttl-after-finished-syncs (5)
	ConcurrentCronJobSyncs         int // --concurrent-cron-job-syncs (5)
	ConcurrentServiceEndpointSyncs int // --concurrent-service-endpoint-syncs (5): the endpointslice controller's
	ConcurrentEndpointSyncs        int // --concurrent-endpoint-syncs (5): the endpoints controller's

	// MaxEndpointsPerSlice is the most endpoints the endpointslice controller puts in one
	// EndpointSlice (--max-endpoints-per-slice, 100; 1-1000).
	MaxEndpointsPerSlice int
	// EndpointUpdatesBatchPeriod and EndpointSliceUpdatesBatchPeriod delay the sync a pod
	// change queues in the endpoints and endpointslice controllers, so that several changes
	// make one write (--endpoint-updates-batch-period, --endpointslice-updates-batch-period;
	// 0: none).
	EndpointUpdatesBatchPeriod      time.Duration
	EndpointSliceUpdatesBatchPeriod time.Duration

	// ResourceQuotaSyncPeriod is how often every quota's usage is recomputed even if no
	// event asked for it (--resource-quota-sync-period, 5 min; 0 disables).
	ResourceQuotaSyncPeriod time.Duration

	// ClusterCIDR is the pod network nodes get a slice of (--cluster-cidr, 10.244.0.0/16);
	// NodeCIDRMaskSize is the slice size (--node-cidr-mask-size, 24).
	ClusterCIDR      string
	NodeCIDRMaskSize int

	// NodeMonitorGracePeriod is how long a node may go without a heartbeat before it is
	// marked NotReady/Unknown (--node-monitor-grace-period, 40 s).
	NodeMonitorGracePeriod time.Duration
	// NodeMonitorPeriod is how often node health is checked (--node-monitor-period, 5 s).
	NodeMonitorPeriod time.Duration
	// DefaultUnreachableTolerationSeconds is how long pods tolerate an unreachable or
	// not-ready node before eviction unless they say otherwise
	// (--default-unreachable-toleration-seconds, --default-not-ready-toleration-seconds, 300).
	DefaultUnreachableTolerationSeconds int64
	DefaultNotReadyTolerationSeconds    int64
	// NodeEvictionRate is how many nodes per second of a healthy zone (or of one of several
	// zones that is fully down) get a NoExecute taint (--node-eviction-rate, 0.1);
	// SecondaryNodeEvictionRate is the rate in a partially disrupted zone of more than
	// LargeClusterSizeThreshold nodes (--secondary-node-eviction-rate, 0.01;
	// --large-cluster-size-threshold, 50), smaller zones then get none. A zone is partially
	// disrupted when more than 2 and at least UnhealthyZoneThreshold of its nodes are not
	// ready (--unhealthy-zone-threshold, 0.55).
	NodeEvictionRate          float64
	SecondaryNodeEvictionRate float64
	LargeClusterSizeThreshold int
	UnhealthyZoneThreshold    float64

	// TerminatedPodGCThreshold is how many terminated pods may exist before the pod
	// garbage collector deletes the oldest (--terminated-pod-gc-threshold, 12500; 0 or less:
	// never).
	TerminatedPodGCThreshold int

	// RootCAFile is the PEM bundle the root-ca-cert-publisher puts in every namespace's
	// kube-root-ca.crt (--root-ca-file); when empty, the CA of the controller-manager's
	// kubeconfig. RootCA is that bundle, read once at start by the controller-manager.
	RootCAFile string
	RootCA     []byte

	// LocalPathHelperImage is the image of the kubelab.io/local-path provisioner's helper
	// pods, which remove a deleted volume's directory on its node
	// (--local-path-helper-image, nginx:1.14.2: every kubelab node has it offline, with
	// /usr/local/bin/kubelab-tool, whose rm the helpers run).
	LocalPathHelperImage string
}

// DefaultOptions are kube-controller-manager's defaults.
func DefaultOptions() Options {
	return Options{
		ConcurrentDeploymentSyncs: 5, ConcurrentReplicaSetSyncs: 5, ConcurrentGCSyncs: 20, ConcurrentNamespaceSyncs: 10,
		ConcurrentResourceQuotaSyncs: 5, ConcurrentJobSyncs: 5, ConcurrentDaemonSetSyncs: 2, ConcurrentStatefulSetSyncs: 5, ConcurrentTTLSyncs: 5, ConcurrentCronJobSyncs: 5, ResourceQuotaSyncPeriod: 5 * time.Minute,
		ConcurrentServiceEndpointSyncs: 5, ConcurrentEndpointSyncs: 5, MaxEndpointsPerSlice: 100,
		ClusterCIDR: "10.244.0.0/16", NodeCIDRMaskSize: 24,
		NodeMonitorGracePeriod: 40 * time.Second, NodeMonitorPeriod: 5 * time.Second,
		DefaultUnreachableTolerationSeconds: 300, DefaultNotReadyTolerationSeconds: 300,
		NodeEvictionRate: 0.1, SecondaryNodeEvictionRate: 0.01, LargeClusterSizeThreshold: 50, UnhealthyZoneThreshold: 0.55,
		TerminatedPodGCThreshold: 12500,
		LocalPathHelperImage:     "nginx:1.14.2",
	}
}
