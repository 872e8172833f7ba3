package cmd

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/printers"
)

// Describers of the workloads beside Deployments, as kubectl 1.32 prints them: DaemonSets,
// StatefulSets, Jobs and CronJobs.

// podsStatus is kubectl's getPodStatusForController, worded as its "Pods Status" line: the
// pods owner's selector matches that owner controls (by uid), counted by phase.
func podsStatus(ctx context.Context, c *Client, d *Discovery, owner Object) (string, error) {
	q := url.Values{}
	if sel := selectorQuery(nestedMap(owner, "spec", "selector")); sel != "" {
		q.Set("labelSelector", sel)
	}
	pods, err := listIn(ctx, c, d, "pods", nestedString(owner, "metadata", "namespace"), q)
	if err != nil {
		return "", err
	}
	counts := map[string]int{}
	uid := nestedString(owner, "metadata", "uid")
	for _, p := range pods {
		for _, r := range nestedSlice(p, "metadata", "ownerReferences") {
			if nestedBool(r, "controller") && nestedString(r, "uid") == uid {
				counts[nestedString(p, "status", "phase")]++
			}
		}
	}
	return fmt.Sprintf("%d Running / %d Waiting / %d Succeeded / %d Failed", counts["Running"], counts["Pending"], counts["Succeeded"], counts["Failed"]), nil
}

// describeDaemonSet prints a DaemonSet as kubectl 1.32 does, which shows no namespace.
func describeDaemonSet(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) error {
	pods, err := podsStatus(ctx, c, d, obj)
	if err != nil {
		return err
	}
	w.line(0, "Name:\t%s", nestedString(obj, "metadata", "name"))
	w.line(0, "Selector:\t%s", selectorQuery(nestedMap(obj, "spec", "selector")))
	w.line(0, "Node-Selector:\t%s", orNone(labelsString(nestedStringMap(obj, "spec", "template", "spec", "nodeSelector"))))
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	for _, n := range []struct{ title, field string }{
		{"Desired Number of Nodes Scheduled", "desiredNumberScheduled"},
		{"Current Number of Nodes Scheduled", "currentNumberScheduled"},
		{"Number of Nodes Scheduled with Up-to-date Pods", "updatedNumberScheduled"},
		{"Number of Nodes Scheduled with Available Pods", "numberAvailable"},
		{"Number of Nodes Misscheduled", "numberMisscheduled"},
	} {
		w.line(0, "%s: %d", n.title, num(obj, "status", n.field))
	}
	w.line(0, "Pods Status:\t%s", pods)
	describeTemplateTo(w, nestedMap(obj, "spec", "template"))
	return nil
}

// describeStatefulSet prints a StatefulSet as kubectl does, its volumeClaimTemplates last.
func describeStatefulSet(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) error {
	pods, err := podsStatus(ctx, c, d, obj)
	if err != nil {
		return err
	}
	metaLines(w, obj, true)
	w.line(0, "CreationTimestamp:\t%s", creation(obj))
	w.line(0, "Selector:\t%s", selectorQuery(nestedMap(obj, "spec", "selector")))
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	w.line(0, "Replicas:\t%d desired | %d total", num(obj, "spec", "replicas"), num(obj, "status", "replicas"))
	w.line(0, "Update Strategy:\t%s", nestedString(obj, "spec", "updateStrategy", "type"))
	if ru := nestedMap(obj, "spec", "updateStrategy", "rollingUpdate"); ru != nil {
		if p, ok := nestedInt(ru, "partition"); ok {
			w.line(1, "Partition:\t%d", p)
			if mu, ok := ru["maxUnavailable"]; ok {
				w.line(1, "MaxUnavailable:\t%v", mu)
			}
		}
	}
	w.line(0, "Pods Status:\t%s", pods)
	describeTemplateTo(w, nestedMap(obj, "spec", "template"))
	describeVolumeClaimTemplates(w, nestedSlice(obj, "spec", "volumeClaimTemplates"))
	return nil
}

// describeVolumeClaimTemplates prints a set's claim templates as kubectl's
// describeVolumeClaimTemplates: name, class (the beta annotation first, as
// GetPersistentVolumeClaimClass), labels and annotations as k=v, the storage request
// (<default> without one) and the access modes as Go prints a slice.
func describeVolumeClaimTemplates(w *prefixWriter, templates []any) {
	if len(templates) == 0 {
		w.line(0, "Volume Claims:\t<none>")
		return
	}
	w.line(0, "Volume Claims:")
	for _, t := range templates {
		pvc, _ := t.(map[string]any)
		w.line(1, "Name:\t%s", nestedString(pvc, "metadata", "name"))
		class := nestedString(pvc, "spec", "storageClassName")
		if a, ok := nestedStringMap(pvc, "metadata", "annotations")[corev1.BetaStorageClassAnnotation]; ok {
			class = a
		}
		w.line(1, "StorageClass:\t%s", class)
		mapLines(w, 1, "Labels", nestedStringMap(pvc, "metadata", "labels"), "=")
		mapLines(w, 1, "Annotations", nestedStringMap(pvc, "metadata", "annotations"), "=")
		capacity := "<default>"
		if q, ok := nestedMap(pvc, "spec", "resources", "requests")["storage"]; ok {
			capacity = fmt.Sprint(q)
		}
		w.line(1, "Capacity:\t%s", capacity)
		var modes []string
		for _, m := range nestedSlice(pvc, "spec", "accessModes") {
			modes = append(modes, fmt.Sprint(m))
		}
		w.line(1, "Access Modes:\t[%s]", strings.Join(modes, " "))
	}
}

