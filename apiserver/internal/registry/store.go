package registry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/request"
	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/apiserver/internal/uid"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/validation"
	"kubelab.io/proto/watch"
)

// Admission is the admission chain as the Store sees it.
type Admission interface {
	Admit(ctx context.Context, a *admission.Attributes) error
	Validate(ctx context.Context, a *admission.Attributes) error
}

// Store serves one Resource on top of its storage. It is safe for concurrent use.
type Store struct {
	Resource  *Resource
	Storage   storage.Interface
	Admission Admission
	// Clock is injected so tests control timestamps; nil means time.Now.
	Clock func() time.Time
	Log   *slog.Logger
}

func (s *Store) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s *Store) gr() apierrors.GroupResource { return s.Resource.GroupResource() }

// CreateOptions modify a create.
type CreateOptions struct {
	DryRun bool
}

// Create stores a new object: server-owned metadata is set (uid, creationTimestamp,
// generation, a generated name), status is reset unless the kind keeps it, then defaulting,
// mutating admission, the kind's PrepareForCreate, validation and validating admission run,
// in that order, before the object is written. Nothing is written when any step fails.
func (s *Store) Create(ctx context.Context, namespace string, obj runtime.Object, opts CreateOptions) (runtime.Object, error) {
	meta := runtime.Meta(obj)
	if err := s.checkNamespace(namespace, meta); err != nil {
		return nil, err
	}
	if meta.ResourceVersion != "" {
		return nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	if meta.Name == "" && meta.GenerateName != "" {
		meta.Name = GenerateName(meta.GenerateName)
	}
	meta.Uid = uid.New()
	meta.CreationTimestamp = &metav1.Time{Seconds: s.now().Unix()}
	meta.DeletionTimestamp = nil
	meta.DeletionGracePeriodSeconds = nil
	meta.SelfLink = ""
	if len(s.Resource.generationFields(obj)) > 0 {
		meta.Generation = 1
	}
	if !s.Resource.KeepStatusOnCreate {
		clearField(obj, "status")
	}
	if s.Resource.Default != nil {
		s.Resource.Default(obj)
	}
	attrs := s.attributes(ctx, admission.Create, "", obj, nil)
	attrs.DryRun = opts.DryRun
	if err := s.Admission.Admit(ctx, attrs); err != nil {
		return nil, err
	}
	// After mutating admission, as Kubernetes' BeforeCreate: what it sets may depend on what
	// admission added (a pod's QoS class on LimitRanger's default requests).
	if s.Resource.PrepareForCreate != nil {
		s.Resource.PrepareForCreate(obj)
	}
	if s.Resource.Allocator != nil {
		return s.createAllocated(ctx, obj, attrs, opts)
	}
	if err := s.validate(obj, nil); err != nil {
		return nil, err
	}
	if err := s.Admission.Validate(ctx, attrs); err != nil {
		return nil, err
	}
	if opts.DryRun {
		return obj, nil
	}
	out, err := s.Storage.Create(ctx, s.Resource.Key(meta.Namespace, meta.Name), obj)
	if err != nil {
		return nil, s.storageError(err, meta.Name)
	}
	return out, nil
}

// maxAllocationAttempts bounds how often a create chooses its pool values again after a
// concurrent write claimed one of them first.
const maxAllocationAttempts = 16

// createAllocated is the rest of Create for a kind with an Allocator: allocate, validate
// and write the object with its claims, allocating again from the request when a value it
// chose was claimed meanwhile (a value the client asked for then fails in Allocate).
func (s *Store) createAllocated(ctx context.Context, obj runtime.Object, attrs *admission.Attributes, opts CreateOptions) (runtime.Object, error) {
	claimer, ok := s.Storage.(storage.Claimer)
	if !ok && !opts.DryRun {
		return nil, apierrors.NewInternalError(fmt.Errorf("storage of %s cannot hold claims", s.Resource.Plural))
	}
	meta := obj.GetMetadata()
	for attempt := 0; ; attempt++ {
		try := proto.Clone(obj).(runtime.Object)
		if err := s.Resource.Allocator.Allocate(ctx, try, nil); err != nil {
			return nil, err
		}
		if err := s.validate(try, nil); err != nil {
			return nil, err
		}
		attrs.Object = try
		if err := s.Admission.Validate(ctx, attrs); err != nil {
			return nil, err
		}
		if opts.DryRun {
			return try, nil
		}
		out, err := claimer.CreateWithClaims(ctx, s.Resource.Key(meta.GetNamespace(), meta.GetName()), try, claimsDiff(s.Resource.Allocator, try, nil))
		if errors.Is(err, storage.ErrClaimTaken) && attempt+1 < maxAllocationAttempts {
			continue
		}
		if err != nil {
			return nil, s.storageError(err, meta.GetName())
		}
		return out, nil
	}
}

// Get reads one object.
func (s *Store) Get(ctx context.Context, namespace, name string) (runtime.Object, error) {
	obj, err := s.Storage.Get(ctx, s.Resource.Key(namespace, name))
	if err != nil {
		return nil, s.storageError(err, name)
	}
	return obj, nil
}

// UpdateOptions modify an update.
type UpdateOptions struct {
	DryRun bool
	// Subresource is "status" for a status update; "" for the main resource.
	Subresource string
}

// Update replaces an object. A resourceVersion in obj makes the write conditional on it
// (409 Conflict when it is stale); without one the update applies to whatever is stored.
// Server-owned metadata is kept, generation is bumped when the spec changed, and the status
// is kept from the stored object (status only changes through UpdateStatus). When the update
// removes the last finalizer of an object being deleted, the object is deleted for good.
func (s *Store) Update(ctx context.Context, namespace, name string, obj runtime.Object, opts UpdateOptions) (runtime.Object, error) {
	meta := runtime.Meta(obj)
	if err := s.checkNamespace(namespace, meta); err != nil {
		return nil, err
	}
	if meta.Name != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", meta.Name, name))
	}
	var pre *storage.Preconditions
	if meta.ResourceVersion != "" {
		pre = &storage.Preconditions{ResourceVersion: meta.ResourceVersion}
	}
	if meta.Uid != "" {
		if pre == nil {
			pre = &storage.Preconditions{}
		}
		pre.UID = meta.Uid
	}
	var dryRunResult runtime.Object
	tryUpdate := func(current runtime.Object) (runtime.Object, error) {
		var next runtime.Object
		switch opts.Subresource {
		case "status":
			next = s.mergeStatus(current, obj)
		case "finalize":
			// A namespace's finalize subresource changes spec.finalizers and nothing else.
			next = proto.Clone(current).(runtime.Object)
			copyField(next, obj, "spec")
		default:
			next = proto.Clone(obj).(runtime.Object)
			s.keepServerFields(next, current)
		}
		attrs := s.attributes(ctx, admission.Update, opts.Subresource, next, current)
		attrs.DryRun = opts.DryRun
		if err := s.Admission.Admit(ctx, attrs); err != nil {
			return nil, err
		}
		if opts.Subresource == "" && s.Resource.PrepareForUpdate != nil {
			s.Resource.PrepareForUpdate(next, current)
		}
		if opts.Subresource == "status" && s.Resource.PrepareForStatusUpdate != nil {
			s.Resource.PrepareForStatusUpdate(next, current, s.now())
		}
		if opts.Subresource == "" && s.Resource.Allocator != nil {
			if err := s.Resource.Allocator.Allocate(ctx, next, current); err != nil {
				return nil, err
			}
		}
		if err := s.validate(next, current); err != nil {
			return nil, err
		}
		if err := s.Admission.Validate(ctx, attrs); err != nil {
			return nil, err
		}
		if opts.DryRun {
			dryRunResult = next
			return nil, errDryRun
		}
		return next, nil
	}
	out, err := s.guaranteedUpdate(ctx, s.Resource.Key(meta.Namespace, name), pre, tryUpdate)
	if errors.Is(err, errDryRun) {
		return dryRunResult, nil
	}
	if err != nil {
		return nil, s.storageError(err, name)
	}
	out, _, err = s.finishDeletionIfDone(ctx, out)
	return out, err
}

