// Package kubeconfig reads, merges and writes kubeconfig files (the
// "apiVersion: v1, kind: Config" YAML used by kubectl) and resolves them into
// the connection parameters a client needs: server URL, namespace, credentials
// and TLS material. It is a small counterpart of client-go's clientcmd.
//
// The Go types mirror the kubeconfig v1 wire format field for field, so a file
// written by Write is readable by stock kubectl and vice versa. Fields that are
// "-data" in YAML are base64 encoded on the wire and raw bytes in Go.
package kubeconfig

// Wire-format constants written by Write when a Config leaves them empty.
const (
	APIVersion = "v1"
	Kind       = "Config"
)

// Config is a kubeconfig file. Clusters, users and contexts are lists of
// uniquely named entries, exactly as in the YAML.
type Config struct {
	APIVersion     string         `json:"apiVersion,omitempty"`
	Kind           string         `json:"kind,omitempty"`
	Preferences    Preferences    `json:"preferences"`
	Clusters       []NamedCluster `json:"clusters"`
	Users          []NamedUser    `json:"users"`
	Contexts       []NamedContext `json:"contexts"`
	CurrentContext string         `json:"current-context"`
}

// Preferences holds kubectl preferences. It is kept for format compatibility
// and otherwise ignored.
type Preferences struct {
	Colors bool `json:"colors,omitempty"`
}

// NamedCluster is one entry of the "clusters" list.
type NamedCluster struct {
	Name    string  `json:"name"`
	Cluster Cluster `json:"cluster"`
}

// Cluster describes how to reach and trust an API server.
type Cluster struct {
	// Server is the API server URL, e.g. https://127.0.0.1:6443.
	Server string `json:"server"`
	// TLSServerName overrides the name used to verify the serving certificate.
	TLSServerName string `json:"tls-server-name,omitempty"`
	// InsecureSkipTLSVerify disables verification of the serving certificate.
	InsecureSkipTLSVerify bool `json:"insecure-skip-tls-verify,omitempty"`
	// CertificateAuthority is a path to a PEM CA bundle; relative paths are
	// relative to the directory of the kubeconfig file that defined it.
	CertificateAuthority string `json:"certificate-authority,omitempty"`
	// CertificateAuthorityData is a PEM CA bundle; it takes precedence over
	// CertificateAuthority.
	CertificateAuthorityData []byte `json:"certificate-authority-data,omitempty"`

	// LocationOfOrigin is the file this entry was loaded from. It is set by
	// Load, never serialized, and used to resolve relative paths.
	LocationOfOrigin string `json:"-"`
}

// NamedUser is one entry of the "users" list.
type NamedUser struct {
	Name string   `json:"name"`
	User AuthInfo `json:"user"`
}

// AuthInfo holds the credentials of a user. Paths are relative to the
// directory of the kubeconfig file that defined the entry; "-data" fields take
// precedence over the corresponding path and Token over TokenFile.
type AuthInfo struct {
	ClientCertificate     string `json:"client-certificate,omitempty"`
	ClientCertificateData []byte `json:"client-certificate-data,omitempty"`
	ClientKey             string `json:"client-key,omitempty"`
	ClientKeyData         []byte `json:"client-key-data,omitempty"`
	Token                 string `json:"token,omitempty"`
	TokenFile             string `json:"tokenFile,omitempty"`
	Username              string `json:"username,omitempty"`
	Password              string `json:"password,omitempty"`

	// Impersonate is the user to act as (Impersonate-User); the other Impersonate fields
	// are sent only with it, as client-go does.
	Impersonate          string              `json:"as,omitempty"`
	ImpersonateUID       string              `json:"as-uid,omitempty"`
	ImpersonateGroups    []string            `json:"as-groups,omitempty"`
	ImpersonateUserExtra map[string][]string `json:"as-user-extra,omitempty"`

	// LocationOfOrigin is the file this entry was loaded from. It is set by
	// Load, never serialized, and used to resolve relative paths.
	LocationOfOrigin string `json:"-"`
}

// NamedContext is one entry of the "contexts" list.
type NamedContext struct {
	Name    string  `json:"name"`
	Context Context `json:"context"`
}

// Context binds a cluster, a user and a default namespace under one name.
type Context struct {
	Cluster   string `json:"cluster"`
	User      string `json:"user"`
	Namespace string `json:"namespace,omitempty"`
}

// findCluster returns the cluster named name, or nil.
func (c *Config) findCluster(name string) *Cluster {
	for i := range c.Clusters {
		if c.Clusters[i].Name == name {
			return &c.Clusters[i].Cluster
		}
	}
	return nil
}

// findUser returns the user named name, or nil.
func (c *Config) findUser(name string) *AuthInfo {
	for i := range c.Users {
		if c.Users[i].Name == name {
			return &c.Users[i].User
		}
	}
	return nil
}

// findContext returns the context named name, or nil.
func (c *Config) findContext(name string) *Context {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i].Context
		}
	}
	return nil
}

// isEmpty reports whether c configures nothing at all.
func (c *Config) isEmpty() bool {
	return len(c.Clusters) == 0 && len(c.Users) == 0 && len(c.Contexts) == 0 && c.CurrentContext == ""
}
