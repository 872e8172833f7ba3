package streamtranslator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubelab.io/apiserver/internal/streamtranslator/spdytest"
)

// session is what a websocket client got from one translated session: each channel's
// bytes, the order of the frames' channels, and the decoded Status.
type session struct {
	out    map[byte]string
	frames []byte
	status metav1.Status
}

// translator serves Serve with opts in front of a spdytest backend; backendQuery is the
// kubelet query the apiserver would send. It returns the websocket URL and the backend.
func translator(t *testing.T, opts Options, backendQuery string) (string, *spdytest.Server) {
	t.Helper()
	backend := &spdytest.Server{}
	bs := httptest.NewServer(backend)
	t.Cleanup(bs.Close)
	loc, err := url.Parse(bs.URL + "/exec/default/web/c?" + backendQuery)
	if err != nil {
		t.Fatal(err)
	}
	fs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(w, r, Config{Location: loc, Transport: &http.Transport{}, Options: opts})
	}))
	t.Cleanup(fs.Close)
	return "ws" + strings.TrimPrefix(fs.URL, "http"), backend
}

// dial opens a websocket offering protocols and returns it with the negotiated one.
func dial(t *testing.T, u string, protocols ...string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", u, err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// send writes one frame: channel then data.
func send(t *testing.T, ws *websocket.Conn, channel byte, data string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.BinaryMessage, append([]byte{channel}, data...)); err != nil {
		t.Fatal(err)
	}
}

// collect reads frames until the server closes the session.
func collect(t *testing.T, ws *websocket.Conn) session {
	t.Helper()
	s := session{out: map[byte]string{}}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("session ended with %v, want a normal close", err)
			}
			return s
		}
		if len(data) == 0 {
			t.Fatal("a frame without a channel byte")
		}
		s.frames = append(s.frames, data[0])
		s.out[data[0]] += string(data[1:])
		if data[0] == ChannelError {
			if err := json.Unmarshal(data[1:], &s.status); err != nil {
				t.Fatalf("status %q: %v", data[1:], err)
			}
		}
	}
}

func TestTranslateEcho(t *testing.T) {
	u, backend := translator(t, Options{Stdout: true, Stderr: true}, "command=echo&command=hello&command=world&output=1&error=1")
	ws := dial(t, u, ProtocolV5, ProtocolV4)
	if ws.Subprotocol() != ProtocolV5 {
		t.Errorf("negotiated %q, want %s", ws.Subprotocol(), ProtocolV5)
	}
	s := collect(t, ws)
	if s.out[ChannelStdout] != "hello world\n" || s.status.Status != metav1.StatusSuccess {
		t.Errorf("stdout %q status %+v", s.out[ChannelStdout], s.status)
	}
	// The first frame is the empty hello on stdout; the status is last.
	if len(s.frames) < 3 || s.frames[0] != ChannelStdout || s.frames[len(s.frames)-1] != ChannelError {
		t.Errorf("frames on channels %v", s.frames)
	}
	if got := backend.Requests(); len(got) != 1 || !strings.HasPrefix(got[0], "POST /exec/default/web/c?command=echo") {
		t.Errorf("backend got %q, want one SPDY POST", got)
	}
}

// TestTranslateStdinClose: v5's close signal ends the command's stdin while the client
// keeps reading its output.
func TestTranslateStdinClose(t *testing.T) {
	u, _ := translator(t, Options{Stdin: true, Stdout: true}, "command=cat&input=1&output=1")
	ws := dial(t, u, ProtocolV5)
	send(t, ws, ChannelStdin, "typed ")
	send(t, ws, ChannelStdin, "in")
	send(t, ws, ChannelClose, string([]byte{ChannelStdin}))
	s := collect(t, ws)
	if s.out[ChannelStdout] != "typed in" || s.status.Status != metav1.StatusSuccess {
		t.Errorf("stdout %q status %+v", s.out[ChannelStdout], s.status)
	}
}