// guaranteedUpdate is Storage.GuaranteedUpdate, with the claims a kind with an Allocator
// takes and releases written in the same transaction.
func (s *Store) guaranteedUpdate(ctx context.Context, key string, pre *storage.Preconditions, tryUpdate storage.UpdateFunc) (runtime.Object, error) {
	claimer, ok := s.Storage.(storage.Claimer)
	if s.Resource.Allocator == nil || !ok {
		return s.Storage.GuaranteedUpdate(ctx, key, pre, tryUpdate)
	}
	return claimer.GuaranteedUpdateWithClaims(ctx, key, pre, func(cur runtime.Object) (runtime.Object, storage.Claims, error) {
		next, err := tryUpdate(cur)
		if err != nil {
			return nil, storage.Claims{}, err
		}
		return next, claimsDiff(s.Resource.Allocator, next, cur), nil
	})
}

// deleteStored is Storage.Delete, releasing the claims of a kind with an Allocator in the
// same transaction.
func (s *Store) deleteStored(ctx context.Context, key string, pre *storage.Preconditions) (runtime.Object, error) {
	claimer, ok := s.Storage.(storage.Claimer)
	if s.Resource.Allocator == nil || !ok {
		return s.Storage.Delete(ctx, key, pre)
	}
	return claimer.DeleteWithClaims(ctx, key, pre, func(last runtime.Object) storage.Claims {
		return claimsDiff(s.Resource.Allocator, nil, last)
	})
}

