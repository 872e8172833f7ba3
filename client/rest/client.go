// Package rest is kubelab's REST transport: transport.Interface over HTTPS and JSON, on the
// same paths as Kubernetes (/api/v1/namespaces/{ns}/pods/{name}/status,
// /apis/apps/v1/...), plus Do and Stream for arbitrary paths (discovery, kubectl).
//
// Every request waits for the client's rate limiter, and is retried on transient failures
// per retry.Policy: reads on connection errors, 5xx (but 501) and 429, any verb when the
// connection could not even be dialed, and never a write that may have reached the server.
// Non-2xx answers become *apierrors.StatusError: the Status the server sent, or one
// synthesized from the HTTP code when the body is not a Status (as client-go does).
package rest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kubelab.io/client/flowcontrol"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/retry"
)

// Options tune a Client. The zero value is usable.
type Options struct {
	// QPS and Burst configure the client's token bucket (see flowcontrol.ForOptions:
	// 0 means the defaults, a negative QPS no limit). Ignored when RateLimiter is set.
	QPS   float32
	Burst int
	// RateLimiter, when set, is used instead of a token bucket from QPS and Burst; share one
	// between clients to give them a common budget.
	RateLimiter flowcontrol.RateLimiter
	// UserAgent is sent with every request: "kubelab/<component>". A bare component name
	// ("scheduler") is prefixed with "kubelab/"; empty means "kubelab/" + the program name.
	UserAgent string
	// Timeout bounds each attempt of a request, reading the answer included; watches and
	// Stream are not bounded. 0 means no bound but the caller's context.
	Timeout time.Duration
	// Retry is the retry policy for transient failures; nil means retry.Policy{} (its
	// defaults). Use &retry.NoRetry to disable retries.
	Retry *retry.Policy
}

// UserAgent returns the User-Agent for ua as Options.UserAgent describes it.
func UserAgent(ua string) string {
	switch {
	case ua == "":
		return "kubelab/" + filepath.Base(os.Args[0])
	case !strings.Contains(ua, "/"):
		return "kubelab/" + ua
	}
	return ua
}

// Client talks to one apiserver over HTTPS (or plain HTTP when the host says so). It is safe
// for concurrent use; Close releases its idle connections.
type Client struct {
	base      *url.URL
	http      *http.Client
	limiter   flowcontrol.RateLimiter
	retry     retry.Policy
	userAgent string
	timeout   time.Duration
	// auth sets the credentials headers of a request.
	auth func(*http.Request)
}

// New returns a client for cfg: cfg.Host is the server URL (https://host:port, optionally
// with a path prefix), cfg.TLS the trust and client certificate, and the bearer token or
// username/password, when set, are sent with every request.
func New(cfg *kubeconfig.RESTConfig, opts Options) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("rest client: no configuration")
	}
	base, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("rest client: parse host %q: %w", cfg.Host, err)
	}
	if base.Scheme != "https" && base.Scheme != "http" || base.Host == "" {
		return nil, fmt.Errorf("rest client: host %q is not an http(s) URL with a host", cfg.Host)
	}
	var tlsCfg *tls.Config
	if base.Scheme == "https" {
		if tlsCfg, err = cfg.TLSClientConfig(); err != nil {
			return nil, fmt.Errorf("rest client: %w", err)
		}
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
	}
	return newClient(base, &http.Client{Transport: tr}, cfg, opts), nil
}

func newClient(base *url.URL, hc *http.Client, cfg *kubeconfig.RESTConfig, opts Options) *Client {
	c := &Client{
		base:      base,
		http:      hc,
		limiter:   opts.RateLimiter,
		userAgent: UserAgent(opts.UserAgent),
		timeout:   opts.Timeout,
		auth:      func(*http.Request) {},
	}
	if c.limiter == nil {
		c.limiter = flowcontrol.ForOptions(opts.QPS, opts.Burst)
	}
	if opts.Retry != nil {
		c.retry = *opts.Retry
	}
	switch {
	case cfg.BearerToken != "":
		token := cfg.BearerToken
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	case cfg.Username != "" || cfg.Password != "":
		user, pass := cfg.Username, cfg.Password
		c.auth = func(r *http.Request) { r.SetBasicAuth(user, pass) }
	}
	if im := cfg.Impersonate; im.UserName != "" {
		auth := c.auth
		c.auth = func(r *http.Request) { auth(r); im.SetHeaders(r.Header) }
	}
	return c
}

