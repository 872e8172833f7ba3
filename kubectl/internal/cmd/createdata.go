package cmd

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// dataSources are the --from-literal and --from-file flags of `create configmap` and
// `create secret generic`: keys and raw values, in the order given.
type dataSources struct {
	literals []string
	files    []string
}

func (o *dataSources) addFlags(c *cobra.Command, what string) {
	c.Flags().StringArrayVar(&o.files, "from-file", nil, "Key file can be specified using its file path, in which case file basename will be used as "+what+" key, or optionally with a key and file path, in which case the given key will be used.  Specifying a directory will iterate each named file in the directory whose basename is a valid "+what+" key.")
	c.Flags().StringArrayVar(&o.literals, "from-literal", nil, "Specify a key and literal value to insert in "+what+" (i.e. mykey=somevalue)")
}

type keyValue struct {
	key   string
	value []byte
}

// read returns every key and value, literals after files as kubectl adds them.
func (o *dataSources) read() ([]keyValue, error) {
	var out []keyValue
	for _, src := range o.files {
		key, path, err := parseFileSource(src)
		if err != nil {
			return nil, err
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("error reading %s: %w", path, err)
		}
		if !info.IsDir() {
			if key == "" {
				key = filepath.Base(path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			out = append(out, keyValue{key, b})
			continue
		}
		if key != "" {
			return nil, fmt.Errorf("cannot give a key name for a directory path")
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(path, e.Name()))
			if err != nil {
				return nil, err
			}
			out = append(out, keyValue{e.Name(), b})
		}
	}
	for _, lit := range o.literals {
		k, v, ok := strings.Cut(lit, "=")
		if !ok {
			return nil, fmt.Errorf("invalid literal source %v, expected key=value", lit)
		}
		out = append(out, keyValue{k, []byte(v)})
	}
	return out, nil
}

// parseFileSource splits kubectl's [key=]path.
func parseFileSource(src string) (key, path string, err error) {
	k, p, ok := strings.Cut(src, "=")
	switch {
	case !ok:
		return "", src, nil
	case k == "":
		return "", "", fmt.Errorf("key name for file path %v missing", p)
	case p == "":
		return "", "", fmt.Errorf("file path for key name %v missing", k)
	case strings.Contains(p, "="):
		return "", "", fmt.Errorf("key names or file paths cannot contain '='")
	}
	return k, p, nil
}

// createFromData is the shared tail of the data generators: exactly one NAME, the object
// built from the data, then POSTed as `kubectl create -f` would.
func createFromData(c *cobra.Command, f *Factory, streams Streams, args []string, cmdPath, dryRunFlag, output string,
	src *dataSources, build func(name string, kvs []keyValue) (Object, error)) error {
	if len(args) != 1 {
		return usageError(cmdPath, "exactly one NAME is required, got %d", len(args))
	}
	dryRun, err := parseDryRun(dryRunFlag, streams.ErrOut)
	if err != nil {
		return err
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	kvs, err := src.read()
	if err != nil {
		return err
	}
	obj, err := build(args[0], kvs)
	if err != nil {
		return err
	}
	return createGenerated(c.Context(), f, streams, obj, ns, output, dryRun)
}

func newCmdCreateConfigMap(f *Factory, streams Streams) *cobra.Command {
	var src dataSources
	var dryRunFlag, output string
	c := &cobra.Command{
		Use:     "configmap NAME [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run=server|client|none]",
		Aliases: []string{"cm"},
		Short:   "Create a config map from a local file, directory or literal value",
		Example: `  # Create a new config map named my-config based on folder bar
  kubectl create configmap my-config --from-file=path/to/bar

  # Create a new config map named my-config with key1=config1 and key2=config2
  kubectl create configmap my-config --from-literal=key1=config1 --from-literal=key2=config2`,
		RunE: func(c *cobra.Command, args []string) error {
			return createFromData(c, f, streams, args, "kubectl create configmap", dryRunFlag, output, &src, func(name string, kvs []keyValue) (Object, error) {
				// Values that are valid UTF-8 go to data, others to binaryData, as kubectl does.
				data, binary := map[string]any{}, map[string]any{}
				for _, kv := range kvs {
					_, inData := data[kv.key]
					if _, inBinary := binary[kv.key]; inData || inBinary {
						return nil, fmt.Errorf("cannot add key %q, another key by that name already exists in Data for ConfigMap %q", kv.key, name)
					}
					if utf8.Valid(kv.value) {
						data[kv.key] = string(kv.value)
					} else {
						binary[kv.key] = base64.StdEncoding.EncodeToString(kv.value)
					}
				}
				obj := Object{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name}}
				if len(data) > 0 {
					obj["data"] = data
				}
				if len(binary) > 0 {
					obj["binaryData"] = binary
				}
				return obj, nil
			})
		},
	}
	src.addFlags(c, "the configmap")
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}

func newCmdCreateSecret() *cobra.Command {
	return &cobra.Command{
		Use:   "secret (docker-registry | generic | tls)",
		Short: "Create a secret using a specified subcommand",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
}

func newCmdCreateSecretGeneric(f *Factory, streams Streams) *cobra.Command {
	var src dataSources
	var dryRunFlag, output, typ string
	c := &cobra.Command{
		Use:   "generic NAME [--type=string] [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run=server|client|none]",
		Short: "Create a secret from a local file, directory, or literal value",
		Example: `  # Create a new secret named my-secret with keys for each file in folder bar
  kubectl create secret generic my-secret --from-file=path/to/bar

  # Create a new secret named my-secret with key1=supersecret and key2=topsecret
  kubectl create secret generic my-secret --from-literal=key1=supersecret --from-literal=key2=topsecret`,
		RunE: func(c *cobra.Command, args []string) error {
			return createFromData(c, f, streams, args, "kubectl create secret generic", dryRunFlag, output, &src, func(name string, kvs []keyValue) (Object, error) {
				data := map[string]any{}
				for _, kv := range kvs {
					if _, dup := data[kv.key]; dup {
						return nil, fmt.Errorf("cannot add key %s, another key by that name already exists", kv.key)
					}
					data[kv.key] = base64.StdEncoding.EncodeToString(kv.value)
				}
				obj := Object{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": name}}
				if len(data) > 0 {
					obj["data"] = data
				}
				if typ != "" {
					obj["type"] = typ
				}
				return obj, nil
			})
		},
	}
	src.addFlags(c, "secret")
	c.Flags().StringVar(&typ, "type", "", "The type of secret to create")
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}
