package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

// NewCmdRollout is `kubectl rollout`.
func NewCmdRollout(f *Factory, streams Streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "rollout SUBCOMMAND",
		Short: "Manage the rollout of a resource",
		Long:  "Manage the rollout of one or many resources.\n\n Valid resource types include:\n\n  *  deployments\n  *  daemonsets\n  *  statefulsets",
		Example: `  # Rollback to the previous deployment
  kubectl rollout undo deployment/abc

  # Check the rollout status of a deployment
  kubectl rollout status deployment/abc`,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newCmdRolloutStatus(f, streams), newCmdRolloutHistory(f, streams), newCmdRolloutUndo(f, streams),
		newCmdRolloutRestart(f, streams), newCmdRolloutPauseResume(f, streams, true), newCmdRolloutPauseResume(f, streams, false))
	return c
}

// rolloutRefs resolves the arguments of a rollout subcommand to objects of kinds (the
// ones the subcommand supports); unsupported words the refusal of any other.
func rolloutRefs(ctx context.Context, f *Factory, streams Streams, sel *selection, args []string, unsupported func(objectRef) error, kinds ...string) ([]objectRef, error) {
	refs, err := sel.resolve(ctx, f, streams.In, args)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		if !slices.Contains(kinds, r.res.Kind) {
			return nil, unsupported(r)
		}
	}
	return refs, nil
}

// rolloutKinds are the kinds status, history, undo and restart support.
var rolloutKinds = []string{"Deployment", "DaemonSet", "StatefulSet"}

// The refusals of a kind, each as kubectl words it: the status viewer, history viewer and
// rollbacker factories name its GroupKind (the last two as Go prints the struct), the
// restarter, pauser and resumer the object.

func noStatusViewer(r objectRef) error {
	return fmt.Errorf("no status viewer has been implemented for %s", groupKind(r.res))
}

func noHistoryViewer(r objectRef) error {
	return fmt.Errorf("error retrieving history for %q, no visitor method exists for {%s %s}", groupKind(r.res), r.res.Group, r.res.Kind)
}

func noRollbacker(r objectRef) error {
	return fmt.Errorf("error retrieving rollbacker for %q, no visitor method exists for {%s %s}", groupKind(r.res), r.res.Group, r.res.Kind)
}

func notSupported(doing string) func(objectRef) error {
	return func(r objectRef) error {
		return fmt.Errorf("%s %q %s is not supported", r.res.GroupResource(), r.name, doing)
	}
}

// groupKind is "ConfigMap" or "ReplicaSet.apps", as schema.GroupKind prints.
func groupKind(r Resource) string {
	if r.Group == "" {
		return r.Kind
	}
	return r.Kind + "." + r.Group
}

// deploymentStatus is kubectl's DeploymentStatusViewer: a progress message and whether the
// rollout is done.
func deploymentStatus(d Object) (string, bool, error) {
	name := nestedString(d, "metadata", "name")
	gen, _ := nestedInt(d, "metadata", "generation")
	observed, _ := nestedInt(d, "status", "observedGeneration")
	if gen > observed {
		return "Waiting for deployment spec update to be observed...\n", false, nil
	}
	for _, c := range nestedSlice(d, "status", "conditions") {
		if nestedString(c, "type") == "Progressing" && nestedString(c, "reason") == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", name)
		}
	}
	replicas, ok := nestedInt(d, "spec", "replicas")
	if !ok {
		replicas = 1
	}
	updated, _ := nestedInt(d, "status", "updatedReplicas")
	total, _ := nestedInt(d, "status", "replicas")
	available, _ := nestedInt(d, "status", "availableReplicas")
	switch {
	case updated < replicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...\n", name, updated, replicas), false, nil
	case total > updated:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...\n", name, total-updated), false, nil
	case available < updated:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...\n", name, available, updated), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out\n", name), true, nil
}

