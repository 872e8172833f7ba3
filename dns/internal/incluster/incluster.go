// Package incluster builds the DNS server's API client from inside a pod, as client-go's
// rest.InClusterConfig does: the apiserver at KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT
// (the kubelet sets both from the `kubernetes` Service), trusted by the service account's
// ca.crt, authenticated by its token. The token is a bound one the kubelet rotates (an hour's
// lifetime, renewed at 80%), so it is read again from its file, as client-go's
// cached token source does, at most once a minute: a changed token gets a new REST client,
// and the requests after it carry the new token.
//
// This belongs in client/ beside kubeconfig once a second in-cluster component needs it.
package incluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"kubelab.io/client/flowcontrol"
	"kubelab.io/client/kubeconfig"
	"kubelab.io/client/rest"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/watch"
)

// ServiceAccountDir is where the kube-api-access volume is mounted in every container.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ServerName is the name the apiserver's certificate is checked against. Every kubelab
// apiserver certificate (hack/pki.sh, the apiserver's own bootstrap) carries it, whichever
// address the client dials: the `kubernetes` Service's cluster IP, or an apiserver's own
// address when no node proxy carries that IP.
const ServerName = "kubernetes.default.svc"

// ErrNotInCluster: the environment names no apiserver.
var ErrNotInCluster = errors.New("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")

// Config reads the environment and the service account directory (ServiceAccountDir unless
// dir is set) into a REST configuration without credentials (the Transport adds the token).
func Config(dir string, getenv func(string) string) (*kubeconfig.RESTConfig, error) {
	if dir == "" {
		dir = ServiceAccountDir
	}
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, ErrNotInCluster
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("in-cluster configuration: %w", err)
	}
	ns := kubeconfig.DefaultNamespace
	if b, err := os.ReadFile(filepath.Join(dir, "namespace")); err == nil && strings.TrimSpace(string(b)) != "" {
		ns = strings.TrimSpace(string(b))
	}
	return &kubeconfig.RESTConfig{
		Host:      "https://" + net.JoinHostPort(host, port),
		Namespace: ns,
		TLS:       kubeconfig.TLSConfig{CAData: ca, ServerName: ServerName},
	}, nil
}

// TransportConfig configures NewTransport.
type TransportConfig struct {
	// REST is the configuration (Config's); its BearerToken is ignored.
	REST *kubeconfig.RESTConfig
	// TokenFile holds the token (ServiceAccountDir/token).
	TokenFile string
	// Options of every REST client built; one rate limiter is shared by all of them.
	Options rest.Options
	// Reread is how long a read token is used before the file is read again (1 minute).
	Reread time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Transport is a transport.Interface whose REST client follows the token file.
type Transport struct {
	cfg TransportConfig

	mu      sync.Mutex
	client  *rest.Client
	token   string
	checked time.Time
}

// NewTransport reads the token once (an error when it cannot) and returns the Transport.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.REST == nil || cfg.TokenFile == "" {
		return nil, errors.New("incluster: REST configuration and token file are required")
	}
	if cfg.Reread <= 0 {
		cfg.Reread = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Options.RateLimiter == nil {
		cfg.Options.RateLimiter = flowcontrol.ForOptions(cfg.Options.QPS, cfg.Options.Burst)
	}
	t := &Transport{cfg: cfg}
	if _, err := t.current(); err != nil {
		return nil, err
	}
	return t, nil
}

// current returns the client for the token in the file, rebuilding it when the token changed.
// A token file that cannot be read keeps the last client (its token may still be good).
func (t *Transport) current() (*rest.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	if t.client != nil && now.Sub(t.checked) < t.cfg.Reread {
		return t.client, nil
	}
	b, err := os.ReadFile(t.cfg.TokenFile)
	token := strings.TrimSpace(string(b))
	if err == nil && token == "" {
		err = fmt.Errorf("token file %s is empty", t.cfg.TokenFile)
	}
	if err != nil {
		if t.client != nil {
			t.checked = now
			return t.client, nil
		}
		return nil, fmt.Errorf("incluster: read token: %w", err)
	}
	t.checked = now
	if t.client != nil && token == t.token {
		return t.client, nil
	}
	cfg := *t.cfg.REST
	cfg.BearerToken = token
	c, err := rest.New(&cfg, t.cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("incluster: %w", err)
	}
	if t.client != nil {
		_ = t.client.Close() // idle connections only: watches in flight finish on their own
	}
	t.client, t.token = c, token
	return c, nil
}

// Close releases the current client's idle connections.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client != nil {
		return t.client.Close()
	}
	return nil
}

var _ transport.Interface = (*Transport)(nil)

func (t *Transport) Get(ctx context.Context, ref transport.Ref) (runtime.Object, error) {
	c, err := t.current()
	if err != nil {
		return nil, err
	}
	return c.Get(ctx, ref)
}

func (t *Transport) List(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (runtime.ListObject, error) {
	c, err := t.current()
	if err != nil {
		return nil, err
	}
	return c.List(ctx, ref, opts)
}

func (t *Transport) Watch(ctx context.Context, ref transport.Ref, opts transport.ListOptions) (watch.Interface, error) {
	c, err := t.current()
	if err != nil {
		return nil, err
	}
	return c.Watch(ctx, ref, opts)
}

func (t *Transport) Create(ctx context.Context, ref transport.Ref, obj runtime.Object) (runtime.Object, error) {
	c, err := t.current()
	if err != nil {
		return nil, err
	}
	return c.Create(ctx, ref, obj)
}

func (t *Transport) Update(ctx context.Context, ref transport.Ref, obj runtime.Object, subresource string) (runtime.Object, error) {
	c, err := t.current()
	if err != nil {
		return nil, err
	}
	return c.Update(ctx, ref, obj, subresource)
}

func (t *Transport) Patch(ctx context.Context, ref transport.Ref, pt transport.PatchType, data []byte, subresource string) (runtime.Object, error) {
	c, err := t.current()
	if err != nil {
		return nil, err
	}
	return c.Patch(ctx, ref, pt, data, subresource)
}

func (t *Transport) Delete(ctx context.Context, ref transport.Ref, opts *metav1.DeleteOptions) (runtime.Object, error) {
	c, err := t.current()
	if err != nil {
		return nil, err
	}
	return c.Delete(ctx, ref, opts)
}

func (t *Transport) Bind(ctx context.Context, ref transport.Ref, binding *corev1.Binding) error {
	c, err := t.current()
	if err != nil {
		return err
	}
	return c.Bind(ctx, ref, binding)
}

func (t *Transport) CreateSubresource(ctx context.Context, ref transport.Ref, subresource string, obj runtime.Object) (runtime.Object, error) {
	c, err := t.current()
	if err != nil {
		return nil, err
	}
	return c.CreateSubresource(ctx, ref, subresource, obj)
}
