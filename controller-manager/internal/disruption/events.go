package disruption

import "kubelab.io/proto/runtime"

// Component is the source of the controller's Events. Upstream's disruption controller
// names itself "controllermanager" there, and kubectl describe shows it so.
const Component = "controllermanager"

// Reasons of the Events the controller records, upstream's, for the situations kubelab has.
const (
	// ReasonNoPods (Normal) is a budget whose selector matches no pod: often a typo in the
	// selector, and why such a budget allows no disruption. Warning when the pods could
	// not be listed at all (an invalid selector).
	ReasonNoPods = "NoPods"
	// ReasonCalculateExpectedPodCountFailed is a budget whose expected pod count cannot be
	// worked out (a matched pod's controller is not a kind with a scale); the budget fails
	// safe.
	ReasonCalculateExpectedPodCountFailed = "CalculateExpectedPodCountFailed"
	// ReasonUnmanagedPods is a budget counting by scale (a percentage or maxUnavailable)
	// that matches pods without a controller, which that count cannot see.
	ReasonUnmanagedPods = "UnmanagedPods"
	// ReasonNotDeleted is recorded on a pod granted an eviction that was still there when
	// the grant expired (DeletionTimeout): the budget stops holding a disruption for it.
	ReasonNotDeleted = "NotDeleted"
)

// EventRecorder is the part of kubelab.io/client/record.Recorder the controller uses. The
// recorder aggregates repeats into one Event's count, so a budget synced over and over in
// the same state does not flood the API with Events.
type EventRecorder interface {
	Eventf(obj runtime.Object, eventType, reason, format string, args ...any)
}