func newCmdRolloutStatus(f *Factory, streams Streams) *cobra.Command {
	sel := &selection{}
	var watch bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "status (TYPE NAME | TYPE/NAME) [flags]",
		Short: "Show the status of the rollout",
		Long:  "Show the status of the rollout.\n\n By default 'rollout status' will watch the status of the latest rollout until it's done. If you don't want to wait for the rollout to finish then you can use --watch=false.",
		Example: `  # Watch the rollout status of a deployment
  kubectl rollout status deployment/nginx

  # Watch the rollout status of a daemon set
  kubectl rollout status daemonset/fluentd`,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			refs, err := rolloutRefs(ctx, f, streams, sel, args, noStatusViewer, rolloutKinds...)
			if err != nil {
				return err
			}
			cl, _ := f.Client()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			for _, ref := range refs {
				last := ""
				for {
					d, err := cl.GetObject(ctx, ref.path(), nil)
					if err != nil {
						if ctx.Err() != nil {
							return errors.New("timed out waiting for the condition")
						}
						return err
					}
					msg, done, err := statusViewers[ref.res.Kind](d)
					if err != nil {
						return err
					}
					if msg != last {
						fmt.Fprint(streams.Out, msg)
						last = msg
					}
					if done || !watch {
						break
					}
					select {
					case <-ctx.Done():
						return errors.New("timed out waiting for the condition")
					case <-time.After(500 * time.Millisecond):
					}
				}
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&watch, "watch", "w", true, "Watch the status of the rollout until it's done.")
	c.Flags().DurationVar(&timeout, "timeout", 0, "The length of time to wait before ending watch, zero means never. Any other values should contain a corresponding time unit (e.g. 1s, 2m, 3h).")
	c.Flags().StringSliceVarP(&sel.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to get from a server.")
	c.Flags().StringVarP(&sel.selector, "selector", "l", "", "Selector (label query) to filter on.")
	return c
}

// ownedReplicaSets are the ReplicaSets whose controller is deployment d, by revision.
func ownedReplicaSets(ctx context.Context, f *Factory, c *Client, d Object) (map[int64]Object, error) {
	disc, _ := f.Discovery()
	rs, err := disc.Resolve(ctx, "replicasets.apps")
	if err != nil {
		return nil, err
	}
	list, err := c.GetObject(ctx, rs.Path(nestedString(d, "metadata", "namespace"), ""), url.Values{})
	if err != nil {
		return nil, err
	}
	out := map[int64]Object{}
	for _, it := range nestedSlice(list, "items") {
		owned := false
		for _, r := range nestedSlice(it, "metadata", "ownerReferences") {
			ctl, _ := nested(r, "controller").(bool)
			if ctl && nestedString(r, "kind") == "Deployment" && nestedString(r, "name") == nestedString(d, "metadata", "name") {
				// By name, not uid: the garbage collector removes ReplicaSets of a deleted
				// Deployment of the same name.
				owned = true
			}
		}
		if !owned {
			continue
		}
		rev, err := strconv.ParseInt(nestedString(it, "metadata", "annotations", revisionAnnotation), 10, 64)
		if err != nil {
			continue
		}
		out[rev], _ = it.(map[string]any)
	}
	return out, nil
}

// printRevisionTable is the overview `rollout history` prints: each revision with the
// change-cause its object records, in a tabwriter with kubectl's tabbedString settings (two
// spaces between columns, not the three of `get`).
func printRevisionTable(streams Streams, ref objectRef, revs map[int64]Object, cause func(Object) string) {
	fmt.Fprintf(streams.Out, "%s \n", ref)
	tw := tabwriter.NewWriter(streams.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "REVISION\tCHANGE-CAUSE\n")
	for _, r := range revisions(revs) {
		c := cause(revs[r])
		if c == "" {
			c = "<none>"
		}
		fmt.Fprintf(tw, "%d\t%s\n", r, c)
	}
	_ = tw.Flush()
	fmt.Fprintln(streams.Out)
}

// printRevisionTemplate is what `rollout history --revision=N` prints: the template as
// describe shows it, but with its tabs left as they are and an empty line after, as kubectl's
// printTemplate writes it (a prefix writer on a plain buffer, no tabwriter).
func printRevisionTemplate(streams Streams, ref objectRef, revision int64, tmpl map[string]any) {
	fmt.Fprintf(streams.Out, "%s with revision #%d\n", ref, revision)
	describeTemplateTo(&prefixWriter{w: streams.Out}, tmpl)
	fmt.Fprintln(streams.Out)
}

func revisions(m map[int64]Object) []int64 {
	var revs []int64
	for r := range m {
		revs = append(revs, r)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	return revs
}

func newCmdRolloutHistory(f *Factory, streams Streams) *cobra.Command {
	sel := &selection{}
	var revision int64
	c := &cobra.Command{
		Use:   "history (TYPE NAME | TYPE/NAME) [flags]",
		Short: "View rollout history",
		Example: `  # View the rollout history of a deployment
  kubectl rollout history deployment/abc

  # View the details of deployment revision 3
  kubectl rollout history deployment/abc --revision=3`,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			refs, err := rolloutRefs(ctx, f, streams, sel, args, noHistoryViewer, rolloutKinds...)
			if err != nil {
				return err
			}
			cl, _ := f.Client()
			for _, ref := range refs {
				d, err := cl.GetObject(ctx, ref.path(), nil)
				if err != nil {
					return err
				}
				if ref.res.Kind != "Deployment" {
					if err := revisionHistory(ctx, f, cl, streams, ref, d, revision); err != nil {
						return err
					}
					continue
				}
				rss, err := ownedReplicaSets(ctx, f, cl, d)
				if err != nil {
					return err
				}
				if revision > 0 {
					rs, ok := rss[revision]
					if !ok {
						return fmt.Errorf("unable to find the specified revision")
					}
					printRevisionTemplate(streams, ref, revision, nestedMap(rs, "spec", "template"))
					continue
				}
				printRevisionTable(streams, ref, rss, func(rs Object) string {
					return nestedString(rs, "metadata", "annotations", "kubernetes.io/change-cause")
				})
			}
			return nil
		},
	}
	c.Flags().Int64Var(&revision, "revision", 0, "See the details, including podTemplate of the revision specified")
	c.Flags().StringSliceVarP(&sel.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to get from a server.")
	return c
}

func newCmdRolloutUndo(f *Factory, streams Streams) *cobra.Command {
	sel := &selection{}
	var toRevision int64
	c := &cobra.Command{
		Use:   "undo (TYPE NAME | TYPE/NAME) [flags]",
		Short: "Undo a previous rollout",
		Long:  "Roll back to a previous rollout: the pod template becomes that of the revision (a deployment's ReplicaSet, a daemon set's or stateful set's ControllerRevision).",
		Example: `  # Roll back to the previous deployment
  kubectl rollout undo deployment/abc

  # Roll back to deployment revision 3
  kubectl rollout undo deployment/abc --to-revision=3`,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			refs, err := rolloutRefs(ctx, f, streams, sel, args, noRollbacker, rolloutKinds...)
			if err != nil {
				return err
			}
			cl, _ := f.Client()
			for _, ref := range refs {
				d, err := cl.GetObject(ctx, ref.path(), nil)
				if err != nil {
					return err
				}
				if ref.res.Kind != "Deployment" {
					if err := revisionUndo(ctx, f, cl, streams, ref, d, toRevision); err != nil {
						return err
					}
					continue
				}
				if paused, _ := nested(d, "spec", "paused").(bool); paused {
					return fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again")
				}
				rss, err := ownedReplicaSets(ctx, f, cl, d)
				if err != nil {
					return err
				}
				revs := revisions(rss)
				target := toRevision
				if target == 0 {
					if len(revs) < 2 {
						return fmt.Errorf("no rollout history found for %s", ref)
					}
					target = revs[len(revs)-2]
				}
				rs, ok := rss[target]
				if !ok {
					return fmt.Errorf("unable to find specified revision %d in history", target)
				}
				tmpl := deepCopy(nestedMap(rs, "spec", "template")).(map[string]any)
				if labels := nestedMap(tmpl, "metadata", "labels"); labels != nil {
					delete(labels, "pod-template-hash")
				}
				if jsonEqual(tmpl, nestedMap(d, "spec", "template")) {
					fmt.Fprintf(streams.Out, "%s skipped rollback (current template already matches revision %d)\n", ref, target)
					continue
				}
				patch := []map[string]any{{"op": "replace", "path": "/spec/template", "value": tmpl}}
				if _, err := cl.Do(ctx, Request{Method: "PATCH", Path: ref.path(), Body: mustJSON(patch), ContentType: jsonPatchType}); err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, "%s rolled back\n", ref)
			}
			return nil
		},
	}
	c.Flags().Int64Var(&toRevision, "to-revision", 0, "The revision to rollback to. Default to 0 (last revision).")
	c.Flags().StringSliceVarP(&sel.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to get from a server.")
	return c
}

// nowRFC3339 is when restarts say they happened.
var nowRFC3339 = func() string { return time.Now().Format(time.RFC3339) }

func newCmdRolloutRestart(f *Factory, streams Streams) *cobra.Command {
	sel := &selection{}
	c := &cobra.Command{
		Use:   "restart RESOURCE",
		Short: "Restart a resource",
		Long:  "Restart a resource.\n\n        Resource rollout will be restarted.",
		Example: `  # Restart a deployment
  kubectl rollout restart deployment/nginx

  # Restart a daemon set
  kubectl rollout restart daemonset/abc`,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			refs, err := rolloutRefs(ctx, f, streams, sel, args, notSupported("restarting"), rolloutKinds...)
			if err != nil {
				return err
			}
			cl, _ := f.Client()
			for _, ref := range refs {
				patch := map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
					"annotations": map[string]any{"kubectl.kubernetes.io/restartedAt": nowRFC3339()}}}}}
				if _, err := cl.Do(ctx, Request{Method: "PATCH", Path: ref.path(), Body: mustJSON(patch), ContentType: strategicPatch}); err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, "%s restarted\n", ref)
			}
			return nil
		},
	}
	c.Flags().StringSliceVarP(&sel.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to get from a server.")
	c.Flags().StringVarP(&sel.selector, "selector", "l", "", "Selector (label query) to filter on.")
	return c
}

