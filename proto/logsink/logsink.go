// Package logsink keeps a component's logging from stalling it; every kubelab binary logs
// through one. slog's handlers write each record to their writer under a mutex; when that writer is stderr and stderr is a pipe
// nobody reads any more (a harness that read up to "apiserver serving" and stopped, a
// terminal on hold), the write blocks once the kernel's pipe buffer (64 KiB) is full, and
// every request, etcd included, then queues behind the mutex: the process is alive, accepts
// connections and completes TLS handshakes, and answers nothing. A Writer hands lines to one
// goroutine through a bounded queue instead and drops, and counts, what does not fit.
package logsink

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Writer is an io.Writer whose Write never waits for the writer underneath.
type Writer struct {
	out     io.Writer
	queue   chan entry
	dropped atomic.Int64
}

// entry is a line to write, or (flushed set) a marker Flush waits for.
type entry struct {
	line    []byte
	flushed chan struct{}
}

// New starts a Writer that passes writes to out, holding up to queue of them while out is
// slow.
func New(out io.Writer, queue int) *Writer {
	w := &Writer{out: out, queue: make(chan entry, queue)}
	go w.run()
	return w
}

// Write queues a copy of p (one log record, for slog's handlers) and returns at once; when
// the queue is full, p is dropped and counted. It never fails: a log line must not fail the
// work it describes.
func (w *Writer) Write(p []byte) (int, error) {
	line := append([]byte(nil), p...)
	select {
	case w.queue <- entry{line: line}:
	default:
		w.dropped.Add(1)
	}
	return len(p), nil
}

// Dropped is how many writes were dropped so far.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

func (w *Writer) run() {
	var reported int64
	for e := range w.queue {
		if e.flushed != nil {
			close(e.flushed)
			continue
		}
		// Say what was lost as soon as out moves again, so a reader of the log knows
		// that lines are missing and roughly where.
		if n := w.dropped.Load(); n > reported {
			fmt.Fprintf(w.out, "logsink: %d log lines dropped: the log output was blocked\n", n-reported)
			reported = n
		}
		_, _ = w.out.Write(e.line)
	}
}

// Flush waits until what was written before it has been passed on, at most timeout (out
// may be the very thing that is stuck), and reports whether it was. Writes may go on
// meanwhile and after: a process's last goroutines log while it exits.
func (w *Writer) Flush(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	marker := make(chan struct{})
	select {
	case w.queue <- entry{flushed: marker}:
	case <-t.C:
		return false
	}
	select {
	case <-marker:
		return true
	case <-t.C:
		return false
	}
}
