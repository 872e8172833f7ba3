package validation

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// The PodSpec fields an update may change, as Kubernetes lists them in its message.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// ValidatePodUpdate checks an update of a Pod: the new pod must be valid, and its spec may
// only change container and init container images, activeDeadlineSeconds (set, or lowered),
// tolerations (additions, and tolerationSeconds of existing ones), and
// terminationGracePeriodSeconds from a negative value to 1.
func ValidatePodUpdate(pod, old *corev1.Pod) apierrors.FieldErrors {
	errs := ValidatePod(pod)
	spec, oldSpec := specOrEmpty(pod.GetSpec()), specOrEmpty(old.GetSpec())

	if len(spec.Containers) != len(oldSpec.Containers) {
		return append(errs, apierrors.Forbidden("spec.containers", "pod updates may not add or remove containers"))
	}
	if len(spec.InitContainers) != len(oldSpec.InitContainers) {
		return append(errs, apierrors.Forbidden("spec.initContainers", "pod updates may not add or remove containers"))
	}

	if ads := spec.ActiveDeadlineSeconds; ads != nil {
		// The range itself is checked with the spec.
		if oldSpec.ActiveDeadlineSeconds != nil && *ads <= math.MaxInt32 && *ads > *oldSpec.ActiveDeadlineSeconds {
			errs = append(errs, apierrors.Invalid("spec.activeDeadlineSeconds", *ads, "must be less than or equal to previous value"))
		}
	} else if oldSpec.ActiveDeadlineSeconds != nil {
		errs = append(errs, apierrors.Invalid("spec.activeDeadlineSeconds", nil, "must not update from a positive integer to nil value"))
	}
	errs = append(errs, validateOnlyAddedTolerations(spec.Tolerations, oldSpec.Tolerations, "spec.tolerations")...)

	// Copy into the new spec what may change, then any remaining difference is forbidden.
	munged := proto.Clone(spec).(*corev1.PodSpec)
	for i, c := range munged.Containers {
		if c != nil {
			c.Image = oldSpec.Containers[i].GetImage()
		}
	}
	for i, c := range munged.InitContainers {
		if c != nil {
			c.Image = oldSpec.InitContainers[i].GetImage()
		}
	}
	munged.ActiveDeadlineSeconds = oldSpec.ActiveDeadlineSeconds
	munged.Tolerations = oldSpec.Tolerations
	if g, og := spec.TerminationGracePeriodSeconds, oldSpec.TerminationGracePeriodSeconds; g != nil && og != nil && *og < 0 && *g == 1 {
		munged.TerminationGracePeriodSeconds = og
	}
	if !proto.Equal(munged, oldSpec) {
		var diff []string
		diffMessages(oldSpec.ProtoReflect(), munged.ProtoReflect(), "spec", &diff)
		errs = append(errs, apierrors.Forbidden("spec", fmt.Sprintf("pod updates may not change fields other than %s\n%s",
			strings.Join(updatablePodSpecFields, ","), strings.Join(diff, "\n"))))
	}
	return errs
}

// validateOnlyAddedTolerations: every old toleration must still be there, unchanged but for
// tolerationSeconds.
func validateOnlyAddedTolerations(tolerations, old []*corev1.Toleration, p string) apierrors.FieldErrors {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			c := proto.Clone(o).(*corev1.Toleration)
			c.TolerationSeconds = t.TolerationSeconds
			if proto.Equal(c, t) {
				found = true
				break
			}
		}
		if !found {
			return apierrors.FieldErrors{apierrors.Forbidden(p, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

// diffMessages lists, one line per field, where b differs from a: "  spec.nodeName: "" -> "n1"".
func diffMessages(a, b protoreflect.Message, p string, out *[]string) {
	fields := a.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		fp := child(p, string(fd.Name()))
		if !a.Has(fd) && !b.Has(fd) {
			continue
		}
		va, vb := a.Get(fd), b.Get(fd)
		switch {
		case fd.IsList():
			la, lb := va.List(), vb.List()
			if la.Len() != lb.Len() || fd.Kind() != protoreflect.MessageKind {
				if !listsEqual(fd, la, lb) {
					*out = append(*out, fmt.Sprintf("  %s: changed", fp))
				}
				continue
			}
			for j := 0; j < la.Len(); j++ {
				diffMessages(la.Get(j).Message(), lb.Get(j).Message(), index(fp, j), out)
			}
		case fd.IsMap():
			if !proto.Equal(wrap(a, fd), wrap(b, fd)) {
				*out = append(*out, fmt.Sprintf("  %s: changed", fp))
			}
		case fd.Kind() == protoreflect.MessageKind:
			if a.Has(fd) && b.Has(fd) {
				diffMessages(va.Message(), vb.Message(), fp, out)
			} else {
				*out = append(*out, fmt.Sprintf("  %s: changed", fp))
			}
		default:
			if a.Has(fd) != b.Has(fd) || va.Interface() != vb.Interface() {
				*out = append(*out, fmt.Sprintf("  %s: %s -> %s", fp, scalarString(a, fd), scalarString(b, fd)))
			}
		}
	}
}

func scalarString(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	if fd.HasPresence() && !m.Has(fd) {
		return "null"
	}
	v := m.Get(fd).Interface()
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v", v)
}

func listsEqual(fd protoreflect.FieldDescriptor, a, b protoreflect.List) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := 0; i < a.Len(); i++ {
		if fd.Kind() == protoreflect.MessageKind {
			if !proto.Equal(a.Get(i).Message().Interface(), b.Get(i).Message().Interface()) {
				return false
			}
		} else if a.Get(i).Interface() != b.Get(i).Interface() {
			return false
		}
	}
	return true
}

// wrap returns a message of m's type holding only field fd of m, to compare one map field.
func wrap(m protoreflect.Message, fd protoreflect.FieldDescriptor) proto.Message {
	w := m.New()
	if m.Has(fd) {
		w.Set(fd, m.Get(fd))
	}
	return w.Interface()
}