func newCmdRolloutPauseResume(f *Factory, streams Streams, pause bool) *cobra.Command {
	sel := &selection{}
	verb, past := "resume", "resumed"
	if pause {
		verb, past = "pause", "paused"
	}
	c := &cobra.Command{
		Use:     verb + " RESOURCE",
		Short:   "Mark the provided resource as " + past,
		Example: fmt.Sprintf("  # Mark the nginx deployment as %s\n  kubectl rollout %s deployment/nginx", past, verb),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			refs, err := rolloutRefs(ctx, f, streams, sel, args, notSupported(verb[:len(verb)-1]+"ing"), "Deployment")
			if err != nil {
				return err
			}
			cl, _ := f.Client()
			for _, ref := range refs {
				d, err := cl.GetObject(ctx, ref.path(), nil)
				if err != nil {
					return err
				}
				if cur, _ := nested(d, "spec", "paused").(bool); cur == pause {
					if pause {
						return fmt.Errorf("%s is already paused", ref)
					}
					return fmt.Errorf("%s is not paused", ref)
				}
				var v any = true
				if !pause {
					v = nil
				}
				patch := map[string]any{"spec": map[string]any{"paused": v}}
				if _, err := cl.Do(ctx, Request{Method: "PATCH", Path: ref.path(), Body: mustJSON(patch), ContentType: strategicPatch}); err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, "%s %s\n", ref, past)
			}
			return nil
		},
	}
	c.Flags().StringSliceVarP(&sel.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to get from a server.")
	return c
}
