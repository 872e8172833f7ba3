// Package server is the DNS server's shell around the records core: the miekg/dns handler
// that answers the cluster zone from the core, forwards everything else upstream, chases
// ExternalName CNAMEs that leave the zone, fits each answer to the client's transport
// (truncation over UDP), and counts requests by type and rcode.
package server

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/miekg/dns"

	"kubelab.io/dns/internal/metrics"
	"kubelab.io/dns/internal/records"
)

// Config configures a Handler.
type Config struct {
	Resolver  *records.Resolver
	Forwarder *Forwarder
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	// Server labels the metrics ("dns://:53").
	Server string
	// ForwardTimeout bounds a whole forwarded exchange, every upstream included (default 5 s).
	ForwardTimeout time.Duration
}

// Handler is a dns.Handler; it is safe for concurrent use.
type Handler struct {
	cfg Config
}

// NewHandler returns a Handler for cfg; Resolver is required.
func NewHandler(cfg Config) *Handler {
	if cfg.Forwarder == nil {
		cfg.Forwarder = &Forwarder{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 5 * time.Second
	}
	return &Handler{cfg: cfg}
}

// Plugins, as the responses metric labels who wrote an answer.
const (
	pluginKubernetes = "kubernetes"
	pluginForward    = "forward"
)

// ServeDNS answers one request.
func (h *Handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	proto, family := "udp", "1"
	var ip net.IP
	switch a := w.RemoteAddr().(type) {
	case *net.TCPAddr:
		proto, ip = "tcp", a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	if ip != nil && ip.To4() == nil {
		family = "2"
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ForwardTimeout)
	defer cancel()
	resp, plugin := h.answer(ctx, req, proto)
	fit(resp, req, proto)
	if err := w.WriteMsg(resp); err != nil {
		h.cfg.Log.Debug("write answer", "client", w.RemoteAddr().String(), "err", err)
	}
	if h.cfg.Metrics != nil {
		var qtype uint16
		if len(req.Question) > 0 {
			qtype = req.Question[0].Qtype
		}
		h.cfg.Metrics.Request(h.cfg.Server, ".", proto, family, qtype, resp.Rcode, plugin, time.Since(start))
	}
}

func (h *Handler) answer(ctx context.Context, req *dns.Msg, proto string) (*dns.Msg, string) {
	if req.Opcode != dns.OpcodeQuery {
		return reply(req, dns.RcodeNotImplemented), ""
	}
	if len(req.Question) != 1 {
		return reply(req, dns.RcodeFormatError), ""
	}
	q := req.Question[0]
	res := h.cfg.Resolver.Resolve(q)
	if res.Forward {
		return h.forward(ctx, req, proto), pluginForward
	}
	m := reply(req, res.Rcode)
	m.Authoritative = true
	m.Answer, m.Ns, m.Extra = res.Answer, res.Ns, res.Extra
	if res.Chase != "" {
		up := new(dns.Msg)
		up.SetQuestion(res.Chase, q.Qtype)
		if resp := h.exchange(ctx, up, proto); resp != nil {
			m.Answer = append(m.Answer, resp.Answer...)
			m.Rcode = resp.Rcode
			// A partial upstream answer makes a partial one here: the client retries over TCP.
			m.Truncated = resp.Truncated
			if len(resp.Answer) == 0 {
				m.Ns = resp.Ns
			}
		}
	}
	return m, pluginKubernetes
}

// forward passes req upstream under a fresh message id and returns the answer with the
// client's id; SERVFAIL when no upstream answers.
func (h *Handler) forward(ctx context.Context, req *dns.Msg, proto string) *dns.Msg {
	up := req.Copy()
	resp := h.exchange(ctx, up, proto)
	if resp == nil {
		return reply(req, dns.RcodeServerFailure)
	}
	resp.Id = req.Id
	return resp
}

// exchange asks the upstreams msg under a random id; nil when none answered.
func (h *Handler) exchange(ctx context.Context, msg *dns.Msg, proto string) *dns.Msg {
	msg.Id = dns.Id()
	resp, to, err := h.cfg.Forwarder.Exchange(ctx, msg, proto)
	if err != nil {
		h.cfg.Log.Warn("forward", "name", msg.Question[0].Name, "type", dns.TypeToString[msg.Question[0].Qtype], "err", err)
		if h.cfg.Metrics != nil {
			for _, u := range h.cfg.Forwarder.Upstreams {
				h.cfg.Metrics.Forward(u, -1)
			}
		}
		return nil
	}
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.Forward(to, resp.Rcode)
	}
	return resp
}

func reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	return m
}

// fit sizes m for the client: an EDNS0 OPT record answering the request's (its buffer size,
// at least 512), and over UDP no more than that buffer (or 512 bytes without EDNS0),
// dropping records and setting TC so the client retries over TCP.
func fit(m, req *dns.Msg, proto string) {
	m.Compress = true
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		if m.IsEdns0() == nil {
			m.SetEdns0(uint16(size), false)
		}
	}
	if proto == "tcp" {
		size = dns.MaxMsgSize
	}
	m.Truncate(size)
}
