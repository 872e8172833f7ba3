// Package controller holds what every kubelab controller shares, ported from Kubernetes'
// pkg/controller: pod readiness and availability, controller references and the
// ControllerRefManager that adopts and releases pods, expectations (so a stale cache never
// makes a controller create or delete twice), slow-start batches, the order in which
// surplus pods are deleted, the pod-template-hash, ControllerRevision history (the template
// patch, names, ordering), and the key and enqueue helpers of informer event handlers.
//
// Everything here is safe for concurrent use unless its doc says otherwise, and nothing here
// modifies an object it is given: objects from informer caches are shared.
package controller
