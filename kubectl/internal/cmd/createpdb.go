package cmd

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/spf13/cobra"
	"kubelab.io/proto/labels"
)

// intOrPercent is what kubectl create pdb accepts for --min-available and --max-unavailable.
var intOrPercent = regexp.MustCompile(`^[0-9]+%?$`)

// newCmdCreatePodDisruptionBudget is kubectl create poddisruptionbudget (pdb), with its flags,
// checks and messages.
func newCmdCreatePodDisruptionBudget(f *Factory, streams Streams) *cobra.Command {
	var minAvailable, maxUnavailable, selector, dryRunFlag, output string
	c := &cobra.Command{
		Use:     "poddisruptionbudget NAME --selector=SELECTOR --min-available=N [--dry-run=server|client|none]",
		Aliases: []string{"pdb"},
		Short:   "Create a pod disruption budget with the specified name",
		Long:    "Create a pod disruption budget with the specified name, selector, and desired minimum available pods.",
		Example: `  # Create a pod disruption budget named my-pdb that will select all pods with the app=rails label
  # and require at least one of them being available at any point in time
  kubectl create poddisruptionbudget my-pdb --selector=app=rails --min-available=1

  # Create a pod disruption budget named my-pdb that will select all pods with the app=nginx label
  # and require at least half of the pods selected to be available at any point in time
  kubectl create pdb my-pdb --selector=app=nginx --min-available=50%`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("kubectl create poddisruptionbudget", "exactly one NAME is required, got %d", len(args))
			}
			switch {
			case minAvailable == "" && maxUnavailable == "":
				return fmt.Errorf("one of min-available or max-unavailable must be specified")
			case minAvailable != "" && maxUnavailable != "":
				return fmt.Errorf("min-available and max-unavailable cannot be both specified")
			case selector == "":
				return fmt.Errorf("a selector must be specified")
			}
			flag, key, v := "min-available", "minAvailable", minAvailable
			if maxUnavailable != "" {
				flag, key, v = "max-unavailable", "maxUnavailable", maxUnavailable
			}
			if !intOrPercent.MatchString(v) {
				return fmt.Errorf("invalid format specified for %s", flag)
			}
			var value any = v // a percentage stays a string, as intstr.Parse keeps it
			if n, err := strconv.Atoi(v); err == nil {
				value = json.Number(strconv.Itoa(n))
			}
			sel, err := labels.ParseToLabelSelector(selector)
			if err != nil {
				return err
			}
			selMap := map[string]any{}
			if len(sel.GetMatchLabels()) > 0 {
				ml := map[string]any{}
				for k, v := range sel.GetMatchLabels() {
					ml[k] = v
				}
				selMap["matchLabels"] = ml
			}
			var exprs []any
			for _, r := range sel.GetMatchExpressions() {
				e := map[string]any{"key": r.GetKey(), "operator": r.GetOperator()}
				if vals := r.GetValues(); len(vals) > 0 {
					list := make([]any, len(vals))
					for i, v := range vals {
						list[i] = v
					}
					e["values"] = list
				}
				exprs = append(exprs, e)
			}
			if exprs != nil {
				selMap["matchExpressions"] = exprs
			}
			spec := map[string]any{key: value, "selector": selMap}
			dryRun, err := parseDryRun(dryRunFlag, streams.ErrOut)
			if err != nil {
				return err
			}
			ns, _, err := f.Namespace()
			if err != nil {
				return err
			}
			obj := Object{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
				"metadata": map[string]any{"name": args[0]}, "spec": spec}
			return createGenerated(c.Context(), f, streams, obj, ns, output, dryRun)
		},
	}
	c.Flags().StringVar(&minAvailable, "min-available", "", "The minimum number or percentage of available pods this budget requires.")
	c.Flags().StringVar(&maxUnavailable, "max-unavailable", "", "The maximum number or percentage of unavailable pods this budget requires.")
	c.Flags().StringVar(&selector, "selector", "", "A label selector to use for this budget. Only equality-based selector requirements are supported.")
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}
