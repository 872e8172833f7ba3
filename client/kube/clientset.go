// Package kube is the typed clientset every kubelab component uses: one generic Resource
// client per kind, over either transport (REST/JSON or gRPC/protobuf), behind the same
// transport.Interface.
//
//	cs, err := kube.NewForConfigFile(kubeconfigPath, kube.Options{UserAgent: "scheduler", GRPC: true})
//	pod, err := cs.Pods("default").Get(ctx, "web-0")
//	if apierrors.IsNotFound(err) { … }
package kube

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"kubelab.io/client/flowcontrol"
	"kubelab.io/client/grpcclient"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/rest"
	"kubelab.io/client/retry"
	"kubelab.io/client/transport"
	appsv1 "kubelab.io/proto/api/apps/v1"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	batchv1 "kubelab.io/proto/api/batch/v1"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	discoveryv1 "kubelab.io/proto/api/discovery/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// DefaultGRPCPort is the apiserver's default gRPC port (its --grpc-port).
const DefaultGRPCPort = 6444

// Options configure a Clientset built from a configuration.
type Options struct {
	// QPS, Burst, RateLimiter, UserAgent, Timeout and Retry are passed to the transport;
	// see rest.Options.
	QPS         float32
	Burst       int
	RateLimiter flowcontrol.RateLimiter
	UserAgent   string
	Timeout     time.Duration
	Retry       *retry.Policy

	// GRPC makes NewForConfigFile use the gRPC transport instead of REST.
	GRPC bool
	// GRPCAddress is the host:port of the apiserver's gRPC port. When empty it is the
	// kubeconfig server's host with the port replaced by GRPCPort (DefaultGRPCPort when 0):
	// server https://10.0.0.1:6443 gives 10.0.0.1:6444.
	GRPCAddress string
	GRPCPort    int

	// Overrides are applied when resolving a kubeconfig (NewForConfigFile).
	Overrides kubeconfig.Overrides
}

func (o Options) rest() rest.Options {
	return rest.Options{QPS: o.QPS, Burst: o.Burst, RateLimiter: o.RateLimiter, UserAgent: o.UserAgent, Timeout: o.Timeout, Retry: o.Retry}
}

func (o Options) grpc(cfg *kubeconfig.RESTConfig) grpcclient.Options {
	g := grpcclient.Options{QPS: o.QPS, Burst: o.Burst, RateLimiter: o.RateLimiter, UserAgent: o.UserAgent, Timeout: o.Timeout, Retry: o.Retry}
	if cfg != nil {
		g.BearerToken, g.Username, g.Password = cfg.BearerToken, cfg.Username, cfg.Password
	}
	return g
}

// Clientset gives typed clients of every served kind over one transport.
type Clientset struct {
	t transport.Interface
	// namespace is the configuration's default namespace, when built from one.
	namespace string
}

// New returns a clientset over t.
func New(t transport.Interface) *Clientset {
	return &Clientset{t: t, namespace: kubeconfig.DefaultNamespace}
}

// NewForConfig returns a clientset speaking REST to cfg's server.
func NewForConfig(cfg *kubeconfig.RESTConfig, opts Options) (*Clientset, error) {
	c, err := rest.New(cfg, opts.rest())
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	return &Clientset{t: c, namespace: cfg.Namespace}, nil
}

// NewGRPC returns a clientset speaking gRPC to addr (host:port) over TLS with tlsCfg.
func NewGRPC(addr string, tlsCfg *tls.Config, opts Options) (*Clientset, error) {
	c, err := grpcclient.New(addr, tlsCfg, opts.grpc(nil))
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	return New(c), nil
}

// NewGRPCForConfig returns a clientset speaking gRPC to the server of cfg, with cfg's TLS
// material and credentials, at the address GRPCAddress (see Options) names.
func NewGRPCForConfig(cfg *kubeconfig.RESTConfig, opts Options) (*Clientset, error) {
	addr, err := GRPCAddress(cfg, opts)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLSClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	c, err := grpcclient.New(addr, tlsCfg, opts.grpc(cfg))
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	return &Clientset{t: c, namespace: cfg.Namespace}, nil
}

