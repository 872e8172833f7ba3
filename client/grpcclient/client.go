// Package grpcclient is kubelab's gRPC transport: transport.Interface over the apiserver's
// kubelab.api.service.v1.Resources service, which the components (controllers, scheduler,
// kubelet) use. Objects travel as protobuf messages packed in google.protobuf.Any; errors
// come back as *apierrors.StatusError (via apierrors.FromGRPC), exactly the Status REST
// would have answered, so apierrors.IsNotFound and friends work on them.
//
// As the REST transport does, every call waits for the client's rate limiter (a watch once,
// when it starts) and is retried on transient failures per retry.Policy: reads (Get, List,
// the start of Watch) on UNAVAILABLE, on statuses of 5xx codes but 501, and on
// RESOURCE_EXHAUSTED (429, honouring details.retryAfterSeconds); writes only when the
// connection could not be dialed at all.
package grpcclient

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"kubelab.io/client/flowcontrol"
	"kubelab.io/client/retry"
	metav1 "kubelab.io/proto/api/meta/v1"
	servicev1 "kubelab.io/proto/api/service/v1"
	"kubelab.io/proto/apierrors"
)

// Options tune a Client. The zero value is usable.
type Options struct {
	// QPS and Burst configure the client's token bucket (see flowcontrol.ForOptions:
	// 0 means the defaults, a negative QPS no limit). Ignored when RateLimiter is set.
	QPS   float32
	Burst int
	// RateLimiter, when set, is used instead of a token bucket from QPS and Burst.
	RateLimiter flowcontrol.RateLimiter
	// UserAgent identifies the caller: "kubelab/<component>". A bare component name is
	// prefixed with "kubelab/"; empty means "kubelab/" + the program name. gRPC appends its
	// own version.
	UserAgent string
	// Timeout bounds each attempt of a unary call; watches are not bounded. 0 means no
	// bound but the caller's context.
	Timeout time.Duration
	// Retry is the retry policy for transient failures; nil means retry.Policy{} (its
	// defaults). Use &retry.NoRetry to disable retries.
	Retry *retry.Policy
	// BearerToken, or Username and Password, are sent as the "authorization" metadata of
	// every call, as REST sends the header. A client certificate in the TLS configuration
	// needs neither.
	BearerToken        string
	Username, Password string
	// DialOptions are added to the connection's options.
	DialOptions []grpc.DialOption
}

// MaxMessageSize bounds a message the client accepts (a large list).
const MaxMessageSize = 256 << 20

// Client is one connection to the apiserver's gRPC port. It is safe for concurrent use;
// Close ends the connection.
type Client struct {
	conn      *grpc.ClientConn
	rc        servicev1.ResourcesClient
	limiter   flowcontrol.RateLimiter
	retry     retry.Policy
	timeout   time.Duration
	userAgent string
}

// New returns a client of the Resources service at addr ("host:port"), over TLS with
// tlsCfg. A nil tlsCfg means a plaintext connection, for tests only: the apiserver serves
// TLS. The connection is made lazily, on the first call.
func New(addr string, tlsCfg *tls.Config, opts Options) (*Client, error) {
	if addr == "" {
		return nil, errors.New("grpc client: no address")
	}
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	ua := userAgent(opts.UserAgent)
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent(ua),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize)),
	}
	switch {
	case opts.BearerToken != "":
		dial = append(dial, grpc.WithPerRPCCredentials(authCreds{value: "Bearer " + opts.BearerToken, secure: tlsCfg != nil}))
	case opts.Username != "" || opts.Password != "":
		basic := base64.StdEncoding.EncodeToString([]byte(opts.Username + ":" + opts.Password))
		dial = append(dial, grpc.WithPerRPCCredentials(authCreds{value: "Basic " + basic, secure: tlsCfg != nil}))
	}
	dial = append(dial, opts.DialOptions...)
	conn, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return nil, fmt.Errorf("grpc client: connect to %s: %w", addr, err)
	}
	c := &Client{
		conn:      conn,
		rc:        servicev1.NewResourcesClient(conn),
		limiter:   opts.RateLimiter,
		timeout:   opts.Timeout,
		userAgent: ua,
	}
	if c.limiter == nil {
		c.limiter = flowcontrol.ForOptions(opts.QPS, opts.Burst)
	}
	if opts.Retry != nil {
		c.retry = *opts.Retry
	}
	return c, nil
}

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error {
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("grpc client: close: %w", err)
	}
	return nil
}

func userAgent(ua string) string {
	switch {
	case ua == "":
		return "kubelab/" + filepath.Base(os.Args[0])
	case !strings.Contains(ua, "/"):
		return "kubelab/" + ua
	}
	return ua
}

// authCreds sends an "authorization" value with every call.
type authCreds struct {
	value  string
	secure bool
}

func (a authCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": a.value}, nil
}

func (a authCreds) RequireTransportSecurity() bool { return a.secure }

// unary runs one call with the rate limiter, the per-attempt timeout and the retry policy,
// and returns its error as apiError does.
func (c *Client) unary(ctx context.Context, op string, idempotent bool, call func(ctx context.Context) error) error {
	err := c.retry.Do(ctx, func(ctx context.Context) error {
		if err := c.limiter.Wait(ctx); err != nil {
			return err
		}
		if c.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
		return call(ctx)
	}, classifier(idempotent))
	return apiError(op, err)
}

// apiError turns what a call returned into the client's error: a gRPC status becomes the
// *apierrors.StatusError it carries (or one built from its code); anything else (the rate
// limiter or the context gave up) is wrapped with op.
func apiError(op string, err error) error {
	if err == nil {
		return nil
	}
	var gs interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &gs) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return apierrors.FromGRPC(err)
}

// classifier returns the retry rules (retry.Classify) for calls that are idempotent or not.
func classifier(idempotent bool) func(error) retry.Decision {
	return func(err error) retry.Decision {
		st, ok := status.FromError(err)
		if !ok || st.Code() == codes.Canceled {
			return retry.Decision{}
		}
		if st.Code() == codes.Unavailable && dialFailure(st.Message()) {
			return retry.Classify(idempotent, false, 0, 0)
		}
		if !hasAPIStatus(st) {
			switch st.Code() {
			case codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.Unknown:
				// no answer from the API: the connection broke or the attempt timed out
				return retry.Classify(idempotent, true, 0, 0)
			}
		}
		s := apierrors.StatusFromGRPC(err)
		after := time.Duration(s.GetDetails().GetRetryAfterSeconds()) * time.Second
		return retry.Classify(idempotent, true, int(s.GetCode()), after)
	}
}

// hasAPIStatus reports whether the server attached a Status: the call reached the API.
func hasAPIStatus(st *status.Status) bool {
	for _, d := range st.Details() {
		if _, ok := d.(*metav1.Status); ok {
			return true
		}
	}
	return false
}

// dialFailure reports whether an UNAVAILABLE status says the connection could not be
// opened, so the call was never sent. grpc-go gives no structured way to tell: its message
// for a call that failed fast on a broken channel names the dial error.
func dialFailure(msg string) bool {
	return strings.Contains(msg, "Error while dialing") || strings.Contains(msg, "connection refused")
}
