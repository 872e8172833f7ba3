package registry

import (
	"fmt"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/fields"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// predicate builds the storage filter for a list or watch: the namespace (for a watch over
// every namespace it is a key prefix already), the label selector and the field selector.
// A field the kind cannot select on is a 400, as in Kubernetes.
func (s *Store) predicate(namespace string, opts ListOptions) (storage.Predicate, error) {
	ls, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	fs, err := fields.Parse(opts.FieldSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	for _, r := range fs.Requirements() {
		if !s.selectable(r.Field) {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
		}
	}
	if ls.Empty() && fs.Empty() {
		return nil, nil
	}
	return func(obj runtime.Object) bool {
		if !ls.Matches(obj.GetMetadata().GetLabels()) {
			return false
		}
		return fs.Empty() || fs.Matches(s.fieldSet(obj))
	}, nil
}

func (s *Store) selectable(field string) bool {
	switch field {
	case "metadata.name", "metadata.namespace":
		return true
	}
	for _, f := range s.Resource.FieldLabels {
		if f == field {
			return true
		}
	}
	return false
}

func (s *Store) fieldSet(obj runtime.Object) fields.Fields {
	set := fields.Fields{
		"metadata.name": obj.GetMetadata().GetName(),
	}
	if s.Resource.Namespaced {
		set["metadata.namespace"] = obj.GetMetadata().GetNamespace()
	}
	if s.Resource.Fields != nil {
		for k, v := range s.Resource.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

// exactName returns the name a field selector pins (metadata.name=x), which narrows a watch
// to one key.
func exactName(fieldSelector string) (string, bool) {
	fs, err := fields.Parse(fieldSelector)
	if err != nil {
		return "", false
	}
	return fs.RequiresExactMatch("metadata.name")
}
