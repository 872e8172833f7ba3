package cmd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// Port-forward is SPDY end to end (kubectl to the runtime's streaming server): its
// streams are opened by the client, one pair per connection, which the channel.k8s.io
// websocket of exec cannot express. kubectl ≥ 1.31 carries that SPDY inside a websocket
// (KEP-4006's tunnel, subprotocol "SPDY/3.1+portforward.k8s.io"), and falls back to a
// plain SPDY upgrade when the server refuses the websocket. The SPDY framing is
// k8s.io/streaming's, the library client-go's own port-forward runs on.
const (
	portForwardProtocol = "portforward.k8s.io"
	tunnelProtocol      = "SPDY/3.1+" + portForwardProtocol
	// spdyPingPeriod keeps idle forwards alive through proxies, as client-go pings.
	spdyPingPeriod = 10 * time.Second
)

// upgradeFailure is a server's refusal to switch protocols: any answer but 101. After it
// kubectl may offer another protocol, as client-go's fallback dialers do.
type upgradeFailure struct{ err error }

func (e *upgradeFailure) Error() string { return e.err.Error() }
func (e *upgradeFailure) Unwrap() error { return e.err }

// dialPortForward opens port-forward's SPDY session for the pods/portforward path: the
// websocket tunnel first, plain SPDY when that upgrade is refused.
func (c *Client) dialPortForward(ctx context.Context, path string) (httpstream.Connection, error) {
	ws, err := c.dialWebsocket(ctx, Request{Path: path}, tunnelProtocol)
	var refused *upgradeFailure
	if errors.As(err, &refused) {
		return c.dialSPDY(ctx, Request{Method: http.MethodPost, Path: path}, portForwardProtocol)
	}
	if err != nil {
		return nil, err
	}
	return spdy.NewClientConnectionWithPings(&tunnelConn{ws: ws}, spdyPingPeriod)
}

// dialSPDY upgrades r to SPDY offering protocol, with the client's TLS configuration and
// credentials. A refusal is worded as client-go words it.
func (c *Client) dialSPDY(ctx context.Context, r Request, protocol string) (httpstream.Connection, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	req.Header.Del("Accept")
	req.Header.Set(httpstream.HeaderProtocolVersion, protocol)
	cfg := spdy.RoundTripperConfig{Proxier: http.ProxyFromEnvironment, PingPeriod: spdyPingPeriod}
	cfg.TLS = c.upgradeTLSConfig()
	rt, err := spdy.NewRoundTripperWithConfig(cfg)
	if err != nil {
		return nil, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, connError(err, c.base)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, fmt.Errorf("error upgrading connection: unable to upgrade connection: %s", refusalMessage(body))
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		return nil, fmt.Errorf("error upgrading connection: %w", err)
	}
	if got := resp.Header.Get(httpstream.HeaderProtocolVersion); got != protocol {
		conn.Close()
		return nil, fmt.Errorf("unable to negotiate protocol: client supports %q, server returned %q", protocol, got)
	}
	return conn, nil
}

// refusalMessage is a refused upgrade's reason: a Status's message, else the body.
func refusalMessage(body []byte) string {
	var st struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		return st.Message
	}
	return strings.TrimSpace(string(body))
}

// upgradeTLSConfig is the client's TLS configuration for a protocol switch (HTTP/1.1
// only: a switch has no HTTP/2 form), nil for plain HTTP.
func (c *Client) upgradeTLSConfig() *tls.Config {
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil {
		return nil
	}
	cfg := tr.TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}

// tunnelConn is a websocket as the byte stream SPDY runs on, as client-go's
// TunnelingConnection: each write one binary message, reads running across messages, a
// normal close read as the end.
type tunnelConn struct {
	ws      *websocket.Conn
	reading io.Reader // the message being read
}

var _ net.Conn = (*tunnelConn)(nil)

func (t *tunnelConn) Read(p []byte) (int, error) {
	for {
		if t.reading == nil {
			typ, r, err := t.ws.NextReader()
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return 0, io.EOF
			}
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("the tunnel sent a message of type %d, not binary", typ)
			}
			t.reading = r
		}
		n, err := t.reading.Read(p)
		if err == io.EOF {
			t.reading = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// Write sends p as one message. SPDY's framer writes from one goroutine at a time.
func (t *tunnelConn) Write(p []byte) (int, error) {
	if err := t.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close says goodbye with a normal close and closes the connection.
func (t *tunnelConn) Close() error {
	_ = t.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return t.ws.Close()
}

func (t *tunnelConn) LocalAddr() net.Addr                { return t.ws.LocalAddr() }
func (t *tunnelConn) RemoteAddr() net.Addr               { return t.ws.RemoteAddr() }
func (t *tunnelConn) SetReadDeadline(d time.Time) error  { return t.ws.SetReadDeadline(d) }
func (t *tunnelConn) SetWriteDeadline(d time.Time) error { return t.ws.SetWriteDeadline(d) }
func (t *tunnelConn) SetDeadline(d time.Time) error {
	return errors.Join(t.ws.SetReadDeadline(d), t.ws.SetWriteDeadline(d))
}