// errDryRun aborts a storage update after everything but the write has run.
var errDryRun = errors.New("dry run")

// keepServerFields copies onto next what only the server may change: identity, timestamps,
// deletion state and, for kinds with a status subresource, the status. It then defaults next
// and bumps its generation when the spec changed.
func (s *Store) keepServerFields(next, current runtime.Object) {
	nm, cm := runtime.Meta(next), current.GetMetadata()
	nm.Uid = cm.GetUid()
	nm.CreationTimestamp = cm.GetCreationTimestamp()
	nm.DeletionTimestamp = cm.GetDeletionTimestamp()
	nm.DeletionGracePeriodSeconds = cm.DeletionGracePeriodSeconds
	nm.Generation = cm.GetGeneration()
	nm.ResourceVersion = cm.GetResourceVersion()
	nm.SelfLink = ""
	if nm.GenerateName == "" {
		nm.GenerateName = cm.GetGenerateName()
	}
	if s.Resource.StatusSubresource {
		copyField(next, current, "status")
	}
	if s.Resource.Default != nil {
		s.Resource.Default(next)
	}
	if fields := s.Resource.generationFields(next); len(fields) > 0 && !fieldsEqual(next, current, fields) {
		nm.Generation = cm.GetGeneration() + 1
	}
}

// generationFields are the fields of obj whose change bumps its generation.
func (r *Resource) generationFields(obj proto.Message) []protoreflect.Name {
	if r.GenerationFields != nil {
		return r.GenerationFields
	}
	if hasField(obj, "spec") {
		return specField
	}
	return nil
}

var specField = []protoreflect.Name{"spec"}

// fieldsEqual reports whether a and b hold the same values in the named top-level fields.
func fieldsEqual(a, b proto.Message, names []protoreflect.Name) bool {
	if len(names) == 1 && names[0] == "spec" {
		return fieldEqual(a, b, "spec") // the common case, without copies
	}
	am, bm := a.ProtoReflect(), b.ProtoReflect()
	pa, pb := am.Type().New(), bm.Type().New()
	for _, name := range names {
		fd := am.Descriptor().Fields().ByName(name)
		if fd == nil {
			continue
		}
		if am.Has(fd) {
			pa.Set(fd, am.Get(fd))
		}
		if bm.Has(fd) {
			pb.Set(fd, bm.Get(fd))
		}
	}
	return proto.Equal(pa.Interface(), pb.Interface())
}

