package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kubelab.io/client/kubeconfig"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// Accept headers kubectl sends.
const (
	acceptJSON  = "application/json"
	acceptTable = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)

// Client is kubectl's HTTP client: JSON requests to arbitrary API paths with the Accept header
// a verb needs (objects, or server-side Tables). Non-2xx answers are *apierrors.StatusError.
type Client struct {
	base    *url.URL
	http    *http.Client
	auth    func(*http.Request)
	timeout time.Duration
}

// NewClient returns a client for rc; timeout bounds each non-streaming request (0: none).
func NewClient(rc *kubeconfig.RESTConfig, timeout time.Duration) (*Client, error) {
	base, err := url.Parse(rc.Host)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("invalid server address %q", rc.Host)
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second}
	if base.Scheme == "https" {
		tc, err := rc.TLSClientConfig()
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	c := &Client{base: base, http: &http.Client{Transport: tr}, timeout: timeout, auth: func(*http.Request) {}}
	switch {
	case rc.BearerToken != "":
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+rc.BearerToken) }
	case rc.Username != "" || rc.Password != "":
		c.auth = func(r *http.Request) { r.SetBasicAuth(rc.Username, rc.Password) }
	}
	if im := rc.Impersonate; im.UserName != "" { // --as, --as-group, --as-uid, or the user's as
		auth := c.auth
		c.auth = func(r *http.Request) { auth(r); im.SetHeaders(r.Header) }
	}
	return c, nil
}

// Host is the server URL.
func (c *Client) Host() string { return c.base.String() }

// Request is one API call.
type Request struct {
	Method      string
	Path        string
	Query       url.Values
	Body        []byte
	ContentType string
	Accept      string
}

func (c *Client) newRequest(ctx context.Context, r Request) (*http.Request, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + r.Path
	u.RawQuery = r.Query.Encode()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if r.Body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	accept := r.Accept
	if accept == "" {
		accept = acceptJSON + ", */*"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "kubectl/"+clientVersion.GitVersion+" (kubelab)")
	c.auth(req)
	return req, nil
}

// Do sends r and returns the whole body of a 2xx answer.
func (c *Client) Do(ctx context.Context, r Request) ([]byte, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, connError(err, c.base)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(resp.StatusCode, data)
	}
	return data, nil
}

// Stream sends r and returns the body of a 2xx answer unread; the caller closes it.
func (c *Client) Stream(ctx context.Context, r Request) (io.ReadCloser, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, connError(err, c.base)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, statusError(resp.StatusCode, data)
	}
	return resp.Body, nil
}

// connError words a failure to reach the server as kubectl does.
func connError(err error, base *url.URL) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("Get %q: %w", base.String(), err)
}

// statusError turns a failed answer into an *apierrors.StatusError.
func statusError(code int, body []byte) error {
	var probe struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(body, &probe) == nil && probe.Kind == "Status" {
		s := &metav1.Status{}
		if _, err := runtime.UnmarshalJSON(body, s); err == nil {
			if s.Code == 0 {
				s.Code = int32(code)
			}
			return apierrors.FromStatus(s)
		}
	}
	reason, msg := "", strings.TrimSpace(string(body))
	switch code {
	case http.StatusNotFound:
		reason, msg = apierrors.ReasonNotFound, "the server could not find the requested resource"
	case http.StatusUnauthorized:
		reason, msg = apierrors.ReasonUnauthorized, "the server has asked for the client to provide credentials"
	case http.StatusForbidden:
		reason = apierrors.ReasonForbidden
	}
	if msg == "" {
		msg = fmt.Sprintf("the server responded with the status code %d but did not return more information", code)
	}
	return apierrors.FromStatus(&metav1.Status{Status: "Failure", Code: int32(code), Reason: reason, Message: msg})
}

// Object is an API object as JSON: what kubectl calls unstructured.
type Object = map[string]any

// GetJSON fetches path and decodes it as an Object.
func (c *Client) GetObject(ctx context.Context, path string, query url.Values) (Object, error) {
	data, err := c.Do(ctx, Request{Path: path, Query: query})
	if err != nil {
		return nil, err
	}
	return decodeObject(data)
}

// SendObject sends body (JSON) with method and decodes the answer.
func (c *Client) SendObject(ctx context.Context, method, path string, body []byte, contentType string, query url.Values) (Object, error) {
	data, err := c.Do(ctx, Request{Method: method, Path: path, Body: body, ContentType: contentType, Query: query})
	if err != nil {
		return nil, err
	}
	return decodeObject(data)
}

func decodeObject(data []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var o Object
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return o, nil
}