// Close releases the client's idle connections. The client stays usable.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Response is a complete answer to Do.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do sends one request to path (which may carry a query: "/api/v1/pods?limit=5") and
// returns the whole answer. body, when not nil, is sent with contentType (JSON when
// empty). A non-2xx answer returns both the Response and an *apierrors.StatusError built
// from it; transport failures return a nil Response and an error wrapping the cause.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, contentType string) (*Response, error) {
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: parse path: %w", method, path, err)
	}
	return c.call(ctx, method, u.Path, u.Query(), body, contentType)
}

// Stream is Do for answers read as they arrive (watches, following logs): on a 2xx answer
// it returns the response with its body unread, and the caller must close it. It is not
// bounded by Options.Timeout; cancel ctx to end it. A non-2xx answer is read, closed and
// returned as an *apierrors.StatusError.
func (c *Client) Stream(ctx context.Context, method, path string, body []byte, contentType string) (*http.Response, error) {
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: parse path: %w", method, path, err)
	}
	return c.stream(ctx, method, u.Path, u.Query(), body, contentType)
}

// call performs a request with retries and reads the whole answer. A non-2xx answer
// returns the Response with the StatusError.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body []byte, contentType string) (*Response, error) {
	var resp *Response
	err := c.retry.Do(ctx, func(ctx context.Context) error {
		resp = nil
		if c.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
		hr, err := c.roundTrip(ctx, method, path, query, body, contentType)
		if err != nil {
			return err
		}
		defer hr.Body.Close()
		data, err := io.ReadAll(hr.Body)
		if err != nil {
			return &transportError{op: method + " " + path, sent: true, err: fmt.Errorf("read response: %w", err)}
		}
		resp = &Response{StatusCode: hr.StatusCode, Header: hr.Header, Body: data}
		if hr.StatusCode < 200 || hr.StatusCode > 299 {
			return responseError(method, path, hr.StatusCode, hr.Header, data)
		}
		return nil
	}, classifier(method))
	return resp, err
}

// stream performs a request with retries and returns the 2xx response with its body unread.
func (c *Client) stream(ctx context.Context, method, path string, query url.Values, body []byte, contentType string) (*http.Response, error) {
	var resp *http.Response
	err := c.retry.Do(ctx, func(ctx context.Context) error {
		hr, err := c.roundTrip(ctx, method, path, query, body, contentType)
		if err != nil {
			return err
		}
		if hr.StatusCode < 200 || hr.StatusCode > 299 {
			defer hr.Body.Close()
			data, _ := io.ReadAll(io.LimitReader(hr.Body, maxErrorBody))
			return responseError(method, path, hr.StatusCode, hr.Header, data)
		}
		resp = hr
		return nil
	}, classifier(method))
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// roundTrip sends one attempt, after the rate limiter admits it.
func (c *Client) roundTrip(ctx context.Context, method, path string, query url.Values, body []byte, contentType string) (*http.Response, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: build request: %w", method, path, err)
	}
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json, */*")
	req.Header.Set("User-Agent", c.userAgent)
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &transportError{op: method + " " + path, sent: !isDialError(err), err: err}
	}
	return resp, nil
}

// transportError is a request that got no answer. sent is false when the connection could
// not be dialed, so the request certainly did not reach the server.
type transportError struct {
	op   string
	sent bool
	err  error
}

func (e *transportError) Error() string { return e.op + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// isDialError reports whether err is a failure to open the connection (refused,
// unreachable, DNS), before any byte of the request was written.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// idempotent reports whether a request of method may be sent twice without effect.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// classifier returns the retry rules (retry.Classify) for requests of method.
func classifier(method string) func(error) retry.Decision {
	idem := idempotent(method)
	return func(err error) retry.Decision {
		var te *transportError
		if errors.As(err, &te) {
			if errors.Is(err, context.Canceled) {
				return retry.Decision{}
			}
			return retry.Classify(idem, te.sent, 0, 0)
		}
		if code, after, ok := statusOf(err); ok {
			return retry.Classify(idem, true, code, after)
		}
		return retry.Decision{} // the rate limiter or the context gave up
	}
}
