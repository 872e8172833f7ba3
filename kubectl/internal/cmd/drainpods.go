package cmd

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"
)

// deletedLongAgo is --skip-wait-for-delete-timeout's test, as kubectl's shouldSkipPod: the
// pod has been terminating for more than seconds (> 0) whole seconds. drain neither removes
// nor waits for such a pod: one stuck that long (its node down, say) would hold the drain up
// until --timeout and still not go.
func deletedLongAgo(pod Object, seconds int, now time.Time) bool {
	if seconds <= 0 {
		return false
	}
	ts, err := time.Parse(time.RFC3339, nestedString(pod, "metadata", "deletionTimestamp"))
	if err != nil {
		return false
	}
	return int(now.Sub(ts).Seconds()) > seconds
}

// podFilter is kubectl drain's verdict on one pod: delete it, skip it (with a warning) or
// refuse the drain.
func (o *drainFlags) podFilter(pod Object) (del bool, warning, refusal string) {
	if deletedLongAgo(pod, o.skipWaitForDelete, o.now()) {
		return false, "", ""
	}
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

// podsForDeletion lists node n's pods and sorts them as kubectl's GetPodsForDeletion does:
// the pods to remove, warnings about some of them ("reason: ns/a, ns/b"), and refusals (an
// aggregate, one error per reason) that stop the drain.
func (o *drainFlags) podsForDeletion(ctx context.Context, c *Client, pods Resource, n objectRef) (victims []drainPod, warnings []string, refusal error, err error) {
	q := url.Values{"fieldSelector": {"spec.nodeName=" + n.name}}
	if o.podSelector != "" {
		q.Set("labelSelector", o.podSelector)
	}
	list, err := c.GetObject(ctx, pods.Path("", ""), q)
	if err != nil {
		return nil, nil, nil, err
	}
	warned, refused := map[string][]string{}, map[string][]string{}
	var warnOrder, refOrder []string
	for _, it := range nestedSlice(list, "items") {
		pod, _ := it.(map[string]any)
		ns, name := nestedString(pod, "metadata", "namespace"), nestedString(pod, "metadata", "name")
		del, warn, refuse := o.podFilter(pod)
		if refuse != "" {
			if refused[refuse] == nil {
				refOrder = append(refOrder, refuse)
			}
			refused[refuse] = append(refused[refuse], ns+"/"+name)
			continue
		}
		if warn != "" {
			if warned[warn] == nil {
				warnOrder = append(warnOrder, warn)
			}
			warned[warn] = append(warned[warn], ns+"/"+name)
		}
		if del {
			victims = append(victims, drainPodOf(objectRef{res: pods, namespace: ns, name: name}, pod))
		}
	}
	for _, w := range warnOrder {
		warnings = append(warnings, w+": "+strings.Join(warned[w], ", "))
	}
	var refusals []error
	for _, r := range refOrder {
		refusals = append(refusals, errors.New(r+": "+strings.Join(refused[r], ", ")))
	}
	return victims, warnings, newAggregate(refusals), nil
}