// mergeStatus is the status subresource's update: the stored object with the new status.
func (s *Store) mergeStatus(current, obj runtime.Object) runtime.Object {
	next := proto.Clone(current).(runtime.Object)
	copyField(next, obj, "status")
	return next
}

// deletionDone reports whether an object being deleted has nothing left to wait for: no
// finalizers, no grace period, no kind-specific work.
func (s *Store) deletionDone(obj runtime.Object) bool {
	m := obj.GetMetadata()
	return m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && m.GetDeletionGracePeriodSeconds() == 0 &&
		(s.Resource.DeletionBlocked == nil || !s.Resource.DeletionBlocked(obj))
}

// finishDeletionIfDone deletes an object whose deletion was only waiting for finalizers (and,
// for graceful kinds, a grace period the owner has confirmed by setting it to 0).
func (s *Store) finishDeletionIfDone(ctx context.Context, obj runtime.Object) (_ runtime.Object, deleted bool, _ error) {
	m := obj.GetMetadata()
	if !s.deletionDone(obj) {
		return obj, false, nil
	}
	out, err := s.deleteStored(ctx, s.Resource.Key(m.GetNamespace(), m.GetName()),
		&storage.Preconditions{UID: m.GetUid(), ResourceVersion: m.GetResourceVersion()})
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		// Someone else finished the deletion, or changed the object again (and will
		// finish it when it is done): either way this update succeeded.
		return obj, false, nil
	}
	if err != nil {
		return nil, false, s.storageError(err, m.GetName())
	}
	return out, true, nil
}

// ListOptions select and page a list or a watch.
type ListOptions struct {
	LabelSelector   string
	FieldSelector   string
	ResourceVersion string
	Limit           int64
	Continue        string
}

// List returns the objects of a namespace ("" for every namespace) that match the options.
func (s *Store) List(ctx context.Context, namespace string, opts ListOptions) (runtime.ListObject, error) {
	res, err := s.ListItems(ctx, namespace, opts)
	if err != nil {
		return nil, err
	}
	list, err := scheme.Scheme.NewList(s.Resource.Kind)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	runtime.SetItems(list, res.Items)
	lm := runtime.ListMeta(list)
	lm.ResourceVersion = res.ResourceVersion
	lm.Continue = res.Continue
	lm.RemainingItemCount = res.RemainingItemCount
	return list, nil
}

// ListItems is List without the list object around the items, for callers inside the
// server that only read them (admission plugins list on every create).
func (s *Store) ListItems(ctx context.Context, namespace string, opts ListOptions) (*storage.ListResult, error) {
	pred, err := s.predicate(namespace, opts)
	if err != nil {
		return nil, err
	}
	res, err := s.Storage.List(ctx, s.Resource.NamespacePrefix(namespace), storage.ListOptions{
		ResourceVersion: opts.ResourceVersion, Limit: opts.Limit, Continue: opts.Continue, Predicate: pred,
	})
	if err != nil {
		return nil, s.storageError(err, "")
	}
	return res, nil
}

// Watch streams the changes to the objects that match the options, after
// opts.ResourceVersion.
func (s *Store) Watch(ctx context.Context, namespace string, opts ListOptions) (watch.Interface, error) {
	pred, err := s.predicate(namespace, opts)
	if err != nil {
		return nil, err
	}
	key := s.Resource.NamespacePrefix(namespace)
	if name, ok := exactName(opts.FieldSelector); ok && (namespace != "" || !s.Resource.Namespaced) {
		key = s.Resource.Key(namespace, name)
	}
	w, err := s.Storage.Watch(ctx, key, opts.ResourceVersion, pred)
	if err != nil {
		return nil, s.storageError(err, "")
	}
	return w, nil
}