func TestTranslateExitCode(t *testing.T) {
	u, _ := translator(t, Options{Stdout: true, Stderr: true}, "command=fail&command=3&command=oops&output=1&error=1")
	s := collect(t, dial(t, u, ProtocolV5))
	if s.out[ChannelStderr] != "oops\n" {
		t.Errorf("stderr %q", s.out[ChannelStderr])
	}
	st := s.status
	if st.Status != metav1.StatusFailure || st.Reason != "NonZeroExitCode" || st.Details == nil || len(st.Details.Causes) != 1 ||
		st.Details.Causes[0].Type != "ExitCode" || st.Details.Causes[0].Message != "3" {
		t.Errorf("status %+v, want NonZeroExitCode with ExitCode 3", st)
	}
	if st.Message != "command terminated with non-zero exit code: command terminated with exit code 3" {
		t.Errorf("message %q", st.Message)
	}
}

// TestTranslateFailures: a command that cannot start and a kubelet that refuses the
// upgrade reach the client as an internal error Status, as upstream's translator reports
// them, never as a bare close.
func TestTranslateFailures(t *testing.T) {
	u, _ := translator(t, Options{Stdout: true}, "command=nope&output=1")
	st := collect(t, dial(t, u, ProtocolV5)).status
	if st.Status != metav1.StatusFailure || st.Reason != metav1.StatusReasonInternalError || st.Code != 500 ||
		!strings.Contains(st.Message, `Internal error occurred: exec: "nope": executable file not found in $PATH`) {
		t.Errorf("unknown command: %+v", st)
	}

	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "pod does not exist", http.StatusNotFound)
	}))
	defer refusing.Close()
	loc, _ := url.Parse(refusing.URL + "/exec/default/gone/c?command=true&output=1")
	fs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(w, r, Config{Location: loc, Transport: &http.Transport{}, Options: Options{Stdout: true}})
	}))
	defer fs.Close()
	st = collect(t, dial(t, "ws"+strings.TrimPrefix(fs.URL, "http"), ProtocolV5)).status
	if st.Reason != metav1.StatusReasonInternalError || !strings.Contains(st.Message, "pod does not exist") {
		t.Errorf("refused upgrade: %+v", st)
	}
}

// TestTranslateResize: with a terminal the client's resize messages reach the runtime.
func TestTranslateResize(t *testing.T) {
	u, _ := translator(t, Options{Stdout: true, Stderr: true, TTY: true}, "command=size&output=1&tty=1")
	ws := dial(t, u, ProtocolV5)
	send(t, ws, ChannelResize, `{"Width":80,"Height":24}`)
	s := collect(t, ws)
	if s.out[ChannelStdout] != "80x24\n" || s.status.Status != metav1.StatusSuccess {
		t.Errorf("stdout %q status %+v", s.out[ChannelStdout], s.status)
	}
}

// TestTranslateV4: a v4 client (no close signal) gets the same framing; its resize
// frames without a terminal are dropped rather than stalling the session.
func TestTranslateV4(t *testing.T) {
	u, _ := translator(t, Options{Stdout: true}, "command=echo&command=four&output=1")
	ws := dial(t, u, ProtocolV4)
	if ws.Subprotocol() != ProtocolV4 {
		t.Fatalf("negotiated %q", ws.Subprotocol())
	}
	send(t, ws, ChannelResize, `{"Width":1,"Height":1}`)
	send(t, ws, ChannelStdin, "ignored: no stdin was asked for")
	s := collect(t, ws)
	if s.out[ChannelStdout] != "four\n" || s.status.Status != metav1.StatusSuccess {
		t.Errorf("stdout %q status %+v", s.out[ChannelStdout], s.status)
	}
}

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		wants  bool
	}{
		{"v5", http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Protocol": {"v5.channel.k8s.io"}}, true},
		{"v4 among others", http.Header{"Upgrade": {"WebSocket"}, "Sec-Websocket-Protocol": {"base64.channel.k8s.io, v4.channel.k8s.io"}}, true},
		{"old protocols only", http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Protocol": {"channel.k8s.io", "base64.channel.k8s.io"}}, false},
		{"port-forward tunnel", http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Protocol": {"SPDY/3.1+portforward.k8s.io"}}, false},
		{"SPDY", http.Header{"Upgrade": {"SPDY/3.1"}, "X-Stream-Protocol-Version": {"v4.channel.k8s.io"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header = tc.header
			if got := Wants(r); got != tc.wants {
				t.Errorf("Wants = %v, want %v", got, tc.wants)
			}
		})
	}
}