// describeJob prints a Job as kubectl does.
func describeJob(w *prefixWriter, obj Object) {
	controlledHead(w, obj, selectorQuery(nestedMap(obj, "spec", "selector")))
	spec := nestedMap(obj, "spec")
	if n, ok := nestedInt(spec, "parallelism"); ok {
		w.line(0, "Parallelism:\t%d", n)
	}
	w.line(0, "Completions:\t%s", intOrUnset(spec, "completions"))
	if m := nestedString(spec, "completionMode"); m != "" {
		w.line(0, "Completion Mode:\t%s", m)
	}
	if s, ok := spec["suspend"].(bool); ok {
		w.line(0, "Suspend:\t%v", s)
	}
	if n, ok := nestedInt(spec, "backoffLimit"); ok {
		w.line(0, "Backoff Limit:\t%d", n)
	}
	if n, ok := nestedInt(spec, "ttlSecondsAfterFinished"); ok {
		w.line(0, "TTL Seconds After Finished:\t%d", n)
	}
	start, done := nestedString(obj, "status", "startTime"), nestedString(obj, "status", "completionTime")
	if start != "" {
		w.line(0, "Start Time:\t%s", timestamp(parseTime(start)))
	}
	if done != "" {
		w.line(0, "Completed At:\t%s", timestamp(parseTime(done)))
	}
	if start != "" && done != "" {
		w.line(0, "Duration:\t%s", humanDuration(parseTime(done).Sub(parseTime(start))))
	}
	if n, ok := nestedInt(spec, "activeDeadlineSeconds"); ok {
		w.line(0, "Active Deadline Seconds:\t%ds", n)
	}
	active, succeeded, failed := num(obj, "status", "active"), num(obj, "status", "succeeded"), num(obj, "status", "failed")
	if ready, ok := nestedInt(obj, "status", "ready"); ok {
		w.line(0, "Pods Statuses:\t%d Active (%d Ready) / %d Succeeded / %d Failed", active, ready, succeeded, failed)
	} else {
		w.line(0, "Pods Statuses:\t%d Active / %d Succeeded / %d Failed", active, succeeded, failed)
	}
	if nestedString(spec, "completionMode") == "Indexed" {
		w.line(0, "Completed Indexes:\t%s", capIndexes(nestedString(obj, "status", "completedIndexes"), 50))
	}
	describeTemplateTo(w, nestedMap(spec, "template"))
}

// capIndexes is kubectl's capIndexesListOrNone: the list cut at the first comma past limit.
func capIndexes(indexes string, limit int) string {
	if indexes == "" {
		return "<none>"
	}
	if limit >= len(indexes) {
		return indexes
	}
	i := strings.IndexByte(indexes[limit:], ',')
	if i < 0 {
		return indexes
	}
	return indexes[:limit+i+1] + "..."
}

// describeCronJob prints a CronJob as kubectl does: its schedule and policies, its job
// template, then when it last ran and which of its jobs are running.
func describeCronJob(w *prefixWriter, obj Object) {
	metaLines(w, obj, true)
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	spec := nestedMap(obj, "spec")
	w.line(0, "Schedule:\t%s", nestedString(spec, "schedule"))
	w.line(0, "Concurrency Policy:\t%s", nestedString(spec, "concurrencyPolicy"))
	suspend := "<unset>"
	if s, ok := spec["suspend"].(bool); ok {
		suspend = printBool(s)
	}
	w.line(0, "Suspend:\t%s", suspend)
	w.line(0, "Successful Job History Limit:\t%s", intOrUnset(spec, "successfulJobsHistoryLimit"))
	w.line(0, "Failed Job History Limit:\t%s", intOrUnset(spec, "failedJobsHistoryLimit"))
	if n, ok := nestedInt(spec, "startingDeadlineSeconds"); ok {
		w.line(0, "Starting Deadline Seconds:\t%ds", n)
	} else {
		w.line(0, "Starting Deadline Seconds:\t<unset>")
	}
	// describeJobTemplate
	jobSpec := nestedMap(spec, "jobTemplate", "spec")
	if sel := nestedMap(jobSpec, "selector"); sel != nil {
		w.line(0, "Selector:\t%s", selectorQuery(sel))
	} else {
		w.line(0, "Selector:\t<unset>")
	}
	w.line(0, "Parallelism:\t%s", intOrUnset(jobSpec, "parallelism"))
	w.line(0, "Completions:\t%s", intOrUnset(jobSpec, "completions"))
	if n, ok := nestedInt(jobSpec, "activeDeadlineSeconds"); ok {
		w.line(0, "Active Deadline Seconds:\t%ds", n)
	}
	describeTemplateTo(w, nestedMap(jobSpec, "template"))
	if t := nestedString(obj, "status", "lastScheduleTime"); t != "" {
		w.line(0, "Last Schedule Time:\t%s", timestamp(parseTime(t)))
	} else {
		w.line(0, "Last Schedule Time:\t<unset>")
	}
	var active []string
	for _, j := range nestedSlice(obj, "status", "active") {
		active = append(active, nestedString(j, "name"))
	}
	w.line(0, "Active Jobs:\t%s", orNone(strings.Join(active, ", ")))
}

// intOrUnset is the integer at key in m, or <unset> when m has none.
func intOrUnset(m map[string]any, key string) string {
	if n, ok := nestedInt(m, key); ok {
		return itoa(n)
	}
	return "<unset>"
}

// humanDuration is apimachinery's duration.HumanDuration, what describe uses for spans.
func humanDuration(d time.Duration) string { return printers.HumanDuration(d) }
