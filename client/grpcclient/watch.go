package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/status"

	"kubelab.io/client/transport"
	servicev1 "kubelab.io/proto/api/service/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/watch"
)

// watchStartedHeader is the header metadata the server sends once a watch is established
// (grpcapi.WatchStartedHeader); its absence means the watch was refused and the stream
// carries the error.
const watchStartedHeader = "kubelab-watch-started"

// Watch streams the changes of ref's resource (in ref's namespace, or all) that match opts,
// from opts.ResourceVersion on. Starting the watch is one call, rate limited and retried
// like a read, that returns once the server has established the watch; a refusal is
// returned as an *apierrors.StatusError. An ERROR event carries its Status in
// Event.Status (a 410 Gone means: re-list) and ends the watch. The result channel is
// closed when the stream ends (server timeout or shutdown, broken connection, ctx
// cancelled, Stop); a stream that fails with an API Status delivers it as an ERROR event
// first.
func (c *Client) Watch(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (watch.Interface, error) {
	ref.Name = ""
	req := &servicev1.WatchRequest{
		Ref: resourceRef(ref), LabelSelector: opts.LabelSelector, FieldSelector: opts.FieldSelector,
		ResourceVersion: opts.ResourceVersion, TimeoutSeconds: opts.TimeoutSeconds,
	}
	ctx, cancel := context.WithCancel(ctx)
	var (
		stream servicev1.Resources_WatchClient
		first  *servicev1.WatchEvent
	)
	err := c.retry.Do(ctx, func(ctx context.Context) error {
		if err := c.limiter.Wait(ctx); err != nil {
			return err
		}
		s, err := c.rc.Watch(ctx, req)
		if err != nil {
			return err
		}
		md, err := s.Header()
		if err != nil {
			return err
		}
		if len(md.Get(watchStartedHeader)) == 0 {
			// No marker: the stream ended without events (its status is the refusal), or a
			// server without the marker sent a first event.
			ev, err := s.Recv()
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			first = ev
		}
		stream = s
		return nil
	}, classifier(true))
	if err != nil {
		cancel()
		return nil, apiError(describe("watch", ref), err)
	}
	w := &streamWatcher{result: make(chan watch.Event), cancel: cancel}
	go w.run(ctx, stream, first, ref.Mapping)
	return w, nil
}

// streamWatcher turns a WatchEvent stream into watch events.
type streamWatcher struct {
	result chan watch.Event
	cancel context.CancelFunc
	once   sync.Once
}

func (w *streamWatcher) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch: the stream is cancelled and the channel closes soon after. It may be
// called more than once, from any goroutine.
func (w *streamWatcher) Stop() { w.once.Do(w.cancel) }

func (w *streamWatcher) run(ctx context.Context, stream servicev1.Resources_WatchClient, first *servicev1.WatchEvent, m scheme.Mapping) {
	defer close(w.result)
	defer w.Stop()
	next := first
	for {
		if next == nil {
			ev, err := stream.Recv()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, io.EOF) {
					if st, ok := status.FromError(err); ok && hasAPIStatus(st) {
						w.send(ctx, watch.Event{Type: watch.Error, Status: apierrors.StatusFromGRPC(err)})
					}
				}
				return
			}
			next = ev
		}
		ev := convertEvent(m, next)
		next = nil
		if !w.send(ctx, ev) || ev.Type == watch.Error {
			return
		}
	}
}

// send delivers ev unless the watch was stopped first.
func (w *streamWatcher) send(ctx context.Context, ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// convertEvent is a wire event as a watch.Event; one that cannot be decoded becomes an
// ERROR event with a 500 Status.
func convertEvent(m scheme.Mapping, ev *servicev1.WatchEvent) watch.Event {
	t := watch.EventType(ev.GetType())
	switch t {
	case watch.Error:
		s := ev.GetStatus()
		if s == nil {
			return decodeFailure(errors.New("ERROR event without a status"))
		}
		return watch.Event{Type: t, Status: s}
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
		obj, err := unpackObject(m, ev.GetObject())
		if err != nil {
			return decodeFailure(fmt.Errorf("%s event: %w", t, err))
		}
		return watch.Event{Type: t, Object: obj}
	}
	return decodeFailure(fmt.Errorf("unknown event type %q", t))
}

func decodeFailure(err error) watch.Event {
	return watch.Event{Type: watch.Error, Status: apierrors.NewInternalError(
		fmt.Errorf("unable to decode an event from the watch stream: %w", err)).Status()}
}