// NewForConfigFile loads a kubeconfig as kubectl does (path, else $KUBECONFIG, else
// ~/.kube/config; see kubeconfig.LoadDefault), resolves it with opts.Overrides and returns
// a clientset over gRPC when opts.GRPC is set, over REST otherwise.
func NewForConfigFile(path string, opts Options) (*Clientset, error) {
	cfg, _, err := kubeconfig.LoadDefault(path)
	if err != nil {
		return nil, fmt.Errorf("kube: load kubeconfig: %w", err)
	}
	rc, err := cfg.ClientConfig(opts.Overrides)
	if err != nil {
		return nil, fmt.Errorf("kube: kubeconfig: %w", err)
	}
	if opts.GRPC {
		return NewGRPCForConfig(rc, opts)
	}
	return NewForConfig(rc, opts)
}

// GRPCAddress is where the gRPC client of cfg connects: opts.GRPCAddress when set, else the
// host of cfg.Host with port opts.GRPCPort (DefaultGRPCPort when 0).
func GRPCAddress(cfg *kubeconfig.RESTConfig, opts Options) (string, error) {
	if opts.GRPCAddress != "" {
		return opts.GRPCAddress, nil
	}
	if cfg == nil {
		return "", errors.New("kube: no configuration to find the gRPC address in")
	}
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("kube: server %q has no host to reach gRPC on", cfg.Host)
	}
	port := opts.GRPCPort
	if port == 0 {
		port = DefaultGRPCPort
	}
	return net.JoinHostPort(u.Hostname(), strconv.Itoa(port)), nil
}

// Transport is the clientset's transport, for callers that work on untyped objects
// (informers, kubectl).
func (c *Clientset) Transport() transport.Interface { return c.t }

// Namespace is the default namespace of the configuration the clientset was built from
// ("default" otherwise).
func (c *Clientset) Namespace() string { return c.namespace }

