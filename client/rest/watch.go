package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"kubelab.io/client/transport"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/watch"
)

// Watch streams the changes of ref's resource (in ref's namespace, or all) that match opts,
// from opts.ResourceVersion on. Starting the watch is one request (rate limited and retried
// like a get); a refusal is returned as an *apierrors.StatusError. The stream is the
// server's JSON lines, {"type": …, "object": …}: objects are decoded as ref's kind, and an
// ERROR event carries its Status in Event.Status (a 410 Gone means: re-list). The result
// channel is closed when the stream ends (server timeout, broken connection, ctx cancelled,
// Stop); an undecodable event is delivered as an ERROR event with a 500 Status and ends it.
func (c *Client) Watch(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (watch.Interface, error) {
	ref.Name = ""
	q := listQuery(opts)
	q.Set("watch", "true")
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.stream(ctx, http.MethodGet, ResourcePath(ref, ""), q, nil, "")
	if err != nil {
		cancel()
		return nil, err
	}
	w := &streamWatcher{result: make(chan watch.Event), cancel: cancel}
	go w.run(ctx, resp.Body, func(raw []byte) (watch.Event, error) { return decodeEvent(ref.Mapping, raw) })
	return w, nil
}

// streamWatcher turns a JSON stream into watch events.
type streamWatcher struct {
	result chan watch.Event
	cancel context.CancelFunc
	once   sync.Once
}

func (w *streamWatcher) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch: the request is cancelled and the channel closes soon after. It may be
// called more than once, from any goroutine.
func (w *streamWatcher) Stop() { w.once.Do(w.cancel) }

func (w *streamWatcher) run(ctx context.Context, body io.ReadCloser, decode func([]byte) (watch.Event, error)) {
	defer close(w.result)
	defer w.Stop()
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				w.send(ctx, decodeFailure(err))
			}
			// io.EOF: the server ended the watch; anything else is the connection going
			// away (or Stop): the consumer re-watches from the last resourceVersion.
			return
		}
		ev, err := decode(raw)
		if err != nil {
			w.send(ctx, decodeFailure(err))
			return
		}
		if !w.send(ctx, ev) {
			return
		}
		if ev.Type == watch.Error {
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

// decodeFailure is the ERROR event for an event that could not be decoded.
func decodeFailure(err error) watch.Event {
	return watch.Event{Type: watch.Error, Status: apierrors.NewInternalError(
		fmt.Errorf("unable to decode an event from the watch stream: %w", err)).Status()}
}
