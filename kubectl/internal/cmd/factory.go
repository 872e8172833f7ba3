package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kubelab.io/client/kubeconfig"
)

// Factory holds the global flags and builds what verbs need from them, lazily: the merged
// kubeconfig, the resolved client configuration, the API client and the discovery cache.
type Factory struct {
	streams Streams

	kubeconfigPath string
	overrides      kubeconfig.Overrides
	cacheDir       string
	requestTimeout string
	verbosity      int

	config     *kubeconfig.Config
	restConfig *kubeconfig.RESTConfig
	client     *Client
	discovery  *Discovery
}

// AddFlags registers kubectl's global flags on root.
func (f *Factory) AddFlags(root *cobra.Command) {
	fl := root.PersistentFlags()
	home, _ := os.UserHomeDir()
	fl.StringVar(&f.kubeconfigPath, "kubeconfig", "", "Path to the kubeconfig file to use for CLI requests.")
	fl.StringVar(&f.overrides.Context, "context", "", "The name of the kubeconfig context to use")
	fl.StringVar(&f.overrides.Cluster, "cluster", "", "The name of the kubeconfig cluster to use")
	fl.StringVar(&f.overrides.User, "user", "", "The name of the kubeconfig user to use")
	fl.StringVarP(&f.overrides.Namespace, "namespace", "n", "", "If present, the namespace scope for this CLI request")
	fl.StringVarP(&f.overrides.Server, "server", "s", "", "The address and port of the Kubernetes API server")
	fl.StringVar(&f.overrides.Token, "token", "", "Bearer token for authentication to the API server")
	fl.StringVar(&f.overrides.Username, "username", "", "Username for basic authentication to the API server")
	fl.StringVar(&f.overrides.Password, "password", "", "Password for basic authentication to the API server")
	fl.BoolVar(&f.overrides.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "If true, the server's certificate will not be checked for validity. This will make your HTTPS connections insecure")
	fl.StringVar(&f.overrides.CertificateAuthority, "certificate-authority", "", "Path to a cert file for the certificate authority")
	fl.StringVar(&f.overrides.ClientCertificate, "client-certificate", "", "Path to a client certificate file for TLS")
	fl.StringVar(&f.overrides.ClientKey, "client-key", "", "Path to a client key file for TLS")
	fl.StringVar(&f.overrides.Impersonate, "as", "", "Username to impersonate for the operation. User could be a regular user or a service account in a namespace.")
	fl.StringArrayVar(&f.overrides.ImpersonateGroups, "as-group", nil, "Group to impersonate for the operation, this flag can be repeated to specify multiple groups.")
	fl.StringVar(&f.overrides.ImpersonateUID, "as-uid", "", "UID to impersonate for the operation.")
	fl.StringVar(&f.cacheDir, "cache-dir", filepath.Join(home, ".kube", "cache"), "Default cache directory")
	fl.StringVar(&f.requestTimeout, "request-timeout", "0", "The length of time to wait before giving up on a single server request. Non-zero values should contain a corresponding time unit (e.g. 1s, 2m, 3h). A value of zero means don't timeout requests.")
	fl.IntVarP(&f.verbosity, "v", "v", 0, "number for the log level verbosity")
}

// Config is the merged kubeconfig (--kubeconfig, else $KUBECONFIG, else ~/.kube/config).
func (f *Factory) Config() (*kubeconfig.Config, []string, error) {
	cfg, files, err := kubeconfig.LoadDefault(f.kubeconfigPath)
	if err != nil {
		return nil, nil, err
	}
	f.config = cfg
	return cfg, files, nil
}

// RESTConfig resolves the selected context and the overrides.
func (f *Factory) RESTConfig() (*kubeconfig.RESTConfig, error) {
	if f.restConfig != nil {
		return f.restConfig, nil
	}
	cfg, _, err := f.Config()
	if err != nil {
		return nil, err
	}
	rc, err := cfg.ClientConfig(f.overrides)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(rc.Host, "://") {
		rc.Host = "https://" + rc.Host
	}
	f.restConfig = rc
	return rc, nil
}

// Namespace is the namespace of this invocation and whether -n set it explicitly.
func (f *Factory) Namespace() (string, bool, error) {
	if f.overrides.Namespace != "" {
		return f.overrides.Namespace, true, nil
	}
	rc, err := f.RESTConfig()
	if err != nil {
		return "", false, err
	}
	return rc.Namespace, false, nil
}

// Timeout is --request-timeout: a duration, or bare seconds.
func (f *Factory) Timeout() (time.Duration, error) {
	v := f.requestTimeout
	if v == "" || v == "0" {
		return 0, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)")
	}
	return d, nil
}

// Client is the API client of the selected context.
func (f *Factory) Client() (*Client, error) {
	if f.client != nil {
		return f.client, nil
	}
	rc, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	timeout, err := f.Timeout()
	if err != nil {
		return nil, err
	}
	c, err := NewClient(rc, timeout)
	if err != nil {
		return nil, err
	}
	f.client = c
	return c, nil
}

// Discovery is the cached discovery of the selected server.
func (f *Factory) Discovery() (*Discovery, error) {
	if f.discovery != nil {
		return f.discovery, nil
	}
	c, err := f.Client()
	if err != nil {
		return nil, err
	}
	f.discovery = NewDiscovery(c, f.cacheDir)
	return f.discovery, nil
}
