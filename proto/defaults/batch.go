package defaults

import (
	"google.golang.org/protobuf/proto"

	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// DefaultJobBackoffLimit is how many failed pods a Job tolerates when backoffLimit is unset.
const DefaultJobBackoffLimit = 6

// Job defaults a Job as batch/v1 does: with neither parallelism nor completions, both are 1
// (a single pod that must succeed); with only parallelism, completions stays unset (a work
// queue: any success completes the job). backoffLimit 6, completionMode NonIndexed, suspend
// false, the pod template's own defaults (restartPolicy Always, which validation then
// refuses: a Job's pods must end), and status True for a podFailurePolicy's condition patterns.
func Job(j *batchv1.Job) {
	if j.Spec == nil {
		j.Spec = &batchv1.JobSpec{}
	}
	spec := j.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = proto.Int32(1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = proto.Int32(1)
	}
	if spec.BackoffLimit == nil {
		spec.BackoffLimit = proto.Int32(DefaultJobBackoffLimit)
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = proto.String(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = proto.Bool(false)
	}
	if spec.Template == nil {
		spec.Template = &corev1.PodTemplateSpec{}
	}
	PodTemplateSpec(spec.Template)
	// A podFailurePolicy's condition pattern matches a True condition unless it says otherwise.
	for _, r := range spec.GetPodFailurePolicy().GetRules() {
		for _, c := range r.GetOnPodConditions() {
			if c.GetStatus() == "" {
				c.Status = "True"
			}
		}
	}
}

// JobOnCreate is what the apiserver does to a new Job after defaulting: unless
// manualSelector is true, it labels the pod template with the job's uid and name and selects
// on the uid, so no two jobs' selectors can overlap; then a Job without labels takes its
// template's, which Kubernetes' defaulting does whenever it next decodes the stored job.
// A label the user already set is left for validation to judge.
func JobOnCreate(j *batchv1.Job) {
	j.Status = &batchv1.JobStatus{}
	spec := j.Spec
	if !spec.GetManualSelector() {
		if spec.Template.Metadata == nil {
			spec.Template.Metadata = &metav1.ObjectMeta{}
		}
		tm := spec.Template.Metadata
		if tm.Labels == nil {
			tm.Labels = map[string]string{}
		}
		uid, name := j.GetMetadata().GetUid(), j.GetMetadata().GetName()
		for k, v := range map[string]string{batchv1.LabelLegacyJobName: name, batchv1.LabelJobName: name,
			batchv1.LabelLegacyControllerUID: uid, batchv1.LabelControllerUID: uid} {
			if _, ok := tm.Labels[k]; !ok {
				tm.Labels[k] = v
			}
		}
		if spec.Selector == nil {
			spec.Selector = &metav1.LabelSelector{}
		}
		if spec.Selector.MatchLabels == nil {
			spec.Selector.MatchLabels = map[string]string{}
		}
		if _, ok := spec.Selector.MatchLabels[batchv1.LabelControllerUID]; !ok {
			spec.Selector.MatchLabels[batchv1.LabelControllerUID] = uid
		}
	}
	if tl := spec.GetTemplate().GetMetadata().GetLabels(); len(tl) > 0 && len(j.GetMetadata().GetLabels()) == 0 {
		j.Metadata.Labels = make(map[string]string, len(tl))
		for k, v := range tl {
			j.Metadata.Labels[k] = v
		}
	}
}

// CronJob history limits when unset.
const (
	DefaultSuccessfulJobsHistoryLimit = 3
	DefaultFailedJobsHistoryLimit     = 1
)

// CronJob defaults a CronJob as batch/v1's SetDefaults_CronJob: concurrencyPolicy Allow,
// suspend false, history limits 3 and 1. The job template's pod template takes its own
// defaults, but the template's JobSpec does not: as in Kubernetes, parallelism, completions
// and backoffLimit stay unset there and are defaulted on each Job made from it.
func CronJob(cj *batchv1.CronJob) {
	if cj.Spec == nil {
		cj.Spec = &batchv1.CronJobSpec{}
	}
	spec := cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = proto.Bool(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = proto.Int32(DefaultSuccessfulJobsHistoryLimit)
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = proto.Int32(DefaultFailedJobsHistoryLimit)
	}
	if spec.JobTemplate == nil {
		spec.JobTemplate = &batchv1.JobTemplateSpec{}
	}
	if spec.JobTemplate.Spec == nil {
		spec.JobTemplate.Spec = &batchv1.JobSpec{}
	}
	if spec.JobTemplate.Spec.Template == nil {
		spec.JobTemplate.Spec.Template = &corev1.PodTemplateSpec{}
	}
	PodTemplateSpec(spec.JobTemplate.Spec.Template)
}
