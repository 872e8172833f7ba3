// Package workqueue is kubelab's port of client-go's util/workqueue: the queue controllers
// put object keys on from their event handlers and drain from worker goroutines.
//
// The contract, shared with client-go:
//
//   - A key waiting in the queue is stored once however often it is added (the dirty set).
//   - A key handed out by Get is in the processing set until Done; adding it meanwhile marks
//     it dirty, and Done puts it back, so it runs again but never on two workers at once.
//   - Workers call Get, defer Done, then Forget on success or AddRateLimited on error, so
//     failures retry with per-key exponential backoff under an overall token bucket.
//   - ShutDown makes Add a no-op and Get return shutdown=true once the queue is empty;
//     ShutDownWithDrain also waits for in-flight keys to be Done.
//
// Time comes from an injected k8s.io/utils/clock.Clock so tests step a fake clock instead of
// sleeping.
package workqueue
