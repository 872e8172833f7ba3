package streamtranslator

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The channel.k8s.io websocket framing (v4 and v5): every binary message is one channel
// byte and that channel's data. The client writes stdin and resize; the server writes
// stdout, stderr and the error channel, whose one message is the session's final Status.
// v5 adds the close signal: a message {255, channel} half-closes that channel, which is
// how a client says its stdin has ended without closing the connection.
const (
	ProtocolV5 = "v5.channel.k8s.io"
	ProtocolV4 = "v4.channel.k8s.io"

	ChannelStdin  byte = 0
	ChannelStdout byte = 1
	ChannelStderr byte = 2
	ChannelError  byte = 3
	ChannelResize byte = 4
	ChannelClose  byte = 255
)

// Protocols are the subprotocols the translator accepts, most preferred first (gorilla
// picks the first of these that the client offers).
var Protocols = []string{ProtocolV5, ProtocolV4}

const (
	// idleTimeout ends a session in which neither side has sent anything for this long,
	// as upstream's translator and the kubelet's websocket server do.
	idleTimeout = 4 * time.Hour
	// statusWriteTimeout bounds writing the final status to a client that stopped reading.
	statusWriteTimeout = 10 * time.Second
)

// wsConn is the server's side of one channel.k8s.io websocket. Its read loop (run) feeds
// stdin and resize pipes; its writers frame stdout, stderr and the status. gorilla allows
// one writer at a time, hence mu.
type wsConn struct {
	ws         *websocket.Conn
	closeAware bool // v5: the client may half-close channels
	stdin      bool // the session has a stdin; without one, stdin frames are dropped

	mu sync.Mutex

	stdinR, resizeR *io.PipeReader
	stdinW, resizeW *io.PipeWriter
	done            chan struct{} // closed when the read loop ends: the client closed or vanished
}

func newWSConn(ws *websocket.Conn, stdin bool) *wsConn {
	c := &wsConn{ws: ws, closeAware: ws.Subprotocol() == ProtocolV5, stdin: stdin, done: make(chan struct{})}
	c.stdinR, c.stdinW = io.Pipe()
	c.resizeR, c.resizeW = io.Pipe()
	return c
}

// run reads the client's messages until the connection ends, and then ends stdin and
// resize so that the SPDY side sees their end too. A frame for a channel the client may
// not write is dropped, as upstream drops it.
func (c *wsConn) run() {
	defer close(c.done)
	defer c.stdinW.Close()
	defer c.resizeW.Close()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(idleTimeout))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if len(data) == 0 {
			continue
		}
		switch {
		case c.closeAware && data[0] == ChannelClose:
			if len(data) != 2 {
				return // a protocol error: upstream ends the session too
			}
			switch data[1] {
			case ChannelStdin:
				c.stdinW.Close()
			case ChannelResize:
				c.resizeW.Close()
			}
		case data[0] == ChannelStdin && c.stdin:
			// A write after the stdin was closed (or the session finished) fails; what the
			// client sends then has nowhere to go.
			_, _ = c.stdinW.Write(data[1:])
		case data[0] == ChannelResize:
			_, _ = c.resizeW.Write(data[1:])
		}
	}
}

// write sends data on channel as one message.
func (c *wsConn) write(channel byte, data []byte, timeout time.Duration) error {
	frame := make([]byte, len(data)+1)
	frame[0] = channel
	copy(frame[1:], data)
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(timeout))
	return c.ws.WriteMessage(websocket.BinaryMessage, frame)
}

// channelWriter is an io.Writer for one output channel.
type channelWriter struct {
	c       *wsConn
	channel byte
}

func (w channelWriter) Write(p []byte) (int, error) {
	if err := w.c.write(w.channel, p, idleTimeout); err != nil {
		return 0, err
	}
	return len(p), nil
}

// TerminalSize is a resize message's body, as client-go's remotecommand.TerminalSize.
type TerminalSize struct {
	Width  uint16
	Height uint16
}

// sizes decodes the resize channel's JSON objects until it ends, and then closes the
// returned channel. Someone must receive from it, or resizes would stall the read loop.
func (c *wsConn) sizes() <-chan TerminalSize {
	ch := make(chan TerminalSize)
	go func() {
		defer close(ch)
		dec := json.NewDecoder(c.resizeR)
		for {
			var s TerminalSize
			if err := dec.Decode(&s); err != nil {
				return
			}
			select {
			case ch <- s:
			case <-c.done:
				return
			}
		}
	}()
	return ch
}

// finish reports status to the client and waits, at most wait, for the client to close:
// closing at once could reset the connection while output is still on its way, as
// upstream found (its translator's finish). Input still arriving is discarded.
func (c *wsConn) finish(status []byte, wait time.Duration) {
	c.stdinR.Close()
	c.resizeR.Close()
	_ = c.write(ChannelError, status, statusWriteTimeout)
	// gorilla lets WriteControl run alongside other writers.
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(statusWriteTimeout))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
	_ = c.ws.Close()
}
