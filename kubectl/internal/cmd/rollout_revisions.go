package cmd

import (
	"context"
	"errors"
	"fmt"
)

// The history of a DaemonSet or a StatefulSet, as kubectl's DaemonSetHistoryViewer and
// StatefulSetHistoryViewer, and their rollbackers, see it: the ControllerRevisions the object
// controls, each holding the strategic merge patch that puts a template back. Both kinds keep
// their history the same way (the controllers share the helpers that write it), so one copy
// of this code serves both.

// controllerRevisions are the ControllerRevisions whose controller is owner (by uid, as
// metav1.IsControlledBy), by revision number.
func controllerRevisions(ctx context.Context, f *Factory, c *Client, owner Object) (map[int64]Object, error) {
	disc, _ := f.Discovery()
	items, err := listIn(ctx, c, disc, "controllerrevisions.apps", nestedString(owner, "metadata", "namespace"), nil)
	if err != nil {
		return nil, err
	}
	uid := nestedString(owner, "metadata", "uid")
	out := map[int64]Object{}
	for _, it := range items {
		for _, r := range nestedSlice(it, "metadata", "ownerReferences") {
			if ctl, _ := nested(r, "controller").(bool); ctl && nestedString(r, "uid") == uid {
				rev, _ := nestedInt(it, "revision")
				out[rev], _ = it.(map[string]any)
			}
		}
	}
	return out, nil
}

// revisionTemplate is the pod template a revision restores: its patch's spec.template,
// which replaces the object's whole.
func revisionTemplate(rev Object) map[string]any {
	tmpl, _ := deepCopy(nestedMap(rev, "data", "spec", "template")).(map[string]any)
	delete(tmpl, "$patch")
	return tmpl
}

// revisionHistory prints obj's revisions, or the template of one (--revision), as
// kubectl's printHistory.
func revisionHistory(ctx context.Context, f *Factory, c *Client, streams Streams, ref objectRef, obj Object, revision int64) error {
	revs, err := controllerRevisions(ctx, f, c, obj)
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

// revisionUndo is kubectl's DaemonSetRollbacker and StatefulSetRollbacker, which agree: it
// patches obj with the data of revision toRevision (0: the one before the newest), unless
// that is its template already.
func revisionUndo(ctx context.Context, f *Factory, c *Client, streams Streams, ref objectRef, obj Object, toRevision int64) error {
	if toRevision < 0 {
		return fmt.Errorf("unable to find specified revision %d in history", toRevision)
	}
	revs, err := controllerRevisions(ctx, f, c, obj)
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
	if jsonEqual(revisionTemplate(rev), nestedMap(obj, "spec", "template")) {
		fmt.Fprintf(streams.Out, "%s skipped rollback (current template already matches revision %d)\n", ref, toRevision)
		return nil
	}
	if _, err := c.Do(ctx, Request{Method: "PATCH", Path: ref.path(), Body: mustJSON(nested(rev, "data")), ContentType: strategicPatch}); err != nil {
		return fmt.Errorf("failed restoring revision %d: %w", target, err)
	}
	fmt.Fprintf(streams.Out, "%s rolled back\n", ref)
	return nil
}
