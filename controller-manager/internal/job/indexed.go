package job

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"kubelab.io/controller-manager/internal/controller"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
)

// An Indexed job (completionMode Indexed) gives each pod a completion index from 0 to
// completions-1, runs one active pod per index not yet succeeded, and completes when every
// index has a succeeded pod; the succeeded indexes are status.completedIndexes.

// unknownIndex is the index of a pod without a valid completion index annotation.
const unknownIndex = -1

// maxGeneratedNameLength is the longest generateName the apiserver extends with its five
// random characters into a valid name (upstream's names.MaxGeneratedNameLength).
const maxGeneratedNameLength = 63 - 5

func isIndexed(job *batchv1.Job) bool {
	return job.GetSpec().GetCompletionMode() == batchv1.IndexedCompletion
}

// completionIndex is pod's completion index, from its annotation, or unknownIndex.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.GetMetadata().GetAnnotations()[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return unknownIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return unknownIndex
	}
	return i
}

// validIndex reports whether pod has an index the job runs: known and below completions.
func validIndex(job *batchv1.Job, pod *corev1.Pod) bool {
	i := completionIndex(pod)
	return i != unknownIndex && i < int(job.GetSpec().GetCompletions())
}

// interval is a closed range of indexes.
type interval struct{ first, last int }

// intervals is a set of indexes as sorted, disjoint, non-adjacent ranges: the shape of
// status.completedIndexes ("1,3-5,7").
type intervals []interval

// parseIndexes reads completedIndexes, keeping only the indexes below completions; what
// cannot be read is skipped, as upstream's parseIndexesFromString.
func parseIndexes(s string, completions int) intervals {
	var idx []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := first; i <= last && i < completions; i++ {
			idx = append(idx, i)
		}
	}
	return intervals(nil).with(idx)
}

// with returns the set with indexes added.
func (s intervals) with(indexes []int) intervals {
	all := slices.Clone(indexes)
	for _, iv := range s {
		for i := iv.first; i <= iv.last; i++ {
			all = append(all, i)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	var out intervals
	for _, i := range all {
		if n := len(out); n > 0 && out[n-1].last+1 == i {
			out[n-1].last = i
			continue
		}
		out = append(out, interval{i, i})
	}
	return out
}

func (s intervals) has(i int) bool {
	for _, iv := range s {
		if i >= iv.first && i <= iv.last {
			return true
		}
	}
	return false
}

func (s intervals) total() int {
	n := 0
	for _, iv := range s {
		n += iv.last - iv.first + 1
	}
	return n
}

// String is the completedIndexes form: "1,3-5,7"; two adjacent indexes are a range too.
func (s intervals) String() string {
	parts := make([]string, len(s))
	for i, iv := range s {
		if iv.first == iv.last {
			parts[i] = strconv.Itoa(iv.first)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", iv.first, iv.last)
		}
	}
	return strings.Join(parts, ",")
}

// succeededIndexes are the indexes status.completedIndexes holds (prev) and those plus the
// indexes of succeeded pods not yet counted (they still have the tracking finalizer).
func succeededIndexes(job *batchv1.Job, pods []*corev1.Pod) (prev, all intervals) {
	completions := int(job.GetSpec().GetCompletions())
	prev = parseIndexes(job.GetStatus().GetCompletedIndexes(), completions)
	var idx []int
	for _, p := range pods {
		if p.GetStatus().GetPhase() == controller.PodSucceeded && validIndex(job, p) && hasTrackingFinalizer(p) {
			idx = append(idx, completionIndex(p))
		}
	}
	return prev, prev.with(idx)
}

// pendingIndexes are the first count indexes that neither succeeded nor have an active pod.
func pendingIndexes(active []*corev1.Pod, succeeded intervals, count, completions int) []int {
	held := map[int]bool{}
	for _, p := range active {
		held[completionIndex(p)] = true
	}
	var out []int
	for i := 0; i < completions && len(out) < count; i++ {
		if !succeeded.has(i) && !held[i] {
			out = append(out, i)
		}
	}
	return out
}

// podsForRemoval picks the active pods to delete, as upstream's activePodsForRemoval: for an
// Indexed job first the pods without a valid index and all but the most advanced pod of an
// index held twice, then, to reach rmAtLeast, the pods that did least.
func podsForRemoval(job *batchv1.Job, active []*corev1.Pod, rmAtLeast int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if isIndexed(job) {
		byIndex := map[int][]*corev1.Pod{}
		for _, p := range active {
			if !validIndex(job, p) {
				rm = append(rm, p)
				continue
			}
			byIndex[completionIndex(p)] = append(byIndex[completionIndex(p)], p)
		}
		for _, i := range slices.Sorted(maps.Keys(byIndex)) {
			ps := byIndex[i]
			controller.SortForDeletion(ps) // the ones that did least first
			rm = append(rm, ps[:len(ps)-1]...)
			left = append(left, ps[len(ps)-1])
		}
	} else {
		left = slices.Clone(active)
	}
	if len(rm) < rmAtLeast {
		controller.SortForDeletion(left)
		rm = append(rm, left[:rmAtLeast-len(rm)]...)
	}
	return rm
}

// setCompletionIndex makes pod the pod of index i of job, as upstream's job controller:
// the index annotation and label, hostname JOBNAME-INDEX (with the template's subdomain, a
// headless service gives each index a stable DNS name), generateName JOBNAME-INDEX-, and
// JOB_COMPLETION_INDEX in every container from the annotation through the downward API.
func setCompletionIndex(pod *corev1.Pod, job *batchv1.Job, i int) {
	m := pod.Metadata
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	ix := strconv.Itoa(i)
	m.Annotations[batchv1.JobCompletionIndexAnnotation] = ix
	m.Labels[batchv1.JobCompletionIndexAnnotation] = ix
	name := job.GetMetadata().GetName()
	pod.Spec.Hostname = name + "-" + ix
	suffix := "-" + ix + "-"
	if len(name)+len(suffix) > maxGeneratedNameLength {
		name = name[:maxGeneratedNameLength-len(suffix)]
	}
	m.GenerateName = name + suffix
	for _, cs := range [][]*corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			addIndexEnv(c)
		}
	}
}

// addIndexEnv adds JOB_COMPLETION_INDEX to c unless it sets one itself.
func addIndexEnv(c *corev1.Container) {
	for _, e := range c.GetEnv() {
		if e.GetName() == batchv1.JobCompletionIndexEnv {
			return
		}
	}
	c.Env = append(c.Env, &corev1.EnvVar{
		Name: batchv1.JobCompletionIndexEnv,
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation),
		}},
	})
}
