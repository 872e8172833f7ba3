package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// NewCmdAuth is `kubectl auth`, with its can-i and whoami subcommands.
func NewCmdAuth(f *Factory, streams Streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "auth",
		Short: "Inspect authorization",
		Long:  "Inspect authorization.",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(NewCmdCanI(f, streams), NewCmdWhoAmI(f, streams))
	return c
}

// review creates a review of the caller (a virtual kind the server answers and never
// stores) at path and returns the server's answer.
func review(ctx context.Context, f *Factory, path string, obj map[string]any) ([]byte, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	client, err := f.Client()
	if err != nil {
		return nil, err
	}
	return client.Do(ctx, Request{Method: "POST", Path: path, Body: body})
}

// NewCmdWhoAmI is `kubectl auth whoami`: a SelfSubjectReview, so the server says who it
// takes the caller for — with --as, the impersonated user.
func NewCmdWhoAmI(f *Factory, streams Streams) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "whoami",
		Short: "Experimental: Check self subject attributes",
		Long: `Experimental: Check who you are and your attributes (groups, extra).

 This command is helpful to get yourself aware of the current user attributes, especially when dynamic authentication, e.g., token webhook, auth proxy, or OIDC provider, is enabled in the Kubernetes cluster.`,
		Example: `  # Get your subject attributes
  kubectl auth whoami

  # Get your subject attributes in JSON format
  kubectl auth whoami -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			data, err := review(c.Context(), f, "/apis/authentication.k8s.io/v1/selfsubjectreviews", map[string]any{
				"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
			})
			if err != nil {
				return err
			}
			obj, err := decodeObject(data)
			if err != nil {
				return err
			}
			if output != "" {
				return printObject(streams.Out, obj, output)
			}
			var r struct {
				Status struct {
					UserInfo struct {
						Username string              `json:"username"`
						UID      string              `json:"uid"`
						Groups   []string            `json:"groups"`
						Extra    map[string][]string `json:"extra"`
					} `json:"userInfo"`
				} `json:"status"`
			}
			if err := json.Unmarshal(data, &r); err != nil {
				return fmt.Errorf("decode SelfSubjectReview: %w", err)
			}
			// Upstream's table: only the attributes there are, extras by key.
			ui := r.Status.UserInfo
			w := newTabWriter(streams.Out)
			fmt.Fprintf(w, "ATTRIBUTE\tVALUE\n")
			if ui.Username != "" {
				fmt.Fprintf(w, "Username\t%s\n", ui.Username)
			}
			if ui.UID != "" {
				fmt.Fprintf(w, "UID\t%s\n", ui.UID)
			}
			if len(ui.Groups) > 0 {
				fmt.Fprintf(w, "Groups\t%v\n", ui.Groups)
			}
			for _, k := range slices.Sorted(maps.Keys(ui.Extra)) {
				fmt.Fprintf(w, "Extra: %s\t%v\n", k, ui.Extra[k])
			}
			return w.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, jsonpath, jsonpath-as-json).")
	return c
}

type canIFlags struct {
	allNamespaces bool
	subresource   string
	quiet         bool
}

// NewCmdCanI is `kubectl auth can-i VERB TYPE[/NAME] | NONRESOURCEURL`: a
// SelfSubjectAccessReview, so the server answers for whoever the request runs as — with
// --as, the impersonated user.
func NewCmdCanI(f *Factory, streams Streams) *cobra.Command {
	o := &canIFlags{}
	c := &cobra.Command{
		Use:   "can-i VERB [TYPE | TYPE/NAME | NONRESOURCEURL]",
		Short: "Check whether an action is allowed",
		Long: `Check whether an action is allowed.

 VERB is a logical Kubernetes API verb like 'get', 'list', 'watch', 'delete', etc. TYPE is a Kubernetes resource. Shortcuts and groups will be resolved. NONRESOURCEURL is a partial URL that starts with "/". NAME is the name of a particular Kubernetes resource.`,
		Example: `  # Check to see if I can create pods in any namespace
  kubectl auth can-i create pods --all-namespaces

  # Check to see if I can list deployments in my current namespace
  kubectl auth can-i list deployments.apps

  # Check to see if the user bob can list pods (needs the right to impersonate bob)
  kubectl auth can-i list pods --as=bob

  # Check to see if I can access the URL /logs/
  kubectl auth can-i get /logs/`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	fl := c.Flags()
	fl.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If true, check the specified action in all namespaces.")
	fl.StringVar(&o.subresource, "subresource", "", "SubResource such as pod/log or deployment/scale")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "If true, suppress output and just return the exit code.")
	return c
}

// nonStandardResources are impersonation's virtual resources, which discovery never lists:
// kubectl checks them without warning.
var nonStandardResources = map[string]bool{"users": true, "groups": true}

func (o *canIFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	if len(args) != 2 {
		return errors.New("you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'kubectl auth can-i -h' for help and examples.")
	}
	verb := args[0]
	spec := map[string]any{}
	if strings.HasPrefix(args[1], "/") {
		if o.subresource != "" {
			return errors.New("--subresource can not be used with NonResourceURL")
		}
		spec["nonResourceAttributes"] = map[string]string{"verb": verb, "path": args[1]}
	} else {
		typ, name, _ := strings.Cut(args[1], "/")
		group, resource := o.resourceFor(ctx, f, streams, typ)
		ns := ""
		if !o.allNamespaces {
			var err error
			if ns, _, err = f.Namespace(); err != nil {
				return err
			}
		}
		spec["resourceAttributes"] = map[string]string{
			"namespace": ns, "verb": verb, "group": group, "resource": resource, "subresource": o.subresource, "name": name,
		}
	}
	data, err := review(ctx, f, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec,
	})
	if err != nil {
		return err
	}
	var review struct {
		Status struct {
			Allowed         bool   `json:"allowed"`
			Reason          string `json:"reason"`
			EvaluationError string `json:"evaluationError"`
		} `json:"status"`
	}
	if err := json.Unmarshal(data, &review); err != nil {
		return fmt.Errorf("decode SelfSubjectAccessReview: %w", err)
	}
	st := review.Status
	if !o.quiet {
		if st.Allowed {
			fmt.Fprintln(streams.Out, "yes")
		} else {
			line := "no"
			for _, s := range []string{st.Reason, st.EvaluationError} {
				if s != "" {
					line += " - " + s
				}
			}
			fmt.Fprintln(streams.Out, line)
		}
	}
	if !st.Allowed {
		return &exitError{}
	}
	return nil
}

// resourceFor resolves TYPE (pods, po, deployments.apps, *) through discovery to its group
// and plural. A type discovery does not know is checked as typed (a "name.group" split at
// the first dot), with a warning unless it is users or groups.
func (o *canIFlags) resourceFor(ctx context.Context, f *Factory, streams Streams, typ string) (group, resource string) {
	typ = strings.ToLower(typ)
	if typ == "*" {
		return "", "*"
	}
	if d, err := f.Discovery(); err == nil {
		if r, err := d.Resolve(ctx, typ); err == nil {
			return r.Group, r.Name
		}
	}
	resource, group, _ = strings.Cut(typ, ".")
	if !o.quiet && !nonStandardResources[typ] {
		fmt.Fprintf(streams.ErrOut, "Warning: the server doesn't have a resource type '%s'\n\n", resource) // a blank line after, as kubectl
	}
	return group, resource
}
