package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"kubelab.io/client/atomicfile"
)

// EnvVar is the environment variable holding a list of kubeconfig files,
// separated by the OS path-list separator (":" on Unix).
const EnvVar = "KUBECONFIG"

// Load reads and parses the kubeconfig file at path. An empty file yields an
// empty Config. Every cluster and user entry gets LocationOfOrigin set to the
// absolute path of the file so relative paths resolve against its directory.
// Duplicate names within one list are an error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg := &Config{}
	if err := yaml.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	if err := checkUnique(cfg); err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	origin, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	for i := range cfg.Clusters {
		cfg.Clusters[i].Cluster.LocationOfOrigin = origin
	}
	for i := range cfg.Users {
		cfg.Users[i].User.LocationOfOrigin = origin
	}
	return cfg, nil
}

// checkUnique rejects a config that defines the same name twice in a list.
func checkUnique(cfg *Config) error {
	seen := map[string]bool{}
	check := func(kind, name string) error {
		key := kind + "\x00" + name
		if seen[key] {
			return fmt.Errorf("duplicate %s name %q", kind, name)
		}
		seen[key] = true
		return nil
	}
	for _, c := range cfg.Clusters {
		if err := check("cluster", c.Name); err != nil {
			return err
		}
	}
	for _, u := range cfg.Users {
		if err := check("user", u.Name); err != nil {
			return err
		}
	}
	for _, c := range cfg.Contexts {
		if err := check("context", c.Name); err != nil {
			return err
		}
	}
	return nil
}

// Write serializes cfg as kubeconfig YAML to path with mode 0600, creating the
// parent directory (0700) if needed. The write is atomic: data goes to a
// temporary file in the same directory that is synced and then renamed over
// path, so readers see either the old or the new file, never a partial one.
// Empty APIVersion and Kind are written as "v1" and "Config"; cfg itself is
// not modified.
func Write(path string, cfg *Config) error {
	if cfg == nil {
		return fmt.Errorf("write kubeconfig %s: nil config", path)
	}
	out := *cfg
	if out.APIVersion == "" {
		out.APIVersion = APIVersion
	}
	if out.Kind == "" {
		out.Kind = Kind
	}
	data, err := yaml.Marshal(&out)
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// LoadDefault loads the kubeconfig the way kubectl does:
//
//   - explicitPath (the --kubeconfig flag), if non-empty: that file only; it
//     must exist.
//   - otherwise $KUBECONFIG, if non-empty: a path list whose files are merged
//     with Merge in list order. Empty entries and duplicates are skipped and
//     files that do not exist are ignored.
//   - otherwise ~/.kube/config; a missing file yields an empty Config.
//
// The returned files are the candidate paths in precedence order, including
// ones that do not exist (callers that write a config can pick from them).
func LoadDefault(explicitPath string) (*Config, []string, error) {
	if explicitPath != "" {
		cfg, err := Load(explicitPath)
		if err != nil {
			return nil, nil, err
		}
		return cfg, []string{explicitPath}, nil
	}

	var files []string
	if env := os.Getenv(EnvVar); env != "" {
		seen := map[string]bool{}
		for _, p := range filepath.SplitList(env) {
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			files = append(files, p)
		}
	} else if home, err := os.UserHomeDir(); err == nil {
		files = []string{filepath.Join(home, ".kube", "config")}
	}

	var configs []*Config
	for _, f := range files {
		cfg, err := Load(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		configs = append(configs, cfg)
	}
	return Merge(configs...), files, nil
}

// Merge combines configs with kubectl's precedence: the first config that sets
// a value wins. A cluster, user or context name defined in several configs
// keeps its first definition (entries are not merged field by field);
// CurrentContext and Preferences come from the first config that sets them.
// Entries keep their LocationOfOrigin. Nil configs are skipped. The result's
// lists are new slices, but entries' byte fields are shared with the inputs.
func Merge(configs ...*Config) *Config {
	out := &Config{APIVersion: APIVersion, Kind: Kind}
	clusters, users, contexts := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, c := range configs {
		if c == nil {
			continue
		}
		if out.CurrentContext == "" {
			out.CurrentContext = c.CurrentContext
		}
		if out.Preferences == (Preferences{}) {
			out.Preferences = c.Preferences
		}
		for _, e := range c.Clusters {
			if !clusters[e.Name] {
				clusters[e.Name] = true
				out.Clusters = append(out.Clusters, e)
			}
		}
		for _, e := range c.Users {
			if !users[e.Name] {
				users[e.Name] = true
				out.Users = append(out.Users, e)
			}
		}
		for _, e := range c.Contexts {
			if !contexts[e.Name] {
				contexts[e.Name] = true
				out.Contexts = append(out.Contexts, e)
			}
		}
	}
	return out
}