// checkNamespace reconciles the namespace in the URL with the one in the object.
func (s *Store) checkNamespace(namespace string, meta *metav1.ObjectMeta) error {
	if !s.Resource.Namespaced {
		if meta.Namespace != "" {
			meta.Namespace = "" // Kubernetes drops it for cluster-scoped kinds
		}
		return nil
	}
	if meta.Namespace == "" {
		meta.Namespace = namespace
	}
	if meta.Namespace != namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

func (s *Store) validate(obj, old runtime.Object) error {
	var errs apierrors.FieldErrors
	meta := obj.GetMetadata()
	errs = append(errs, validation.ValidateObjectMetaName(meta, s.Resource.Namespaced, validation.NameFunc(s.Resource.Kind.Kind), "metadata")...)
	if old != nil {
		om := old.GetMetadata()
		if meta.GetName() != om.GetName() {
			errs = append(errs, apierrors.Invalid("metadata.name", meta.GetName(), "field is immutable"))
		}
		if s.Resource.ValidateUpdate != nil {
			errs = append(errs, s.Resource.ValidateUpdate(obj, old)...)
		}
	} else if s.Resource.Validate != nil {
		errs = append(errs, s.Resource.Validate(obj)...)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(s.Resource.Kind.Kind, s.Resource.Kind.Group, meta.GetName(), errs)
	}
	return nil
}

func (s *Store) attributes(ctx context.Context, op admission.Operation, sub string, obj, old runtime.Object) *admission.Attributes {
	a := &admission.Attributes{
		Operation: op, Kind: s.Resource.Kind, Resource: s.Resource.Plural, ResourceGroup: s.Resource.Kind.Group, Subresource: sub,
		Object: obj, OldObject: old, User: request.UserFrom(ctx),
	}
	m := obj
	if m == nil {
		m = old
	}
	if m != nil {
		a.Namespace, a.Name = m.GetMetadata().GetNamespace(), m.GetMetadata().GetName()
	}
	return a
}

// storageError turns a storage error class into the Status a client gets. This is the one
// place where storage failures meet the API.
func (s *Store) storageError(err error, name string) error {
	var se *apierrors.StatusError
	switch {
	case errors.As(err, &se):
		return err // from admission or validation inside an update
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(s.gr(), name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(s.gr(), name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(s.gr(), name, errors.New(storage.ErrConflict.Error()))
	case errors.Is(err, storage.ErrBadRequest):
		return apierrors.NewBadRequest(err.Error())
	case errors.Is(err, storage.ErrGone):
		return apierrors.NewGone(errors.Unwrap(err).Error())
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeout(err.Error())
	}
	if s.Log != nil {
		s.Log.Error("storage failed", "resource", s.Resource.Plural, "name", name, "err", err)
	}
	return apierrors.NewInternalError(err)
}

// hasField reports whether obj's kind has a field called name.
func hasField(obj proto.Message, name protoreflect.Name) bool {
	return obj.ProtoReflect().Descriptor().Fields().ByName(name) != nil
}

func clearField(obj proto.Message, name protoreflect.Name) {
	m := obj.ProtoReflect()
	if fd := m.Descriptor().Fields().ByName(name); fd != nil {
		m.Clear(fd)
	}
}

// copyField sets dst's field to a copy of src's.
func copyField(dst, src proto.Message, name protoreflect.Name) {
	dm, sm := dst.ProtoReflect(), src.ProtoReflect()
	fd := dm.Descriptor().Fields().ByName(name)
	if fd == nil {
		return
	}
	if !sm.Has(fd) {
		dm.Clear(fd)
		return
	}
	dm.Set(fd, protoreflect.ValueOfMessage(proto.Clone(sm.Get(fd).Message().Interface()).ProtoReflect()))
}

func fieldEqual(a, b proto.Message, name protoreflect.Name) bool {
	am, bm := a.ProtoReflect(), b.ProtoReflect()
	fd := am.Descriptor().Fields().ByName(name)
	if am.Has(fd) != bm.Has(fd) {
		return false
	}
	if !am.Has(fd) {
		return true
	}
	return proto.Equal(am.Get(fd).Message().Interface(), bm.Get(fd).Message().Interface())
}

// GenerateName appends five random characters to base, as Kubernetes does, from an alphabet
// without vowels (no accidental words) and without look-alike characters.
func GenerateName(base string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return base + string(b[:])
}
