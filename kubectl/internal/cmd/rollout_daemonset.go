package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// A DaemonSet's rollout, as kubectl's DaemonSetStatusViewer, DaemonSetHistoryViewer and
// DaemonSetRollbacker see it: its history is the ControllerRevisions it controls, each
// holding the strategic merge patch that puts a template back.

// daemonSetStatus is kubectl's DaemonSetStatusViewer: a progress message and whether the
// rollout is done.
func daemonSetStatus(ds Object) (string, bool, error) {
	if t := nestedString(ds, "spec", "updateStrategy", "type"); t != "RollingUpdate" {
		// Upstream names the StatefulSet constant here, whose value is the same.
		return "", true, errors.New("rollout status is only available for RollingUpdate strategy type")
	}
	name := nestedString(ds, "metadata", "name")
	gen, _ := nestedInt(ds, "metadata", "generation")
	observed, _ := nestedInt(ds, "status", "observedGeneration")
	if gen > observed {
		return "Waiting for daemon set spec update to be observed...\n", false, nil
	}
	desired, _ := nestedInt(ds, "status", "desiredNumberScheduled")
	updated, _ := nestedInt(ds, "status", "updatedNumberScheduled")
	available, _ := nestedInt(ds, "status", "numberAvailable")
	switch {
	case updated < desired:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...\n", name, updated, desired), false, nil
	case available < desired:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...\n", name, available, desired), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out\n", name), true, nil
}

// daemonSetRevisions are the ControllerRevisions whose controller is ds (by uid, as
// metav1.IsControlledBy), by revision number.
func daemonSetRevisions(ctx context.Context, f *Factory, c *Client, ds Object) (map[int64]Object, error) {
	disc, _ := f.Discovery()
	res, err := disc.Resolve(ctx, "controllerrevisions.apps")
	if err != nil {
		return nil, err
	}
	list, err := c.GetObject(ctx, res.Path(nestedString(ds, "metadata", "namespace"), ""), url.Values{})
	if err != nil {
		return nil, err
	}
	uid := nestedString(ds, "metadata", "uid")
	out := map[int64]Object{}
	for _, it := range nestedSlice(list, "items") {
		for _, r := range nestedSlice(it, "metadata", "ownerReferences") {
			if ctl, _ := nested(r, "controller").(bool); ctl && nestedString(r, "uid") == uid {
				rev, _ := nestedInt(it, "revision")
				out[rev], _ = it.(map[string]any)
			}
		}
	}
	return out, nil
}

// revisionTemplate is the pod template a DaemonSet revision restores: its patch's
// spec.template, which replaces the DaemonSet's whole.
func revisionTemplate(rev Object) map[string]any {
	tmpl, _ := deepCopy(nestedMap(rev, "data", "spec", "template")).(map[string]any)
	delete(tmpl, "$patch")
	return tmpl
}

// daemonSetHistory prints ds's revisions, or the template of one (--revision).
func daemonSetHistory(ctx context.Context, f *Factory, c *Client, streams Streams, ref objectRef, ds Object, revision int64) error {
	revs, err := daemonSetRevisions(ctx, f, c, ds)
	if err != nil {
		return err
	}
	if len(revs) == 0 {
		fmt.Fprintf(streams.Out, "%s \nNo rollout history found.\n", ref)
		return nil
	}
	if revision > 0 {
		rev, ok := revs[revision]
		if !ok {
			return errors.New("unable to find the specified revision")
		}
		printRevisionTemplate(streams, ref, revision, revisionTemplate(rev))
		return nil
	}
	printRevisionTable(streams, ref, revs, func(rev Object) string {
		return nestedString(rev, "metadata", "annotations", "kubernetes.io/change-cause")
	})
	return nil
}

// daemonSetUndo is kubectl's DaemonSetRollbacker: it patches ds with the data of revision
// toRevision (0: the one before the newest), unless that is its template already.
func daemonSetUndo(ctx context.Context, f *Factory, c *Client, streams Streams, ref objectRef, ds Object, toRevision int64) error {
	if toRevision < 0 {
		return fmt.Errorf("unable to find specified revision %d in history", toRevision)
	}
	revs, err := daemonSetRevisions(ctx, f, c, ds)
	if err != nil {
		return err
	}
	target := toRevision
	if target == 0 {
		nums := revisions(revs)
		if len(nums) <= 1 {
			return errors.New("no last revision to roll back to")
		}
		target = nums[len(nums)-2]
	}
	rev, ok := revs[target]
	if !ok {
		return fmt.Errorf("unable to find specified revision %d in history", toRevision)
	}
	if jsonEqual(revisionTemplate(rev), nestedMap(ds, "spec", "template")) {
		fmt.Fprintf(streams.Out, "%s skipped rollback (current template already matches revision %d)\n", ref, toRevision)
		return nil
	}
	if _, err := c.Do(ctx, Request{Method: "PATCH", Path: ref.path(), Body: mustJSON(nested(rev, "data")), ContentType: strategicPatch}); err != nil {
		return fmt.Errorf("failed restoring revision %d: %w", target, err)
	}
	fmt.Fprintf(streams.Out, "%s rolled back\n", ref)
	return nil
}
