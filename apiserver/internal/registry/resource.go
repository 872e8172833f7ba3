// Package registry serves every kind through one generic Store: a Resource registration says
// what is kind-specific (names, scope, defaulting, validation, selectable fields, graceful
// deletion) and the Store does the rest the same way for all kinds — server-set metadata,
// generation bumps, the status subresource, finalizers, optimistic concurrency, selectors,
// paging and watches. Adding a kind is a message in proto/ and a Resource here.
package registry

import (
	"fmt"
	"sort"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// Resource is the registration of one served resource.
type Resource struct {
	Kind       runtime.GroupVersionKind
	Plural     string
	Singular   string
	ShortNames []string
	Categories []string
	Namespaced bool

	// StatusSubresource splits writes: the main resource never changes status and
	// {resource}/status changes nothing else.
	StatusSubresource bool
	// KeepStatusOnCreate lets a create carry a status (Node, Event); otherwise the status a
	// client sends on create is dropped, as Kubernetes does.
	KeepStatusOnCreate bool
	// GenerationFields are the top-level fields whose change bumps metadata.generation (a
	// new object starts at 1). Nil means spec, for kinds that have one; a kind without a
	// spec names its own (an EndpointSlice's addressType, endpoints and ports).
	GenerationFields []protoreflect.Name

	// Default fills unset fields (kubelab.io/proto/defaults).
	Default func(runtime.Object)
	// PrepareForCreate sets server-owned state on a new object (a pod's Pending phase and
	// QoS class), after mutating admission.
	PrepareForCreate func(runtime.Object)
	// PrepareForUpdate reconciles an update with the stored object before validation, after
	// mutating admission (a Service keeps the cluster IP and node ports a replace left out).
	// It runs on the main resource only, not on subresources.
	PrepareForUpdate func(obj, old runtime.Object)
	// PrepareForStatusUpdate reconciles a status subresource update with the stored object
	// before validation (a PersistentVolume's lastPhaseTransitionTime follows its phase); now
	// is the store's clock.
	PrepareForStatusUpdate func(obj, old runtime.Object, now time.Time)
	// Allocator, when set, gives objects values from shared pools before validation, held
	// as storage claims written with the object (a Service's cluster IP and node ports).
	Allocator Allocator
	// Validate and ValidateUpdate check an object about to be stored.
	Validate       func(runtime.Object) apierrors.FieldErrors
	ValidateUpdate func(obj, old runtime.Object) apierrors.FieldErrors

	// Fields returns the values field selectors may name beyond metadata.name and
	// metadata.namespace (spec.nodeName, status.phase, …). Its keys are the supported
	// field labels; others are refused with 400.
	Fields func(runtime.Object) map[string]string
	// FieldLabels lists the keys Fields returns.
	FieldLabels []string

	// GracePeriod, when set, makes deletion graceful: it returns how long to wait before
	// the object is removed (0 removes it at once), given the period the client asked for.
	GracePeriod func(obj runtime.Object, requested *int64) int64

	// ReturnDeletedObject answers a delete with the deleted object instead of a Status, as
	// Kubernetes does for pods.
	ReturnDeletedObject bool

	// DeletionBlocked reports kind-specific work that must finish before an object being
	// deleted can go (a namespace's spec.finalizers); MarkDeleting records on the object
	// that its deletion started (a namespace's Terminating phase).
	DeletionBlocked func(obj runtime.Object) bool
	MarkDeleting    func(obj runtime.Object)
	// DeleteForbidden, when set, may refuse the deletion of an object by its name, before the
	// object is even read (the system PriorityClasses, which the apiserver keeps). A
	// deletecollection leaves such objects alone instead of failing on them.
	DeleteForbidden func(name string) error

	// Virtual resources are answered, never stored (SelfSubjectAccessReview): create is
	// their only verb, their Store has no Storage, and the pipeline computes the answer.
	Virtual bool
}

// GroupResource names the resource in messages ("deployments.apps").
func (r *Resource) GroupResource() apierrors.GroupResource {
	return apierrors.GroupResource{Group: r.Kind.Group, Resource: r.Plural}
}

// Key is the etcd key of an object: /registry/{group.}resource/{namespace}/{name}.
func (r *Resource) Key(namespace, name string) string {
	if r.Namespaced {
		return r.Prefix() + namespace + "/" + name
	}
	return r.Prefix() + name
}

// Prefix is the etcd key prefix of every object of the resource, ending in "/".
func (r *Resource) Prefix() string {
	return "/registry/" + r.storagePrefix() + "/"
}

// NamespacePrefix is the prefix of the objects of one namespace, ending in "/".
func (r *Resource) NamespacePrefix(namespace string) string {
	if !r.Namespaced || namespace == "" {
		return r.Prefix()
	}
	return r.Prefix() + namespace + "/"
}

func (r *Resource) storagePrefix() string {
	// Kubernetes keeps the core and apps groups without a group segment; other groups are
	// prefixed so resources with the same plural cannot collide.
	switch r.Kind.Group {
	case "", "apps", "coordination.k8s.io", "rbac.authorization.k8s.io", "admissionregistration.k8s.io", "discovery.k8s.io", "scheduling.k8s.io":
		return r.Plural
	default:
		return r.Kind.Group + "/" + r.Plural
	}
}

// GroupVersion is a served API group version ("apps/v1", or "v1" for core).
type GroupVersion struct {
	Group   string
	Version string
}

func (gv GroupVersion) String() string {
	if gv.Group == "" {
		return gv.Version
	}
	return gv.Group + "/" + gv.Version
}

// Registry holds every served resource. It is built at start-up and read-only afterwards.
type Registry struct {
	resources []*Resource
	byPath    map[string]*Resource // "apps/v1/deployments"
}

func NewRegistry() *Registry { return &Registry{byPath: map[string]*Resource{}} }

// Add registers r; registering the same resource twice is a programming error.
func (reg *Registry) Add(r *Resource) error {
	if r.Plural == "" {
		return fmt.Errorf("resource for %s has no plural name", r.Kind)
	}
	key := GroupVersion{r.Kind.Group, r.Kind.Version}.String() + "/" + r.Plural
	if _, dup := reg.byPath[key]; dup {
		return fmt.Errorf("resource %s registered twice", key)
	}
	reg.byPath[key] = r
	reg.resources = append(reg.resources, r)
	return nil
}

// Lookup finds a resource by group, version and plural.
func (reg *Registry) Lookup(group, version, plural string) (*Resource, bool) {
	r, ok := reg.byPath[GroupVersion{group, version}.String()+"/"+plural]
	return r, ok
}

// Resources returns every registered resource.
func (reg *Registry) Resources() []*Resource { return reg.resources }

// GroupVersions returns the served group versions, the core group first, then by name.
func (reg *Registry) GroupVersions() []GroupVersion {
	seen := map[GroupVersion]bool{}
	var out []GroupVersion
	for _, r := range reg.resources {
		gv := GroupVersion{r.Kind.Group, r.Kind.Version}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Group == "") != (out[j].Group == "") {
			return out[i].Group == ""
		}
		return out[i].String() < out[j].String()
	})
	return out
}

// InGroupVersion returns the resources of one group version, in registration order.
func (reg *Registry) InGroupVersion(gv GroupVersion) []*Resource {
	var out []*Resource
	for _, r := range reg.resources {
		if r.Kind.Group == gv.Group && r.Kind.Version == gv.Version {
			out = append(out, r)
		}
	}
	return out
}
