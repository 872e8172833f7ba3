// Package watch defines the stream of changes a watch delivers, shared by the apiserver that
// produces it and the clients that consume it.
package watch

import (
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

// EventType is the type of a watch event, as written on the wire.
type EventType string

const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Bookmark EventType = "BOOKMARK"
	// Error carries a Status (for example 410 Gone) instead of an object and ends the stream.
	Error EventType = "ERROR"
)

// Event is one change. For Deleted, Object is the last state before deletion, with the
// resourceVersion of the deletion.
type Event struct {
	Type   EventType
	Object runtime.Object
	// Status is set for Error events only.
	Status *metav1.Status
}

// Interface is a running watch. ResultChan is closed when the watch ends, for any reason;
// Stop ends it early and may be called more than once.
type Interface interface {
	ResultChan() <-chan Event
	Stop()
}
