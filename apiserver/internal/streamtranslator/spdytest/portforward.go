package spdytest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// PortForwardProtocol is the SPDY port-forward protocol of kubelets and runtimes.
const PortForwardProtocol = "portforward.k8s.io"

// The headers of a port-forward stream, as Kubernetes' core/v1 names them: each
// forwarded connection is a pair of streams (error and data) for one port, paired by
// request ID.
const (
	portHeader      = "port"
	requestIDHeader = "requestID"
)

// servePortForward is the runtime side of port-forward's SPDY session, as upstream's
// streaming server (cri/streaming/portforward) runs it: for each pair of streams it
// dials the port and copies between the connection and the data stream; a failure is
// written to the error stream, which the client prints.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	if _, err := httpstream.Handshake(r, w, []string{PortForwardProtocol}); err != nil {
		return // Handshake has answered
	}
	type pair struct{ data, errs httpstream.Stream }
	var mu sync.Mutex
	pairs := map[string]*pair{}
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		h := st.Headers()
		mu.Lock()
		defer mu.Unlock()
		id := h.Get(requestIDHeader)
		p := pairs[id]
		if p == nil {
			p = &pair{}
			pairs[id] = p
		}
		switch h.Get(streamTypeHeader) {
		case "data":
			p.data = st
		case "error":
			p.errs = st
		default:
			return fmt.Errorf("invalid stream type %q", h.Get(streamTypeHeader))
		}
		if p.data != nil && p.errs != nil {
			delete(pairs, id)
			go s.forward(h.Get(portHeader), p.data, p.errs, replySent)
		}
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	<-conn.CloseChan()
}

// forward serves one forwarded connection.
func (s *Server) forward(portValue string, data, errs httpstream.Stream, replySent <-chan struct{}) {
	<-replySent
	defer errs.Close()
	defer data.Close()
	port, err := strconv.ParseUint(portValue, 10, 16)
	if err != nil {
		fmt.Fprintf(errs, "invalid port %q", portValue)
		return
	}
	dial := s.Dial
	if dial == nil {
		dial = func(uint16) (net.Conn, error) { return nil, errors.New("connection refused") }
	}
	c, err := dial(uint16(port))
	if err != nil {
		// Upstream's streaming server words it so, with the pod and its uid.
		fmt.Fprintf(errs, "error forwarding port %d to pod test, uid : %v", port, err)
		return
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, data)
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(data, c)
	data.Close()
	<-done
}
