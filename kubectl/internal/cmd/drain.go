package cmd

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
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
	// skipWaitForDelete is --skip-wait-for-delete-timeout, in seconds (see deletedLongAgo).
	skipWaitForDelete int
	now               func() time.Time
}

// NewCmdDrain is `kubectl drain NODE`: cordon, then evict the node's pods (delete them where
// the server has no eviction subresource, or with --disable-eviction).
func NewCmdDrain(f *Factory, streams Streams) *cobra.Command {
	o := &drainFlags{now: time.Now}
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
	fl.IntVar(&o.skipWaitForDelete, "skip-wait-for-delete-timeout", 0, "If pod DeletionTimestamp older than N seconds, skip waiting for the pod.  Seconds must be greater than 0 to skip.")
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
	// As kubectl: every node is cordoned first, so no pod evicted from one lands on another
	// about to be drained; a node that fails to drain is reported and the others are still
	// drained, the failures returned together at the end.
	for _, n := range nodes {
		if err := setUnschedulable(ctx, c, streams, n, true, "cordon", o.dryRun); err != nil {
			return err
		}
	}
	var failed []string
	var fatal []error
	for _, n := range nodes {
		if err := o.drainNode(ctx, f, c, streams, pods, n); err != nil {
			fmt.Fprintf(streams.ErrOut, "error: unable to drain node %q due to error: %v, continuing command...\n", n.name, err)
			failed = append(failed, n.name)
			fatal = append(fatal, err)
			continue
		}
		fmt.Fprintf(streams.Out, "%s drained%s\n", n, o.dryRun.suffix())
	}
	if len(failed) > 0 {
		fmt.Fprintf(streams.ErrOut, "There are pending nodes to be drained:\n %s\n", strings.Join(failed, "\n "))
	}
	return newAggregate(fatal)
}

// drainNode removes node n's pods. When that fails it says which pods are still there, as
// kubectl does, and returns the failure.
func (o *drainFlags) drainNode(ctx context.Context, f *Factory, c *Client, streams Streams, pods Resource, n objectRef) error {
	victims, warnings, refusal, err := o.podsForDeletion(ctx, c, pods, n)
	if err != nil {
		return err
	}
	if refusal != nil {
		return refusal
	}
	for _, w := range warnings {
		fmt.Fprintf(streams.ErrOut, "Warning: %s\n", w)
	}
	if o.dryRun == dryRunClient {
		// Nothing is sent; say what would be, as kubectl does.
		for _, v := range victims {
			fmt.Fprintf(streams.Out, "evicting pod %s/%s%s\n", v.ref.namespace, v.ref.name, o.dryRun.suffix())
		}
		return nil
	}
	if len(victims) == 0 {
		return nil
	}
	err = o.removePods(ctx, f, c, streams, victims)
	if err == nil {
		return nil
	}
	pending, _, refusal, lerr := o.podsForDeletion(ctx, c, pods, n)
	if len(pending) > 0 {
		fmt.Fprintf(streams.ErrOut, "There are pending pods in node %q when an error occurred: %v\n", n.name, err)
		for _, p := range pending {
			fmt.Fprintf(streams.ErrOut, "pod/%s\n", p.ref.name)
		}
	}
	if lerr == nil {
		lerr = refusal
	}
	if lerr != nil {
		fmt.Fprintf(streams.ErrOut, "Following errors occurred while getting the list of pods to delete:\n%v\n", lerr)
	}
	return err
}

// removePods evicts victims, or deletes them where the server has no eviction subresource
// or with --disable-eviction, as podRemover describes.
func (o *drainFlags) removePods(ctx context.Context, f *Factory, c *Client, streams Streams, victims []drainPod) error {
	evictionGV := ""
	if !o.disableEviction {
		var err error
		if evictionGV, err = evictionSupport(ctx, f); err != nil {
			return err
		}
	}
	opts := map[string]any{"kind": "DeleteOptions", "apiVersion": "v1"}
	if o.gracePeriod >= 0 {
		opts["gracePeriodSeconds"] = o.gracePeriod
	}
	if o.dryRun == dryRunServer {
		opts["dryRun"] = []string{"All"}
	}
	out, errOut := lockedWriters(streams.Out, streams.ErrOut)
	r := &podRemover{
		get: func(ctx context.Context, p objectRef) (Object, error) { return c.GetObject(ctx, p.path(), nil) },
		remove: func(ctx context.Context, p objectRef) error {
			_, err := c.Do(ctx, Request{Method: "DELETE", Path: p.path(), Body: mustJSON(opts)})
			return err
		},
		out: out, errOut: errOut, serverDryRun: o.dryRun == dryRunServer, timeout: o.timeout,
		retryDelay: 5 * time.Second, pollInterval: time.Second, after: time.After,
		skipWaitForDelete: o.skipWaitForDelete, now: o.now,
	}
	if evictionGV == "" {
		return r.deleteAll(ctx, victims)
	}
	r.remove = func(ctx context.Context, p objectRef) error {
		eviction := map[string]any{
			"apiVersion": evictionGV, "kind": "Eviction",
			"metadata":      map[string]any{"name": p.name, "namespace": p.namespace},
			"deleteOptions": opts,
		}
		_, err := c.Do(ctx, Request{Method: "POST", Path: p.path() + "/eviction", Body: mustJSON(eviction)})
		return err
	}
	return r.evictAll(ctx, victims)
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
