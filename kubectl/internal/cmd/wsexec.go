package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The remotecommand protocol kubectl exec speaks to the apiserver, v5.channel.k8s.io
// (KEP-4006): a websocket whose binary messages are one channel byte and that channel's
// data. stdin and resize go up; stdout, stderr and the error channel (one Status at the
// end) come down. v5's close signal {255, 0} ends the remote stdin without ending the
// session, so `echo x | kubectl exec -i … -- cat` gets cat's output after its input ends.
const (
	execProtocol = "v5.channel.k8s.io"

	chanStdin  byte = 0
	chanStdout byte = 1
	chanStderr byte = 2
	chanError  byte = 3
	chanResize byte = 4
	chanClose  byte = 255
)

// dialWebsocket opens a websocket for r with the client's TLS configuration and
// credentials, offering protocols, of which the server must choose one. A refused upgrade
// is an *upgradeFailure holding the server's Status, as any other failed request.
func (c *Client) dialWebsocket(ctx context.Context, r Request, protocols ...string) (*websocket.Conn, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	u := *req.URL
	u.Scheme = map[string]string{"https": "wss", "http": "ws"}[u.Scheme]
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 30 * time.Second, Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: c.upgradeTLSConfig()}
	h := req.Header.Clone()
	h.Del("Accept")
	ws, resp, err := d.DialContext(ctx, u.String(), h)
	if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, &upgradeFailure{statusError(resp.StatusCode, body)}
	}
	if err != nil {
		return nil, connError(err, c.base)
	}
	if !slices.Contains(protocols, ws.Subprotocol()) {
		ws.Close()
		return nil, fmt.Errorf("the server does not speak %s (it chose %q)", strings.Join(protocols, " or "), ws.Subprotocol())
	}
	return ws, nil
}

// termSize is a resize message's body, as client-go's remotecommand.TerminalSize.
type termSize struct {
	Width  uint16
	Height uint16
}

// remoteStreams are the local ends of a session: a nil stream is not asked for.
type remoteStreams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	sizes          <-chan termSize
}

// codeExitError is a remote command's non-zero exit, which kubectl exits with.
type codeExitError struct{ code int }

func (e codeExitError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.code)
}

// runSession copies s to and from ws until the server ends the session, and returns the
// remote outcome from the error channel's Status: nil, a codeExitError, or the failure's
// message. ctx's end closes the session.
func runSession(ctx context.Context, ws *websocket.Conn, s remoteStreams) error {
	var mu sync.Mutex // gorilla allows one writer at a time
	send := func(frame []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return ws.WriteMessage(websocket.BinaryMessage, frame)
	}
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	if s.stdin != nil {
		go func() {
			buf := make([]byte, 32*1024)
			for {
				n, err := s.stdin.Read(buf)
				if n > 0 && send(append([]byte{chanStdin}, buf[:n]...)) != nil {
					return
				}
				if err != nil {
					_ = send([]byte{chanClose, chanStdin})
					return
				}
			}
		}()
	}
	if s.sizes != nil {
		go func() {
			for size := range s.sizes {
				b, _ := json.Marshal(size)
				if send(append([]byte{chanResize}, b...)) != nil {
					return
				}
			}
		}()
	}
	var status []byte
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if status == nil {
				return fmt.Errorf("the connection ended without the command's status: %w", err)
			}
			return decodeExecStatus(status)
		}
		if len(data) == 0 {
			continue
		}
		var w io.Writer
		switch data[0] {
		case chanStdout:
			w = s.stdout
		case chanStderr:
			w = s.stderr
		case chanError:
			status = append(status, data[1:]...)
		}
		if w != nil {
			if _, err := w.Write(data[1:]); err != nil {
				ws.Close()
				return err
			}
		}
	}
}

// decodeExecStatus reads the error channel's Status as client-go's v4/v5 decoder does.
func decodeExecStatus(b []byte) error {
	var st struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Details *struct {
			Causes []struct {
				Type    string `json:"reason"`
				Message string `json:"message"`
			} `json:"causes"`
		} `json:"details"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("error stream protocol error: %v in %q", err, string(b))
	}
	switch {
	case st.Status == "Success":
		return nil
	case st.Status != "Failure":
		return errors.New("error stream protocol error: unknown error")
	case st.Reason != "NonZeroExitCode":
		return errors.New(strings.TrimSpace(st.Message))
	case st.Details != nil:
		for _, c := range st.Details.Causes {
			if c.Type == "ExitCode" {
				rc, err := strconv.ParseUint(c.Message, 10, 8)
				if err != nil {
					return fmt.Errorf("error stream protocol error: invalid exit code value %q", c.Message)
				}
				return codeExitError{int(rc)}
			}
		}
	}
	return errors.New("error stream protocol error: no ExitCode cause given")
}
