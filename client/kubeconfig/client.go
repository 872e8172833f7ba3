package kubeconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultNamespace is the namespace used when neither the context nor the
// overrides name one.
const DefaultNamespace = "default"

// ErrEmptyConfig is returned by ClientConfig when nothing identifies a server:
// no context is selected, no cluster is named and no server override is given.
var ErrEmptyConfig = errors.New("invalid configuration: no configuration has been provided")

// NotExistError reports that a context, cluster or user referenced by name (in
// the config or in the overrides) is not defined. Its message follows kubectl:
// `context "x" does not exist`.
type NotExistError struct {
	Kind string // "context", "cluster" or "user"
	Name string
}

func (e *NotExistError) Error() string {
	return fmt.Sprintf("%s %q does not exist", e.Kind, e.Name)
}

// Overrides are command-line style overrides applied on top of a Config, as
// kubectl's --context, --cluster, --user, --namespace, --server, --token,
// --username, --password, --insecure-skip-tls-verify, --certificate-authority,
// --client-certificate and --client-key flags. Empty fields (and a false
// InsecureSkipTLSVerify) override nothing. Paths are relative to the current
// working directory.
type Overrides struct {
	Context   string
	Cluster   string
	User      string
	Namespace string

	Server                string
	InsecureSkipTLSVerify bool
	CertificateAuthority  string

	Token             string
	Username          string
	Password          string
	ClientCertificate string
	ClientKey         string

	// Impersonate (--as), ImpersonateUID (--as-uid) and ImpersonateGroups (--as-group)
	// replace the user's as, as-uid and as-groups.
	Impersonate       string
	ImpersonateUID    string
	ImpersonateGroups []string
}

// RESTConfig is a resolved client configuration: everything needed to talk to
// one API server, with all file references already read into memory.
type RESTConfig struct {
	// Host is the server URL, e.g. https://127.0.0.1:6443.
	Host string
	// Namespace is the default namespace; never empty.
	Namespace string

	BearerToken string
	Username    string
	Password    string

	// Impersonate is who every request acts as; empty UserName means no one.
	Impersonate Impersonation

	TLS TLSConfig
}

// TLSConfig is the TLS material of a RESTConfig, PEM encoded.
type TLSConfig struct {
	CAData     []byte
	CertData   []byte
	KeyData    []byte
	Insecure   bool
	ServerName string
}

// ClientConfig resolves the current context (or o.Context) into a RESTConfig,
// following kubectl's rules:
//
//   - the context is o.Context, else CurrentContext; the cluster and user are
//     o.Cluster/o.User, else the context's. A name that is set but not defined
//     yields a *NotExistError. An empty user name means no credentials.
//   - if no server results and no cluster was named, ErrEmptyConfig.
//   - "-data" fields win over paths; paths from the config are relative to the
//     directory of the file that defined the entry, override paths to the
//     working directory; a token file is read when no token is set.
//   - an InsecureSkipTLSVerify override drops the configured CA, a
//     CertificateAuthority override clears insecure mode, and a Server
//     override clears the configured TLS server name.
//   - the namespace is o.Namespace, else the context's, else "default".
//
// A user with both a bearer token and a username/password, or with only one of
// client certificate and key, is an error.
func (c *Config) ClientConfig(o Overrides) (*RESTConfig, error) {
	if c == nil {
		c = &Config{}
	}

	var ctx Context
	ctxName := firstNonEmpty(o.Context, c.CurrentContext)
	if ctxName != "" {
		p := c.findContext(ctxName)
		if p == nil {
			return nil, &NotExistError{Kind: "context", Name: ctxName}
		}
		ctx = *p
	}

	var cluster Cluster
	clusterName := firstNonEmpty(o.Cluster, ctx.Cluster)
	if clusterName != "" {
		p := c.findCluster(clusterName)
		if p == nil {
			return nil, &NotExistError{Kind: "cluster", Name: clusterName}
		}
		cluster = *p
	}

	var user AuthInfo
	userName := firstNonEmpty(o.User, ctx.User)
	if userName != "" {
		p := c.findUser(userName)
		if p == nil {
			return nil, &NotExistError{Kind: "user", Name: userName}
		}
		user = *p
	}

	rc := &RESTConfig{
		Host:      firstNonEmpty(o.Server, cluster.Server),
		Namespace: firstNonEmpty(o.Namespace, ctx.Namespace, DefaultNamespace),
	}
	if rc.Host == "" {
		if clusterName == "" {
			return nil, ErrEmptyConfig
		}
		return nil, fmt.Errorf("invalid configuration: no server found for cluster %q", clusterName)
	}

	if err := resolveClusterTLS(rc, cluster, clusterName, o); err != nil {
		return nil, err
	}
	if err := resolveUser(rc, user, userName, o); err != nil {
		return nil, err
	}
	return rc, nil
}

