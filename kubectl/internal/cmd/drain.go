package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kubelab.io/proto/apierrors"
)

// NewCmdCordon is `kubectl cordon NODE`.
func NewCmdCordon(f *Factory, streams Streams) *cobra.Command {
	return newCmdSchedulable(f, streams, "cordon", true, "Mark node as unschedulable", "  # Mark node \"foo\" as unschedulable\n  kubectl cordon foo")
}

// NewCmdUncordon is `kubectl uncordon NODE`.
func NewCmdUncordon(f *Factory, streams Streams) *cobra.Command {
	return newCmdSchedulable(f, streams, "uncordon", false, "Mark node as schedulable", "  # Mark node \"foo\" as schedulable\n  kubectl uncordon foo")
}

func newCmdSchedulable(f *Factory, streams Streams, verb string, unschedulable bool, short, example string) *cobra.Command {
	var selector, dryRunFlag string
	c := &cobra.Command{
		Use:     verb + " NODE",
		Short:   short,
		Example: example,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 && selector == "" {
				return usageError("kubectl "+verb, "USAGE: %s NODE [flags]", verb)
			}
			dryRun, err := parseDryRun(dryRunFlag, streams.ErrOut)
			if err != nil {
				return err
			}
			nodes, err := nodeRefs(c.Context(), f, args, selector)
			if err != nil {
				return err
			}
			cl, _ := f.Client()
			for _, n := range nodes {
				if err := setUnschedulable(c.Context(), cl, streams, n, unschedulable, verb, dryRun); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on")
	addDryRunFlag(c, &dryRunFlag)
	return c
}

func nodeRefs(ctx context.Context, f *Factory, args []string, selector string) ([]objectRef, error) {
	d, err := f.Discovery()
	if err != nil {
		return nil, err
	}
	res, err := d.Resolve(ctx, "nodes")
	if err != nil {
		return nil, err
	}
	var out []objectRef
	for _, a := range args {
		out = append(out, objectRef{res: res, name: strings.TrimPrefix(strings.TrimPrefix(a, "nodes/"), "node/")})
	}
	if selector != "" {
		c, _ := f.Client()
		list, err := c.GetObject(ctx, res.Path("", ""), url.Values{"labelSelector": {selector}})
		if err != nil {
			return nil, err
		}
		for _, it := range nestedSlice(list, "items") {
			out = append(out, objectRef{res: res, name: nestedString(it, "metadata", "name")})
		}
	}
	return out, nil
}

// setUnschedulable cordons or uncordons node n; a dry run says what it would have done.
func setUnschedulable(ctx context.Context, c *Client, streams Streams, n objectRef, unschedulable bool, verb string, dryRun dryRunStrategy) error {
	node, err := c.GetObject(ctx, n.path(), nil)
	if err != nil {
		return err
	}
	cur, _ := nested(node, "spec", "unschedulable").(bool)
	if cur == unschedulable {
		fmt.Fprintf(streams.Out, "%s already %sed%s\n", n, verb, dryRun.suffix())
		return nil
	}
	var v any = true
	if !unschedulable {
		v = nil
	}
	patch := map[string]any{"spec": map[string]any{"unschedulable": v}}
	if dryRun != dryRunClient {
		if _, err := c.SendObject(ctx, "PATCH", n.path(), mustJSON(patch), strategicPatch, dryRun.query()); err != nil {
			return err
		}
	}
	fmt.Fprintf(streams.Out, "%s %sed%s\n", n, verb, dryRun.suffix())
	return nil
}

type drainFlags struct {
	force            bool
	ignoreDaemonSets bool
	deleteEmptyDir   bool
	gracePeriod      int
	timeout          time.Duration
	selector         string
	podSelector      string
	disableEviction  bool
	dryRunFlag       string
	dryRun           dryRunStrategy
}

// NewCmdDrain is `kubectl drain NODE`: cordon, then evict the node's pods (delete them where
// the server has no eviction subresource, or with --disable-eviction).
func NewCmdDrain(f *Factory, streams Streams) *cobra.Command {
	o := &drainFlags{}
	c := &cobra.Command{
		Use:   "drain NODE",
		Short: "Drain node in preparation for maintenance",
		Long: `Drain node in preparation for maintenance.

 The given node will be marked unschedulable to prevent new pods from arriving. Then drain deletes all pods except mirror pods (which cannot be deleted through the API server). If there are daemon set-managed pods, drain will not proceed without --ignore-daemonsets, and regardless it will not delete any daemon set-managed pods. If there are any pods that are neither mirror pods nor managed by a replication controller, replica set, daemon set, stateful set, or job, then drain will not delete any pods unless you use --force.

 When you are ready to put the node back into service, use kubectl uncordon, which will make the node schedulable again.`,
		Example: `  # Drain node "foo", even if there are pods not managed by a replication controller, replica set, job, daemon set, or stateful set on it
  kubectl drain foo --force

  # As above, but abort if there are pods not managed by a replication controller, replica set, job, daemon set, or stateful set, and use a grace period of 15 minutes
  kubectl drain foo --grace-period=900`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 && o.selector == "" {
				return usageError("kubectl drain", "USAGE: drain NODE [flags]")
			}
			var err error
			if o.dryRun, err = parseDryRun(o.dryRunFlag, streams.ErrOut); err != nil {
				return err
			}
			return o.run(c.Context(), f, streams, args)
		},
	}
	addDryRunFlag(c, &o.dryRunFlag)
	fl := c.Flags()
	fl.BoolVar(&o.force, "force", false, "Continue even if there are pods that do not declare a controller.")
	fl.BoolVar(&o.ignoreDaemonSets, "ignore-daemonsets", false, "Ignore DaemonSet-managed pods.")
	fl.BoolVar(&o.deleteEmptyDir, "delete-emptydir-data", false, "Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).")
	fl.IntVar(&o.gracePeriod, "grace-period", -1, "Period of time in seconds given to each pod to terminate gracefully. If negative, the default value specified in the pod will be used.")
	fl.DurationVar(&o.timeout, "timeout", 0, "The length of time to wait before giving up, zero means infinite")
	fl.StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on")
	fl.StringVar(&o.podSelector, "pod-selector", "", "Label selector to filter pods on the node")
	fl.BoolVar(&o.disableEviction, "disable-eviction", false, "Force drain to use delete, even if eviction is supported.")
	return c
}

func (o *drainFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	nodes, err := nodeRefs(ctx, f, args, o.selector)
	if err != nil {
		return err
	}
	c, _ := f.Client()
	d, _ := f.Discovery()
	pods, err := d.Resolve(ctx, "pods")
	if err != nil {
		return err
	}
	var failed []string
	for _, n := range nodes {
		if err := setUnschedulable(ctx, c, streams, n, true, "cordon", o.dryRun); err != nil {
			return err
		}
		if err := o.drainNode(ctx, f, c, streams, pods, n); err != nil {
			fmt.Fprintf(streams.ErrOut, "error: unable to drain node %q due to error: %v, continuing command...\n", n.name, err)
			failed = append(failed, n.name)
			continue
		}
		fmt.Fprintf(streams.Out, "%s drained%s\n", n, o.dryRun.suffix())
	}
	if len(failed) > 0 {
		fmt.Fprintf(streams.ErrOut, "There are pending nodes to be drained:\n %s\n", strings.Join(failed, "\n "))
		return &exitError{err: errors.New("drain failed")}
	}
	return nil
}

// podFilter is kubectl drain's verdict on one pod: delete it, skip it (with a warning) or
// refuse the drain.
func (o *drainFlags) podFilter(pod Object) (del bool, warning, refusal string) {
	if _, mirror := nestedMap(pod, "metadata", "annotations")["kubernetes.io/config.mirror"]; mirror {
		return false, "", ""
	}
	phase := nestedString(pod, "status", "phase")
	finished := phase == "Succeeded" || phase == "Failed"
	var controller Object
	for _, r := range nestedSlice(pod, "metadata", "ownerReferences") {
		if b, _ := nested(r, "controller").(bool); b {
			controller, _ = r.(map[string]any)
		}
	}
	if controller != nil && nestedString(controller, "kind") == "DaemonSet" {
		if o.ignoreDaemonSets {
			return false, "ignoring DaemonSet-managed Pods", ""
		}
		return false, "", "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
	}
	if controller == nil && !finished {
		if !o.force {
			return false, "", "cannot delete Pods that declare no controller (use --force to override)"
		}
		return true, "deleting Pods that declare no controller", ""
	}
	for _, v := range nestedSlice(pod, "spec", "volumes") {
		if nested(v, "emptyDir") != nil && !finished {
			if !o.deleteEmptyDir {
				return false, "", "cannot delete Pods with local storage (use --delete-emptydir-data to override)"
			}
			return true, "deleting Pods with local storage", ""
		}
	}
	return true, "", ""
}

func (o *drainFlags) drainNode(ctx context.Context, f *Factory, c *Client, streams Streams, pods Resource, n objectRef) error {
	q := url.Values{"fieldSelector": {"spec.nodeName=" + n.name}}
	if o.podSelector != "" {
		q.Set("labelSelector", o.podSelector)
	}
	list, err := c.GetObject(ctx, pods.Path("", ""), q)
	if err != nil {
		return err
	}
	warnings, refusals := map[string][]string{}, map[string][]string{}
	var warnOrder, refOrder []string
	var victims []objectRef
	for _, it := range nestedSlice(list, "items") {
		pod, _ := it.(map[string]any)
		id := nestedString(pod, "metadata", "namespace") + "/" + nestedString(pod, "metadata", "name")
		del, warn, refuse := o.podFilter(pod)
		if refuse != "" {
			if refusals[refuse] == nil {
				refOrder = append(refOrder, refuse)
			}
			refusals[refuse] = append(refusals[refuse], id)
			continue
		}
		if warn != "" {
			if warnings[warn] == nil {
				warnOrder = append(warnOrder, warn)
			}
			warnings[warn] = append(warnings[warn], id)
		}
		if del {
			victims = append(victims, objectRef{res: pods, namespace: nestedString(pod, "metadata", "namespace"), name: nestedString(pod, "metadata", "name")})
		}
	}
	if len(refusals) > 0 {
		var parts []string
		for _, r := range refOrder {
			parts = append(parts, r+": "+strings.Join(refusals[r], ", "))
		}
		return errors.New(strings.Join(parts, ", "))
	}
	for _, w := range warnOrder {
		fmt.Fprintf(streams.ErrOut, "Warning: %s: %s\n", w, strings.Join(warnings[w], ", "))
	}
	ctxT := ctx
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctxT, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	evictionGV := ""
	if !o.disableEviction {
		if evictionGV, err = evictionSupport(ctx, f); err != nil {
			return err
		}
	}
	if o.dryRun == dryRunClient {
		// Nothing is sent; say what would be, as kubectl does.
		for _, v := range victims {
			fmt.Fprintf(streams.Out, "evicting pod %s/%s%s\n", v.namespace, v.name, o.dryRun.suffix())
		}
		return nil
	}
	for _, v := range victims {
		if err := o.evictOrDelete(ctxT, c, streams, v, evictionGV); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	verb := "deleted"
	if evictionGV != "" {
		verb = "evicted"
	}
	if o.dryRun == dryRunServer {
		// The server rehearsed each removal; there is nothing to wait for.
		if evictionGV == "" {
			for _, v := range victims {
				fmt.Fprintf(streams.Out, "pod/%s %s%s\n", v.name, verb, o.dryRun.suffix())
			}
		}
		return nil
	}
	for _, v := range victims {
		timeout := o.timeout
		if timeout == 0 {
			timeout = 24 * time.Hour
		}
		if err := waitGone(ctxT, c, v, timeout); err != nil {
			return fmt.Errorf("drain did not complete within %v", o.timeout)
		}
		fmt.Fprintf(streams.Out, "pod/%s %s\n", v.name, verb)
	}
	return nil
}

// evictionSupport returns the group/version of the Eviction kind when the server serves the
// pods/eviction subresource, found as kubectl finds it: by the subresource's entry in the
// core v1 resource list. "" means it does not, and drain deletes instead.
func evictionSupport(ctx context.Context, f *Factory) (string, error) {
	d, err := f.Discovery()
	if err != nil {
		return "", err
	}
	list, err := d.ServerResources(ctx, "v1")
	if err != nil {
		return "", err
	}
	for _, r := range list.Resources {
		if r.Name == "pods/eviction" && r.Kind == "Eviction" && r.Group != "" && r.Version != "" {
			return r.Group + "/" + r.Version, nil
		}
	}
	return "", nil
}

// evictOrDelete removes one pod: through its eviction subresource when the server has one
// (retrying while a disruption budget refuses it with 429, as kubectl does), else by delete.
func (o *drainFlags) evictOrDelete(ctx context.Context, c *Client, streams Streams, v objectRef, evictionGV string) error {
	opts := map[string]any{"kind": "DeleteOptions", "apiVersion": "v1"}
	if o.gracePeriod >= 0 {
		opts["gracePeriodSeconds"] = o.gracePeriod
	}
	if o.dryRun == dryRunServer {
		opts["dryRun"] = []string{"All"}
	}
	if evictionGV == "" {
		_, err := c.Do(ctx, Request{Method: "DELETE", Path: v.path(), Body: mustJSON(opts)})
		return err
	}
	eviction := map[string]any{
		"apiVersion": evictionGV, "kind": "Eviction",
		"metadata":      map[string]any{"name": v.name, "namespace": v.namespace},
		"deleteOptions": opts,
	}
	for {
		// Said before every attempt, as kubectl does, so a retried pod shows each one.
		fmt.Fprintf(streams.Out, "evicting pod %s/%s%s\n", v.namespace, v.name, o.dryRun.suffix())
		_, err := c.Do(ctx, Request{Method: "POST", Path: v.path() + "/eviction", Body: mustJSON(eviction)})
		if !apierrors.IsTooManyRequests(err) {
			return err
		}
		fmt.Fprintf(streams.ErrOut, "error when evicting pods/%q -n %q (will retry after 5s): %v\n", v.name, v.namespace, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("error when evicting pods/%q -n %q: global timeout reached: %v", v.name, v.namespace, o.timeout)
		case <-time.After(5 * time.Second):
		}
	}
}
