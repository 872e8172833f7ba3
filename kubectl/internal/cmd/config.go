package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"kubelab.io/client/kubeconfig"
)

// NewCmdConfig is `kubectl config`: view and switch kubeconfig contexts.
func NewCmdConfig(f *Factory, streams Streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "config SUBCOMMAND",
		Short: "Modify kubeconfig files",
		Long: `Modify kubeconfig files using subcommands like "kubectl config set current-context my-context".

 The loading order follows these rules:

  1.  If the --kubeconfig flag is set, then only that file is loaded. The flag may only be set once and no merging takes place.
  2.  If $KUBECONFIG environment variable is set, then it is used as a list of paths (normal path delimiting rules for your system). These paths are merged. When a value is modified, it is modified in the file that defines the stanza. When a value is created, it is created in the first file that exists. If no files in the chain exist, then it creates the last file in the list.
  3.  Otherwise, ${HOME}/.kube/config is used and no merging takes place.`,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newCmdConfigView(f, streams), newCmdConfigGetContexts(f, streams),
		newCmdConfigUseContext(f, streams), newCmdConfigCurrentContext(f, streams))
	return c
}

type configViewFlags struct {
	raw, minify, flatten bool
	output               string
}

func newCmdConfigView(f *Factory, streams Streams) *cobra.Command {
	o := &configViewFlags{}
	c := &cobra.Command{
		Use:   "view",
		Short: "Display merged kubeconfig settings or a specified kubeconfig file",
		Long:  "Display merged kubeconfig settings or a specified kubeconfig file.\n\n You can use --output jsonpath={...} to extract specific values using a jsonpath expression.",
		Example: `  # Show merged kubeconfig settings
  kubectl config view

  # Show merged kubeconfig settings, raw certificate data, and exposed secrets
  kubectl config view --raw

  # Get the password for the e2e user
  kubectl config view -o jsonpath='{.users[?(@.name == "e2e")].user.password}'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, _, err := f.Config()
			if err != nil {
				return err
			}
			out := *cfg
			if o.minify {
				name := f.overrides.Context
				if name == "" {
					name = cfg.CurrentContext
				}
				if name == "" {
					return errors.New("current-context must exist in order to minify")
				}
				out = minify(cfg, name)
			}
			data, err := json.Marshal(&out)
			if err != nil {
				return err
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				return err
			}
			if !o.raw && !o.flatten {
				redact(m)
			}
			return printObject(streams.Out, m, o.output)
		},
	}
	c.Flags().BoolVar(&o.raw, "raw", false, "Display raw byte data and sensitive data")
	c.Flags().BoolVar(&o.minify, "minify", false, "Remove all information not used by current-context from the output")
	c.Flags().BoolVar(&o.flatten, "flatten", false, "Flatten the resulting kubeconfig file into self-contained output (useful for creating portable kubeconfig files)")
	c.Flags().StringVarP(&o.output, "output", "o", "yaml", "Output format. One of: (json, yaml, jsonpath=...).")
	return c
}

// redact hides secrets as kubectl config view does: "-data" fields as DATA+OMITTED, tokens
// and passwords as REDACTED.
func redact(m map[string]any) {
	for _, kind := range []string{"clusters", "users"} {
		for _, e := range nestedSlice(m, kind) {
			inner, _ := e.(map[string]any)
			for _, key := range []string{"cluster", "user"} {
				entry := nestedMap(inner, key)
				for k := range entry {
					switch k {
					case "certificate-authority-data", "client-certificate-data", "client-key-data":
						entry[k] = "DATA+OMITTED"
					case "token", "password":
						entry[k] = "REDACTED"
					}
				}
			}
		}
	}
}

func minify(cfg *kubeconfig.Config, ctxName string) kubeconfig.Config {
	out := kubeconfig.Config{APIVersion: cfg.APIVersion, Kind: cfg.Kind, Preferences: cfg.Preferences, CurrentContext: ctxName}
	for _, c := range cfg.Contexts {
		if c.Name != ctxName {
			continue
		}
		out.Contexts = append(out.Contexts, c)
		for _, cl := range cfg.Clusters {
			if cl.Name == c.Context.Cluster {
				out.Clusters = append(out.Clusters, cl)
			}
		}
		for _, u := range cfg.Users {
			if u.Name == c.Context.User {
				out.Users = append(out.Users, u)
			}
		}
	}
	return out
}

func newCmdConfigGetContexts(f *Factory, streams Streams) *cobra.Command {
	var noHeaders bool
	var output string
	c := &cobra.Command{
		Use:   "get-contexts [(-o|--output=)name)]",
		Short: "Describe one or many contexts",
		Example: `  # List all the contexts in your kubeconfig file
  kubectl config get-contexts

  # Describe one context in your kubeconfig file
  kubectl config get-contexts my-context`,
		RunE: func(c *cobra.Command, args []string) error {
			cfg, _, err := f.Config()
			if err != nil {
				return err
			}
			var ctxs []kubeconfig.NamedContext
			if len(args) == 0 {
				ctxs = cfg.Contexts
			}
			for _, a := range args {
				found := false
				for _, nc := range cfg.Contexts {
					if nc.Name == a {
						ctxs = append(ctxs, nc)
						found = true
					}
				}
				if !found {
					return fmt.Errorf("context %s not found", a)
				}
			}
			if output == "name" {
				for _, nc := range ctxs {
					fmt.Fprintln(streams.Out, nc.Name)
				}
				return nil
			}
			if output != "" {
				return fmt.Errorf("output must be one of '' or 'name': %s", output)
			}
			w := newTabWriter(streams.Out)
			if !noHeaders {
				fmt.Fprintln(w, "CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE")
			}
			for _, nc := range ctxs {
				cur := ""
				if nc.Name == cfg.CurrentContext {
					cur = "*"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", cur, nc.Name, nc.Context.Cluster, nc.Context.User, nc.Context.Namespace)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&noHeaders, "no-headers", false, "When using the default or custom-column output format, don't print headers (default print headers).")
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (name).")
	return c
}

func newCmdConfigUseContext(f *Factory, streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:     "use-context CONTEXT_NAME",
		Aliases: []string{"use"},
		Short:   "Set the current-context in a kubeconfig file",
		Example: `  # Use the context for the minikube cluster
  kubectl config use-context minikube`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, files, err := f.Config()
			if err != nil {
				return err
			}
			name := args[0]
			found := false
			for _, nc := range cfg.Contexts {
				found = found || nc.Name == name
			}
			if !found {
				return fmt.Errorf("no context exists with the name: %q", name)
			}
			// Like kubectl: the file that sets current-context, else the first that exists,
			// else the last of the list.
			target := ""
			var existing []string
			for _, p := range files {
				fc, err := kubeconfig.Load(p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return err
				}
				existing = append(existing, p)
				if target == "" && fc.CurrentContext != "" {
					target = p
				}
			}
			switch {
			case target != "":
			case len(existing) > 0:
				target = existing[0]
			case len(files) > 0:
				target = files[len(files)-1]
			default:
				return errors.New("no kubeconfig file to write")
			}
			fc, err := kubeconfig.Load(target)
			if errors.Is(err, fs.ErrNotExist) {
				fc, err = &kubeconfig.Config{}, nil
			}
			if err != nil {
				return err
			}
			fc.CurrentContext = name
			if err := kubeconfig.Write(target, fc); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "Switched to context %q.\n", name)
			return nil
		},
	}
}

func newCmdConfigCurrentContext(f *Factory, streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:     "current-context",
		Short:   "Display the current-context",
		Example: "  # Display the current-context\n  kubectl config current-context",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, _, err := f.Config()
			if err != nil {
				return err
			}
			if cfg.CurrentContext == "" {
				return errors.New("current-context is not set")
			}
			fmt.Fprintln(streams.Out, cfg.CurrentContext)
			return nil
		},
	}
}