// resolveClusterTLS fills rc.TLS from cluster and the overrides.
func resolveClusterTLS(rc *RESTConfig, cluster Cluster, name string, o Overrides) error {
	rc.TLS.Insecure = cluster.InsecureSkipTLSVerify
	rc.TLS.ServerName = cluster.TLSServerName
	if o.Server != "" {
		rc.TLS.ServerName = ""
	}

	switch {
	case o.InsecureSkipTLSVerify:
		rc.TLS.Insecure = true
	case o.CertificateAuthority != "":
		data, err := os.ReadFile(o.CertificateAuthority)
		if err != nil {
			return fmt.Errorf("read certificate-authority override: %w", err)
		}
		rc.TLS.CAData = data
		rc.TLS.Insecure = false
	default:
		data, err := dataOrFile(cluster.CertificateAuthorityData, cluster.CertificateAuthority, cluster.LocationOfOrigin)
		if err != nil {
			return fmt.Errorf("read certificate-authority of cluster %q: %w", name, err)
		}
		rc.TLS.CAData = data
	}
	return nil
}

// resolveUser fills rc's credentials from user and the overrides.
func resolveUser(rc *RESTConfig, user AuthInfo, name string, o Overrides) error {
	var err error
	if o.ClientCertificate != "" {
		rc.TLS.CertData, err = os.ReadFile(o.ClientCertificate)
	} else {
		rc.TLS.CertData, err = dataOrFile(user.ClientCertificateData, user.ClientCertificate, user.LocationOfOrigin)
	}
	if err != nil {
		return fmt.Errorf("read client-certificate of user %q: %w", name, err)
	}
	if o.ClientKey != "" {
		rc.TLS.KeyData, err = os.ReadFile(o.ClientKey)
	} else {
		rc.TLS.KeyData, err = dataOrFile(user.ClientKeyData, user.ClientKey, user.LocationOfOrigin)
	}
	if err != nil {
		return fmt.Errorf("read client-key of user %q: %w", name, err)
	}
	if (len(rc.TLS.CertData) == 0) != (len(rc.TLS.KeyData) == 0) {
		return fmt.Errorf("invalid configuration: user %q: client certificate and client key must be set together", name)
	}

	rc.BearerToken = firstNonEmpty(o.Token, user.Token)
	if rc.BearerToken == "" && user.TokenFile != "" {
		data, err := os.ReadFile(resolvePath(user.TokenFile, user.LocationOfOrigin))
		if err != nil {
			return fmt.Errorf("read tokenFile of user %q: %w", name, err)
		}
		rc.BearerToken = strings.TrimSpace(string(data))
	}
	rc.Username = firstNonEmpty(o.Username, user.Username)
	rc.Password = firstNonEmpty(o.Password, user.Password)
	if rc.BearerToken != "" && (rc.Username != "" || rc.Password != "") {
		return fmt.Errorf("invalid configuration: user %q: bearer token and username/password are both set; only one is allowed", name)
	}
	rc.Impersonate = resolveImpersonation(user, o)
	return nil
}

// TLSClientConfig builds a crypto/tls client configuration: root CAs from
// CAData (system roots if empty), a client certificate from CertData and
// KeyData (both or neither), InsecureSkipVerify and ServerName. Malformed PEM
// is an error.
func (r *RESTConfig) TLSClientConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: r.TLS.Insecure,
		ServerName:         r.TLS.ServerName,
	}
	if len(r.TLS.CAData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(r.TLS.CAData) {
			return nil, errors.New("tls config: CA data contains no valid PEM certificate")
		}
		tc.RootCAs = pool
	}
	switch {
	case len(r.TLS.CertData) > 0 && len(r.TLS.KeyData) > 0:
		cert, err := tls.X509KeyPair(r.TLS.CertData, r.TLS.KeyData)
		if err != nil {
			return nil, fmt.Errorf("tls config: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case len(r.TLS.CertData) > 0 || len(r.TLS.KeyData) > 0:
		return nil, errors.New("tls config: client certificate and key must be set together")
	}
	return tc, nil
}

// dataOrFile returns data if set, else the contents of path (resolved against
// the directory of origin), else nil.
func dataOrFile(data []byte, path, origin string) ([]byte, error) {
	if len(data) > 0 {
		return data, nil
	}
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(resolvePath(path, origin))
}

// resolvePath makes a relative path relative to the directory of the
// kubeconfig file origin; with no origin it is left relative to the working
// directory.
func resolvePath(path, origin string) string {
	if path == "" || filepath.IsAbs(path) || origin == "" {
		return path
	}
	return filepath.Join(filepath.Dir(origin), path)
}

// firstNonEmpty returns the first non-empty string of vals, or "".
func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
