package batchv1

// Labels the apiserver puts on a Job's pod template when it generates the selector, and the
// job controller finds its pods by. The unprefixed ones are kept because Kubernetes still
// sets them for clients that select on them.
const (
	LabelControllerUID       = "batch.kubernetes.io/controller-uid"
	LabelJobName             = "batch.kubernetes.io/job-name"
	LabelLegacyControllerUID = "controller-uid"
	LabelLegacyJobName       = "job-name"
)

// Completion modes.
const (
	NonIndexedCompletion = "NonIndexed"
	IndexedCompletion    = "Indexed"
)

// JobTrackingFinalizer is on every pod the job controller creates: the pod is not removed
// until the controller has counted it in its job's status (uncountedTerminatedPods first,
// then succeeded or failed), so a finished pod is counted exactly once.
const JobTrackingFinalizer = "batch.kubernetes.io/job-tracking"

// JobCompletionIndexAnnotation (and the label of the same name) carries an Indexed job's
// pod's completion index; JOB_COMPLETION_INDEX reads it through the downward API.
const (
	JobCompletionIndexAnnotation = "batch.kubernetes.io/job-completion-index"
	JobCompletionIndexEnv        = "JOB_COMPLETION_INDEX"
)

// Job condition types, and the reasons the job controller gives them.
const (
	JobComplete           = "Complete"
	JobFailed             = "Failed"
	JobSuspended          = "Suspended"
	JobFailureTarget      = "FailureTarget"
	JobSuccessCriteriaMet = "SuccessCriteriaMet"

	JobReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	JobReasonDeadlineExceeded     = "DeadlineExceeded"
	JobReasonCompletionsReached   = "CompletionsReached"
	// JobReasonPodFailurePolicy is the reason of a FailureTarget (then Failed) condition set
	// because a failed pod matched a FailJob rule of the job's podFailurePolicy.
	JobReasonPodFailurePolicy = "PodFailurePolicy"
)

// podFailurePolicy rule actions and exit code operators.
const (
	PodFailurePolicyActionFailJob   = "FailJob"
	PodFailurePolicyActionFailIndex = "FailIndex"
	PodFailurePolicyActionIgnore    = "Ignore"
	PodFailurePolicyActionCount     = "Count"

	PodFailurePolicyOnExitCodesOpIn    = "In"
	PodFailurePolicyOnExitCodesOpNotIn = "NotIn"
)

// CronJob concurrency policies.
const (
	AllowConcurrent   = "Allow"
	ForbidConcurrent  = "Forbid"
	ReplaceConcurrent = "Replace"
)

// CronJobScheduledTimestampAnnotation is put on each Job a CronJob makes: its scheduled time
// in RFC 3339, in the CronJob's time zone.
const CronJobScheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"
