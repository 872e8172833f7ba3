package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
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
// stores) at path, decodes the answer's status into status and returns the whole answer.
func review(ctx context.Context, f *Factory, path string, obj map[string]any, status any) ([]byte, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	client, err := f.Client()
	if err != nil {
		return nil, err
	}
	data, err := client.Do(ctx, Request{Method: "POST", Path: path, Body: body})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &struct {
		Status any `json:"status"`
	}{status}); err != nil {
		return nil, fmt.Errorf("decode %s: %w", obj["kind"], err)
	}
	return data, nil
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
			var st struct {
				UserInfo struct {
					Username string              `json:"username"`
					UID      string              `json:"uid"`
					Groups   []string            `json:"groups"`
					Extra    map[string][]string `json:"extra"`
				} `json:"userInfo"`
			}
			data, err := review(c.Context(), f, "/apis/authentication.k8s.io/v1/selfsubjectreviews", map[string]any{
				"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
			}, &st)
			if err != nil {
				return err
			}
			if output != "" {
				obj, err := decodeObject(data)
				if err != nil {
					return err
				}
				return printObject(streams.Out, obj, output)
			}
			// Upstream's table: only the attributes there are, extras by key.
			ui := st.UserInfo
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
	list          bool
	noHeaders     bool
}

// NewCmdCanI is `kubectl auth can-i VERB TYPE[/NAME] | NONRESOURCEURL`: a
// SelfSubjectAccessReview, so the server answers for whoever the request runs as — with
// --as, the impersonated user. With --list it is a SelfSubjectRulesReview instead: every
// rule that applies in the namespace.
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
  kubectl auth can-i get /logs/

  # List all allowed actions in namespace "foo"
  kubectl auth can-i --list --namespace=foo`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	fl := c.Flags()
	fl.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If true, check the specified action in all namespaces.")
	fl.StringVar(&o.subresource, "subresource", "", "SubResource such as pod/log or deployment/scale")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "If true, suppress output and just return the exit code.")
	fl.BoolVar(&o.list, "list", false, "If true, prints all allowed actions.")
	fl.BoolVar(&o.noHeaders, "no-headers", false, "If true, prints allowed actions without headers")
	return c
}

// nonStandardResources are impersonation's virtual resources, which discovery never lists:
// kubectl checks them without warning.
var nonStandardResources = map[string]bool{"users": true, "groups": true}

func (o *canIFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	if o.list {
		return o.runList(ctx, f, streams, args)
	}
	if o.noHeaders {
		return errors.New("--no-headers cannot be set without --list specified")
	}
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
	var st struct {
		Allowed         bool   `json:"allowed"`
		Reason          string `json:"reason"`
		EvaluationError string `json:"evaluationError"`
	}
	if _, err := review(ctx, f, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec,
	}, &st); err != nil {
		return err
	}
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

// runList is `kubectl auth can-i --list`: the caller's rules in the namespace, printed as
// upstream prints them — each rule broken down to one resource (or URL) apiece, rules of one
// resource that differ only by verb merged, and the rows sorted.
func (o *canIFlags) runList(ctx context.Context, f *Factory, streams Streams, args []string) error {
	if len(args) != 0 {
		return errors.New("list option must be specified with no arguments")
	}
	if o.quiet || o.allNamespaces || o.subresource != "" {
		return errors.New("list option can't be specified with neither quiet, all-namespaces nor subresource options")
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	var st struct {
		ResourceRules    []policyRule `json:"resourceRules"`
		NonResourceRules []policyRule `json:"nonResourceRules"`
		Incomplete       bool         `json:"incomplete"`
		EvaluationError  string       `json:"evaluationError"`
	}
	if _, err := review(ctx, f, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": map[string]string{"namespace": ns},
	}, &st); err != nil {
		return err
	}
	if st.Incomplete {
		fmt.Fprintf(streams.ErrOut, "warning: the list may be incomplete: %v\n", st.EvaluationError)
	}
	var rules []policyRule
	for _, rule := range append(st.ResourceRules, st.NonResourceRules...) {
		rules = append(rules, rule.breakdown()...)
	}
	rules = compactRules(rules)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].String() < rules[j].String() })
	w := newTabWriter(streams.Out)
	if !o.noHeaders {
		fmt.Fprintln(w, "Resources\tNon-Resource URLs\tResource Names\tVerbs")
	}
	for _, rule := range rules {
		fmt.Fprintf(w, "%s\t%v\t%v\t%v\n", rule.resourceGroup(), rule.NonResourceURLs, rule.ResourceNames, rule.Verbs)
	}
	return w.Flush()
}

// policyRule is an RBAC rule as a rules review returns it (resource and non-resource rules
// share its fields).
type policyRule struct {
	Verbs           []string `json:"verbs"`
	APIGroups       []string `json:"apiGroups"`
	Resources       []string `json:"resources"`
	ResourceNames   []string `json:"resourceNames"`
	NonResourceURLs []string `json:"nonResourceURLs"`
}

// String is the Go string of Kubernetes' rbacv1.PolicyRule, which kubectl sorts the rows by
// (verbs first).
func (r policyRule) String() string {
	return fmt.Sprintf("&PolicyRule{Verbs:%v,APIGroups:%v,Resources:%v,ResourceNames:%v,NonResourceURLs:%v,}", r.Verbs, r.APIGroups, r.Resources, r.ResourceNames, r.NonResourceURLs)
}

// breakdown splits r into one rule per group and resource (and resource name), or per
// non-resource URL, with its verbs sorted and unique (kubectl's rbac util BreakdownRule).
func (r policyRule) breakdown() []policyRule {
	verbs := slices.Compact(slices.Sorted(slices.Values(r.Verbs)))
	var out []policyRule
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			one := policyRule{Verbs: verbs, APIGroups: []string{g}, Resources: []string{res}}
			if len(r.ResourceNames) == 0 {
				out = append(out, one)
			}
			for _, name := range r.ResourceNames {
				one.ResourceNames = []string{name}
				out = append(out, one)
			}
		}
	}
	for _, u := range r.NonResourceURLs {
		out = append(out, policyRule{Verbs: verbs, NonResourceURLs: []string{u}})
	}
	return out
}

// compactRules merges rules on the same group, resource and resource name, appending their
// verbs as kubectl does (neither sorted nor made unique); non-resource rules stay apart.
func compactRules(rules []policyRule) []policyRule {
	type key struct{ group, resource, name string }
	var out []policyRule
	merged := map[key]int{} // index in out
	for _, r := range rules {
		if len(r.Resources) == 0 {
			out = append(out, r)
			continue
		}
		k := key{r.APIGroups[0], r.Resources[0], strings.Join(r.ResourceNames, "")}
		if i, ok := merged[k]; ok {
			out[i].Verbs = append(slices.Clip(out[i].Verbs), r.Verbs...)
			continue
		}
		merged[k] = len(out)
		out = append(out, r)
	}
	return out
}

// resourceGroup names a broken-down rule's resource as "resource.group" (a subresource
// after it: "deployments.apps/scale"), empty for a non-resource rule.
func (r policyRule) resourceGroup() string {
	if len(r.Resources) == 0 {
		return ""
	}
	resource, sub, hasSub := strings.Cut(r.Resources[0], "/")
	if len(r.APIGroups) > 0 && r.APIGroups[0] != "" {
		resource += "." + r.APIGroups[0]
	}
	if hasSub {
		resource += "/" + sub
	}
	return resource
}
