// Package spdytest is a SPDY remotecommand server (channel.k8s.io v4) and port-forward
// server (portforward.k8s.io) for tests: what a kubelet's /exec, /attach and /portForward
// answer once the runtime's streaming server takes over, with a few built-in commands
// instead of a container and the test's own listeners instead of a pod's ports. Real runtimes are tested in the e2e
// journey against containerd; this stand-in lets apiserver tests check the websocket to
// SPDY translation byte for byte and fail for the right reasons.
package spdytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// Protocol is the remotecommand version the server speaks, the newest a runtime's SPDY
// server (containerd's, the kubelet's) offers.
const Protocol = "v4.channel.k8s.io"

// streamTypeHeader names each SPDY stream's role, as Kubernetes' core/v1 StreamType.
const streamTypeHeader = "streamType"

// Server runs, for each SPDY upgrade, the command named by the query's "command"
// parameters with the streams named by input/output/error/tty (the kubelet's wire form):
//
//	cat                  copies stdin to stdout until stdin ends
//	echo ARGS...         prints ARGS joined by spaces and a newline
//	fail CODE MESSAGE... prints MESSAGE to stderr and exits with CODE
//	size                 prints the first terminal size the client sends, "WxH"
//
// Any other command fails as a runtime fails to start one: a Status without exit code.
// Attach (no command) behaves as cat. A request to /portForward/… is port-forward's
// SPDY session instead (see servePortForward). It records each request's method and URI.
type Server struct {
	// Dial connects a forwarded port, as a runtime dials the port inside the pod; nil
	// refuses every port, as nothing listening there would.
	Dial func(port uint16) (net.Conn, error)

	mu   sync.Mutex
	reqs []string
}

// Requests are the request URIs the server got, oldest first.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Method+" "+r.URL.RequestURI())
	s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/portForward/") {
		s.servePortForward(w, r)
		return
	}
	if _, err := httpstream.Handshake(r, w, []string{Protocol}); err != nil {
		return // Handshake has answered
	}
	q := r.URL.Query()
	tty := q.Get("tty") == "1"
	want := map[string]bool{"error": true, "stdin": q.Get("input") == "1", "stdout": q.Get("output") == "1",
		"stderr": q.Get("error") == "1" && !tty, "resize": tty}
	n := 0
	for _, on := range want {
		if on {
			n++
		}
	}
	arrived := make(chan httpstream.Stream, len(want))
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, _ <-chan struct{}) error {
		arrived <- st
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	streams := map[string]httpstream.Stream{}
	timeout := time.After(10 * time.Second)
	for len(streams) < n {
		select {
		case st := <-arrived:
			streams[st.Headers().Get(streamTypeHeader)] = st
		case <-timeout:
			return
		}
	}
	code, err := run(q["command"], streams)
	for _, name := range []string{"stdout", "stderr"} {
		if st := streams[name]; st != nil {
			st.Close()
		}
	}
	_, _ = streams["error"].Write(status(code, err))
	streams["error"].Close()
}

// run runs command on streams and returns its exit code, or an error when it cannot run.
func run(command []string, streams map[string]httpstream.Stream) (int, error) {
	out := func(name string) io.Writer {
		if st := streams[name]; st != nil {
			return st
		}
		return io.Discard
	}
	if len(command) == 0 {
		command = []string{"cat"}
	}
	switch command[0] {
	case "cat":
		if in := streams["stdin"]; in != nil {
			_, _ = io.Copy(out("stdout"), in)
		}
		return 0, nil
	case "echo":
		_, _ = fmt.Fprintln(out("stdout"), strings.Join(command[1:], " "))
		return 0, nil
	case "fail":
		if len(command) < 2 {
			return 0, fmt.Errorf("fail: no exit code")
		}
		code, err := strconv.Atoi(command[1])
		if err != nil {
			return 0, fmt.Errorf("fail: %w", err)
		}
		_, _ = fmt.Fprintln(out("stderr"), strings.Join(command[2:], " "))
		return code, nil
	case "size":
		var size struct{ Width, Height uint16 }
		if rs := streams["resize"]; rs != nil {
			if err := json.NewDecoder(rs).Decode(&size); err != nil {
				return 0, fmt.Errorf("size: %w", err)
			}
		}
		_, _ = fmt.Fprintf(out("stdout"), "%dx%d\n", size.Width, size.Height)
		return 0, nil
	default:
		return 0, fmt.Errorf("exec: %q: executable file not found in $PATH", command[0])
	}
}

// status is the error stream's Status for an exit code or an error to start, in v4's form.
func status(code int, err error) []byte {
	var st map[string]any
	switch {
	case err != nil:
		st = map[string]any{"metadata": map[string]any{}, "status": "Failure", "message": err.Error()}
	case code != 0:
		st = map[string]any{"metadata": map[string]any{}, "status": "Failure", "reason": "NonZeroExitCode",
			"message": fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code),
			"details": map[string]any{"causes": []any{map[string]any{"reason": "ExitCode", "message": strconv.Itoa(code)}}}}
	default:
		st = map[string]any{"metadata": map[string]any{}, "status": "Success"}
	}
	b, _ := json.Marshal(st)
	return b
}