// Close releases the transport's connections when it holds any.
func (c *Clientset) Close() error {
	if cl, ok := c.t.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// Typed clients of the served kinds.
type (
	PodClient            = Resource[*corev1.Pod, *corev1.PodList]
	NodeClient           = Resource[*corev1.Node, *corev1.NodeList]
	NamespaceClient      = Resource[*corev1.Namespace, *corev1.NamespaceList]
	EventClient          = Resource[*corev1.Event, *corev1.EventList]
	LimitRangeClient     = Resource[*corev1.LimitRange, *corev1.LimitRangeList]
	ResourceQuotaClient  = Resource[*corev1.ResourceQuota, *corev1.ResourceQuotaList]
	ConfigMapClient      = Resource[*corev1.ConfigMap, *corev1.ConfigMapList]
	SecretClient         = Resource[*corev1.Secret, *corev1.SecretList]
	ServiceAccountClient = Resource[*corev1.ServiceAccount, *corev1.ServiceAccountList]
	PDBClient            = Resource[*policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList]
	ServiceClient        = Resource[*corev1.Service, *corev1.ServiceList]
	EndpointsClient      = Resource[*corev1.Endpoints, *corev1.EndpointsList]
	EndpointSliceClient  = Resource[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList]
	JobClient            = Resource[*batchv1.Job, *batchv1.JobList]
	CronJobClient        = Resource[*batchv1.CronJob, *batchv1.CronJobList]
	DeploymentClient     = Resource[*appsv1.Deployment, *appsv1.DeploymentList]
	ReplicaSetClient     = Resource[*appsv1.ReplicaSet, *appsv1.ReplicaSetList]
	DaemonSetClient      = Resource[*appsv1.DaemonSet, *appsv1.DaemonSetList]
	StatefulSetClient    = Resource[*appsv1.StatefulSet, *appsv1.StatefulSetList]
	RevisionClient       = Resource[*appsv1.ControllerRevision, *appsv1.ControllerRevisionList]
	PriorityClassClient  = Resource[*schedulingv1.PriorityClass, *schedulingv1.PriorityClassList]
	PVClient             = Resource[*corev1.PersistentVolume, *corev1.PersistentVolumeList]
	PVCClient            = Resource[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList]
	StorageClassClient   = Resource[*storagev1.StorageClass, *storagev1.StorageClassList]
	LeaseClient          = Resource[*coordinationv1.Lease, *coordinationv1.LeaseList]
	ClusterRoleClient    = Resource[*rbacv1.ClusterRole, *rbacv1.ClusterRoleList]
)

// Pods in namespace ns ("" for every namespace, to list and watch).
func (c *Clientset) Pods(ns string) *PodClient {
	return NewResource[*corev1.Pod, *corev1.PodList](c.t, ns)
}

// Nodes (cluster-scoped).
func (c *Clientset) Nodes() *NodeClient { return NewResource[*corev1.Node, *corev1.NodeList](c.t, "") }

// Namespaces (cluster-scoped).
func (c *Clientset) Namespaces() *NamespaceClient {
	return NewResource[*corev1.Namespace, *corev1.NamespaceList](c.t, "")
}

// Events in namespace ns.
func (c *Clientset) Events(ns string) *EventClient {
	return NewResource[*corev1.Event, *corev1.EventList](c.t, ns)
}

// LimitRanges in namespace ns.
func (c *Clientset) LimitRanges(ns string) *LimitRangeClient {
	return NewResource[*corev1.LimitRange, *corev1.LimitRangeList](c.t, ns)
}

// ResourceQuotas in namespace ns.
func (c *Clientset) ResourceQuotas(ns string) *ResourceQuotaClient {
	return NewResource[*corev1.ResourceQuota, *corev1.ResourceQuotaList](c.t, ns)
}

// ConfigMaps in namespace ns.
func (c *Clientset) ConfigMaps(ns string) *ConfigMapClient {
	return NewResource[*corev1.ConfigMap, *corev1.ConfigMapList](c.t, ns)
}

// Secrets in namespace ns. A kubelet may only read the ones its pods refer to (the Node
// authorizer): get them by name, or list and watch one with a metadata.name field selector.
func (c *Clientset) Secrets(ns string) *SecretClient {
	return NewResource[*corev1.Secret, *corev1.SecretList](c.t, ns)
}

// ServiceAccounts in namespace ns.
func (c *Clientset) ServiceAccounts(ns string) *ServiceAccountClient {
	return NewResource[*corev1.ServiceAccount, *corev1.ServiceAccountList](c.t, ns)
}

// Deployments in namespace ns.
func (c *Clientset) Deployments(ns string) *DeploymentClient {
	return NewResource[*appsv1.Deployment, *appsv1.DeploymentList](c.t, ns)
}

// ReplicaSets in namespace ns.
func (c *Clientset) ReplicaSets(ns string) *ReplicaSetClient {
	return NewResource[*appsv1.ReplicaSet, *appsv1.ReplicaSetList](c.t, ns)
}

// DaemonSets in namespace ns.
func (c *Clientset) DaemonSets(ns string) *DaemonSetClient {
	return NewResource[*appsv1.DaemonSet, *appsv1.DaemonSetList](c.t, ns)
}

// StatefulSets in namespace ns.
func (c *Clientset) StatefulSets(ns string) *StatefulSetClient {
	return NewResource[*appsv1.StatefulSet, *appsv1.StatefulSetList](c.t, ns)
}

// ControllerRevisions in namespace ns.
func (c *Clientset) ControllerRevisions(ns string) *RevisionClient {
	return NewResource[*appsv1.ControllerRevision, *appsv1.ControllerRevisionList](c.t, ns)
}

// PodDisruptionBudgets in namespace ns.
func (c *Clientset) PodDisruptionBudgets(ns string) *PDBClient {
	return NewResource[*policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList](c.t, ns)
}

// Services in namespace ns.
func (c *Clientset) Services(ns string) *ServiceClient {
	return NewResource[*corev1.Service, *corev1.ServiceList](c.t, ns)
}

// Endpoints in namespace ns.
func (c *Clientset) Endpoints(ns string) *EndpointsClient {
	return NewResource[*corev1.Endpoints, *corev1.EndpointsList](c.t, ns)
}

// EndpointSlices in namespace ns.
func (c *Clientset) EndpointSlices(ns string) *EndpointSliceClient {
	return NewResource[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList](c.t, ns)
}

// Jobs in namespace ns.
func (c *Clientset) Jobs(ns string) *JobClient {
	return NewResource[*batchv1.Job, *batchv1.JobList](c.t, ns)
}

// CronJobs in namespace ns.
func (c *Clientset) CronJobs(ns string) *CronJobClient {
	return NewResource[*batchv1.CronJob, *batchv1.CronJobList](c.t, ns)
}

// Leases in namespace ns.
func (c *Clientset) Leases(ns string) *LeaseClient {
	return NewResource[*coordinationv1.Lease, *coordinationv1.LeaseList](c.t, ns)
}

// PriorityClasses (cluster-scoped).
func (c *Clientset) PriorityClasses() *PriorityClassClient {
	return NewResource[*schedulingv1.PriorityClass, *schedulingv1.PriorityClassList](c.t, "")
}

// PersistentVolumes (cluster-scoped).
func (c *Clientset) PersistentVolumes() *PVClient {
	return NewResource[*corev1.PersistentVolume, *corev1.PersistentVolumeList](c.t, "")
}

// PersistentVolumeClaims in namespace ns ("" for every namespace, to list and watch).
func (c *Clientset) PersistentVolumeClaims(ns string) *PVCClient {
	return NewResource[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList](c.t, ns)
}

// StorageClasses (cluster-scoped).
func (c *Clientset) StorageClasses() *StorageClassClient {
	return NewResource[*storagev1.StorageClass, *storagev1.StorageClassList](c.t, "")
}

// ClusterRoles (cluster-scoped).
func (c *Clientset) ClusterRoles() *ClusterRoleClient {
	return NewResource[*rbacv1.ClusterRole, *rbacv1.ClusterRoleList](c.t, "")
}

// Bind assigns a pod of namespace ns to a node: binding's metadata names the pod and its
// target the node (the pods/binding subresource).
func (c *Clientset) Bind(ctx context.Context, ns string, binding *corev1.Binding) error {
	if binding == nil {
		return errors.New("kube: bind: no binding")
	}
	m, ok := scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "Pod"})
	if !ok {
		return errors.New("kube: bind: pods are not served")
	}
	return c.t.Bind(ctx, transport.Ref{Mapping: m, Namespace: ns, Name: binding.GetMetadata().GetName()}, binding)
}

// CreateToken asks the apiserver for a token of the service account serviceAccount of
// namespace ns (the serviceaccounts/token subresource): req's spec names the audiences, the
// lifetime and the object the token is bound to; the answer's status carries the token and
// its expiry. req is not modified.
func (c *Clientset) CreateToken(ctx context.Context, ns, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if req == nil {
		req = &authenticationv1.TokenRequest{}
	}
	m, ok := scheme.MappingFor(runtime.GroupVersionKind{Group: scheme.GroupCore, Version: "v1", Kind: "ServiceAccount"})
	if !ok {
		return nil, errors.New("kube: create token: serviceaccounts are not served")
	}
	out, err := c.t.CreateSubresource(ctx, transport.Ref{Mapping: m, Namespace: ns, Name: serviceAccount}, "token", req)
	if err != nil {
		return nil, err
	}
	tr, ok := out.(*authenticationv1.TokenRequest)
	if !ok {
		return nil, fmt.Errorf("create token for serviceaccount %s/%s: the transport returned a %T, not a TokenRequest", ns, serviceAccount, out)
	}
	return tr, nil
}
