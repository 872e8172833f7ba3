package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newCmdCreateServiceAccount is kubectl create serviceaccount (sa).
func newCmdCreateServiceAccount(f *Factory, streams Streams) *cobra.Command {
	var dryRunFlag, output string
	c := &cobra.Command{
		Use:     "serviceaccount NAME [--dry-run=server|client|none]",
		Aliases: []string{"sa"},
		Short:   "Create a service account with the specified name",
		Long:    "Create a service account with the specified name.",
		Example: "  # Create a new service account named my-service-account\n  kubectl create serviceaccount my-service-account",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("kubectl create serviceaccount", "exactly one NAME is required, got %d", len(args))
			}
			dryRun, err := parseDryRun(dryRunFlag, streams.ErrOut)
			if err != nil {
				return err
			}
			ns, _, err := f.Namespace()
			if err != nil {
				return err
			}
			obj := Object{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": args[0]}}
			return createGenerated(c.Context(), f, streams, obj, ns, output, dryRun)
		},
	}
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}

// boundObjectKinds are the kinds kubectl create token binds a token to, with the
// apiVersion it names them by.
var boundObjectKinds = map[string]string{"Node": "v1", "Pod": "v1", "Secret": "v1"}

type createTokenFlags struct {
	audiences       []string
	duration        time.Duration
	boundObjectKind string
	boundObjectName string
	boundObjectUID  string
	output          string
}

// newCmdCreateToken is kubectl create token: it asks the serviceaccounts/token subresource
// for a token and prints it.
func newCmdCreateToken(f *Factory, streams Streams) *cobra.Command {
	o := &createTokenFlags{}
	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range boundObjectKinds {
			if !yield(k) {
				return
			}
		}
	})
	c := &cobra.Command{
		Use:   "token SERVICE_ACCOUNT_NAME",
		Short: "Request a service account token",
		Long:  "Request a service account token.",
		Example: `  # Request a token to authenticate to the kube-apiserver as the service account "myapp" in the current namespace
  kubectl create token myapp

  # Request a token for a service account in a custom namespace
  kubectl create token myapp --namespace myns

  # Request a token with a custom expiration
  kubectl create token myapp --duration 10m

  # Request a token with a custom audience
  kubectl create token myapp --audience https://example.com

  # Request a token bound to an instance of a Secret object
  kubectl create token myapp --bound-object-kind Secret --bound-object-name mysecret

  # Request a token bound to an instance of a Secret object with a specific UID
  kubectl create token myapp --bound-object-kind Secret --bound-object-name mysecret --bound-object-uid 0d4691ed-659b-4935-a832-355f77ee47cc`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("kubectl create token", "exactly one NAME is required, got %d", len(args))
			}
			ns, _, err := f.Namespace()
			if err != nil {
				return err
			}
			if err := o.validate(ns, kinds); err != nil {
				return err
			}
			client, err := f.Client()
			if err != nil {
				return err
			}
			path := "/api/v1/namespaces/" + url.PathEscape(ns) + "/serviceaccounts/" + url.PathEscape(args[0]) + "/token"
			resp, err := client.SendObject(c.Context(), "POST", path, mustJSON(o.request()), "", nil)
			if err != nil {
				// Worded as kubectl words it: the server's message after the prefix, not
				// "Error from server (Reason)".
				return fmt.Errorf("failed to create token: %s", err.Error())
			}
			token := nestedString(resp, "status", "token")
			if token == "" {
				return fmt.Errorf("failed to create token: no token in server response")
			}
			if o.output != "" {
				return printObject(streams.Out, resp, o.output)
			}
			return printToken(streams.Out, token)
		},
	}
	c.Flags().StringArrayVar(&o.audiences, "audience", nil, "Audience of the requested token. If unset, defaults to requesting a token for use with the Kubernetes API server. May be repeated to request a token valid for multiple audiences.")
	c.Flags().DurationVar(&o.duration, "duration", 0, "Requested lifetime of the issued token. If not set or if set to 0, the lifetime will be determined by the server automatically. The server may return a token with a longer or shorter lifetime.")
	c.Flags().StringVar(&o.boundObjectKind, "bound-object-kind", "", "Kind of an object to bind the token to. Supported kinds are "+strings.Join(kinds, ", ")+". If set, --bound-object-name must be provided.")
	c.Flags().StringVar(&o.boundObjectName, "bound-object-name", "", "Name of an object to bind the token to. The token will expire when the object is deleted. Requires --bound-object-kind.")
	c.Flags().StringVar(&o.boundObjectUID, "bound-object-uid", "", "UID of an object to bind the token to. Requires --bound-object-kind and --bound-object-name. If unset, the UID of the existing object is used.")
	c.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, jsonpath=...). Without it, the token alone.")
	return c
}

// validate checks the flags as kubectl's TokenOptions.Validate does, in its order and words.
func (o *createTokenFlags) validate(namespace string, kinds []string) error {
	if namespace == "" {
		return fmt.Errorf("--namespace is required")
	}
	if o.duration < 0 {
		return fmt.Errorf("--duration must be greater than or equal to 0")
	}
	if o.duration%time.Second != 0 {
		return fmt.Errorf("--duration cannot be expressed in units less than seconds")
	}
	if slices.Contains(o.audiences, "") {
		return fmt.Errorf("--audience must not be an empty string")
	}
	if o.boundObjectKind == "" {
		if o.boundObjectName != "" {
			return fmt.Errorf("--bound-object-name can only be set if --bound-object-kind is provided")
		}
		if o.boundObjectUID != "" {
			return fmt.Errorf("--bound-object-uid can only be set if --bound-object-kind is provided")
		}
		return nil
	}
	if _, ok := boundObjectKinds[o.boundObjectKind]; !ok {
		return fmt.Errorf("supported --bound-object-kind values are %s", strings.Join(kinds, ", "))
	}
	if o.boundObjectName == "" {
		return fmt.Errorf("--bound-object-name is required if --bound-object-kind is provided")
	}
	return nil
}

// request is the TokenRequest the flags ask for; a zero duration leaves the lifetime to the
// server.
func (o *createTokenFlags) request() Object {
	spec := map[string]any{}
	if len(o.audiences) > 0 {
		auds := make([]any, len(o.audiences))
		for i, a := range o.audiences {
			auds[i] = a
		}
		spec["audiences"] = auds
	}
	if o.duration > 0 {
		spec["expirationSeconds"] = json.Number(strconv.FormatInt(int64(o.duration/time.Second), 10))
	}
	if o.boundObjectKind != "" {
		ref := map[string]any{"kind": o.boundObjectKind, "apiVersion": boundObjectKinds[o.boundObjectKind], "name": o.boundObjectName}
		if o.boundObjectUID != "" {
			ref["uid"] = o.boundObjectUID
		}
		spec["boundObjectRef"] = ref
	}
	return Object{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": map[string]any{}, "spec": spec}
}

// printToken writes the token with a newline only on a terminal, as kubectl does, so that
// $(kubectl create token x) and pipes get the bare token.
func printToken(w io.Writer, token string) error {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			token += "\n"
		}
	}
	_, err := io.WriteString(w, token)
	return err
}
