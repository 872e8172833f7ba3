package deployment

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/controller-manager/internal/controller"
	appsv1 "kubelab.io/proto/api/apps/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// This file is the pure core of the controller, ported from Kubernetes'
// pkg/controller/deployment/util/deployment_util.go: the rolling-update arithmetic, the
// replica-set bookkeeping annotations and the Deployment conditions. Nothing here does I/O
// or reads a clock, and nothing modifies an object it is given unless its doc says so.

// Annotations the controller keeps on ReplicaSets (and the revision on the Deployment).
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"

	lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
	rollbackToAnnotation  = "deprecated.deployment.rollback.to"

	// maxRevHistoryLengthInChars bounds the revision-history annotation.
	maxRevHistoryLengthInChars = 2000
)

// Strategy types.
const (
	RecreateStrategy      = "Recreate"
	RollingUpdateStrategy = "RollingUpdate"
)

// Condition types, reasons and messages, as Kubernetes writes them.
const (
	ConditionAvailable      = "Available"
	ConditionProgressing    = "Progressing"
	ConditionReplicaFailure = "ReplicaFailure"

	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet         = "FoundNewReplicaSet"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonDeploymentPaused           = "DeploymentPaused"
	ReasonDeploymentResumed          = "DeploymentResumed"
	ReasonReplicaSetCreateError      = "ReplicaSetCreateError"
	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"

	MessageMinimumAvailable   = "Deployment has minimum availability."
	MessageMinimumUnavailable = "Deployment does not have minimum availability."
	MessagePaused             = "Deployment is paused"
	MessageResumed            = "Deployment is resumed"
)

func replicas(rs *appsv1.ReplicaSet) int32 { return rs.GetSpec().GetReplicas() }

func desired(d *appsv1.Deployment) int32 { return d.GetSpec().GetReplicas() }

// ResolveFenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded down)
// against desired replicas. Both 0 is impossible (validation refuses it, but 25% of 1
// rounds down to 0), so maxUnavailable then becomes 1 to let the rollout progress.
func ResolveFenceposts(maxSurge, maxUnavailable *metav1.IntOrString, desired int32) (surge, unavailable int32, err error) {
	if surge, err = controller.ScaledValue(maxSurge, desired, true); err != nil {
		return 0, 0, err
	}
	if unavailable, err = controller.ScaledValue(maxUnavailable, desired, false); err != nil {
		return 0, 0, err
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable, nil
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.GetSpec().GetStrategy().GetType() == RollingUpdateStrategy
}

// MaxUnavailable is how many of the desired replicas may be unavailable during a rolling
// update (0 for Recreate and for 0 replicas), never more than the replicas. An invalid
// int-or-percent counts as 0, as upstream; validation keeps it from happening.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || desired(d) == 0 {
		return 0
	}
	ru := d.GetSpec().GetStrategy().GetRollingUpdate()
	_, unavailable, _ := ResolveFenceposts(ru.GetMaxSurge(), ru.GetMaxUnavailable(), desired(d))
	return min(unavailable, desired(d))
}

// MaxSurge is how many pods beyond the desired replicas may exist during a rolling update
// (0 for Recreate).
func MaxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	ru := d.GetSpec().GetStrategy().GetRollingUpdate()
	surge, _, _ := ResolveFenceposts(ru.GetMaxSurge(), ru.GetMaxUnavailable(), desired(d))
	return surge
}

// Sums over replica sets (nil entries are skipped).
func sumReplicas(rss []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSet) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(rs)
		}
	}
	return n
}

// specReplicas sums spec.replicas: the pods the replica sets are asked for.
func specReplicas(rss []*appsv1.ReplicaSet) int32 { return sumReplicas(rss, replicas) }

// podsUpperBound sums, per replica set, the larger of spec.replicas and status.replicas:
// a replica set scaled down still has its pods until its controller has deleted them and
// says so in its status. Upstream counts spec.replicas only, which lets the new replica
// set's pods be created before the old ones are gone, beyond maxSurge for a moment;
// kubelab keeps the bound at every observed moment.
func podsUpperBound(rss []*appsv1.ReplicaSet) int32 {
	return sumReplicas(rss, func(rs *appsv1.ReplicaSet) int32 { return max(replicas(rs), rs.GetStatus().GetReplicas()) })
}

// actualReplicas sums status.replicas: the pods that exist.
func actualReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sumReplicas(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.GetStatus().GetReplicas() })
}

func readyReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sumReplicas(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.GetStatus().GetReadyReplicas() })
}

func availableReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sumReplicas(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.GetStatus().GetAvailableReplicas() })
}

// NewRSNewReplicas is the size the new replica set may grow to now: for RollingUpdate as
// far as replicas+maxSurge pods in total allow (pods asked for or still existing, see
// podsUpperBound), never beyond the desired replicas; for
// Recreate the desired replicas.
func NewRSNewReplicas(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	switch t := d.GetSpec().GetStrategy().GetType(); t {
	case RollingUpdateStrategy:
		ru := d.GetSpec().GetStrategy().GetRollingUpdate()
		surge, err := controller.ScaledValue(ru.GetMaxSurge(), desired(d), true)
		if err != nil {
			return 0, err
		}
		current := podsUpperBound(allRSs)
		maxTotal := desired(d) + surge
		if current >= maxTotal {
			return replicas(newRS), nil // no room to surge
		}
		up := min(maxTotal-current, desired(d)-replicas(newRS))
		return replicas(newRS) + up, nil
	case RecreateStrategy:
		return desired(d), nil
	default:
		return 0, fmt.Errorf("deployment type %q isn't supported", t)
	}
}

// MaxScaledDown is how many pods the old replica sets may lose now in a rolling update:
// everything above replicas-maxUnavailable, minus the new replica set's pods that are not
// available yet (they may never become so, and must not eat the availability budget).
func MaxScaledDown(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	minAvailable := desired(d) - MaxUnavailable(d)
	newRSUnavailable := replicas(newRS) - newRS.GetStatus().GetAvailableReplicas()
	return specReplicas(allRSs) - minAvailable - newRSUnavailable
}

// CleanupUnhealthy plans scaling old replica sets down by their unavailable pods, oldest
// first, at most maxCleanup in total: those pods serve nothing, so removing them costs no
// availability. It returns the new sizes by name and the total removed.
func CleanupUnhealthy(oldRSs []*appsv1.ReplicaSet, maxCleanup int32) (map[string]int32, int32) {
	sizes := map[string]int32{}
	var total int32
	for _, rs := range sortedByCreation(oldRSs) {
		if total >= maxCleanup {
			break
		}
		unhealthy := replicas(rs) - rs.GetStatus().GetAvailableReplicas()
		if replicas(rs) == 0 || unhealthy <= 0 {
			continue
		}
		down := min(maxCleanup-total, unhealthy)
		sizes[rs.GetMetadata().GetName()] = replicas(rs) - down
		total += down
	}
	return sizes, total
}

// ScaleDownOld plans scaling old replica sets down, oldest first, by as many available pods
// as exceed replicas-maxUnavailable. A replica set counts at most spec.replicas available
// pods, since its status may still count pods being deleted. It returns the new sizes by name and the total removed.
func ScaleDownOld(d *appsv1.Deployment, allRSs, oldRSs []*appsv1.ReplicaSet) (map[string]int32, int32) {
	sizes := map[string]int32{}
	minAvailable := desired(d) - MaxUnavailable(d)
	available := sumReplicas(allRSs, func(rs *appsv1.ReplicaSet) int32 {
		return min(rs.GetStatus().GetAvailableReplicas(), replicas(rs))
	})
	if available <= minAvailable {
		return sizes, 0
	}
	budget := available - minAvailable
	var total int32
	for _, rs := range sortedByCreation(oldRSs) {
		if total >= budget {
			break
		}
		if replicas(rs) == 0 {
			continue
		}
		down := min(replicas(rs), budget-total)
		sizes[rs.GetMetadata().GetName()] = replicas(rs) - down
		total += down
	}
	return sizes, total
}

// ProportionalSizes spreads a change of the deployment's size over its active replica sets
// mid-rollout, as upstream's scale(): every replica set keeps its share of the
// replicas+maxSurge the deployment last had (its max-replicas annotation), and the
// rounding leftover goes to the largest one (the newest among equals when growing, the
// oldest when shrinking). It returns every active replica set's new size by name.
func ProportionalSizes(d *appsv1.Deployment, active []*appsv1.ReplicaSet) map[string]int32 {
	allowed := int32(0)
	if desired(d) > 0 {
		allowed = desired(d) + MaxSurge(d)
	}
	toAdd := allowed - specReplicas(active)
	rss := slices.Clone(active)
	switch {
	case toAdd > 0:
		slices.SortStableFunc(rss, bySizeThen(true))
	case toAdd < 0:
		slices.SortStableFunc(rss, bySizeThen(false))
	}
	sizes := make(map[string]int32, len(rss))
	var added int32
	for _, rs := range rss {
		p := proportion(rs, d, toAdd, added)
		sizes[rs.GetMetadata().GetName()] = replicas(rs) + p
		added += p
	}
	if len(rss) > 0 && toAdd != 0 {
		name := rss[0].GetMetadata().GetName()
		sizes[name] = max(sizes[name]+toAdd-added, 0)
	}
	return sizes
}

// proportion is upstream's GetProportion: rs's share of toAdd, bounded by what is left.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if replicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := fraction(rs, d)
	left := toAdd - added
	if toAdd > 0 {
		return min(fraction, left)
	}
	return max(fraction, left)
}

// fraction is how much rs grows or shrinks to keep its share of the deployment's new
// replicas+maxSurge.
func fraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if desired(d) == 0 {
		return -replicas(rs)
	}
	total := desired(d) + MaxSurge(d)
	annotated, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.GetStatus().GetReplicas()
	}
	if annotated == 0 {
		return 0
	}
	size := float64(replicas(rs)) * float64(total) / float64(annotated)
	return int32(math.Round(size)) - replicas(rs)
}

// bySizeThen orders larger replica sets first; among equals the newer first when newer is
// set, the older first otherwise.
func bySizeThen(newer bool) func(a, b *appsv1.ReplicaSet) int {
	return func(a, b *appsv1.ReplicaSet) int {
		if c := cmp.Compare(replicas(b), replicas(a)); c != 0 {
			return c
		}
		if newer {
			return compareCreation(b, a)
		}
		return compareCreation(a, b)
	}
}

// compareCreation orders by creationTimestamp, then name.
func compareCreation(a, b *appsv1.ReplicaSet) int {
	ta, tb := controller.TimeOf(a.GetMetadata().GetCreationTimestamp()), controller.TimeOf(b.GetMetadata().GetCreationTimestamp())
	if c := ta.Compare(tb); c != 0 {
		return c
	}
	return strings.Compare(a.GetMetadata().GetName(), b.GetMetadata().GetName())
}

// sortedByCreation returns rss oldest first, without modifying rss.
func sortedByCreation(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := slices.Clone(rss)
	slices.SortStableFunc(out, compareCreation)
	return out
}

// filterActive returns the non-nil replica sets with replicas > 0.
func filterActive(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// FindActiveOrLatest returns the only active replica set, or when none is active the new
// one or else the newest old one; nil when several are active (then scaling is
// proportional).
func FindActiveOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	active := filterActive(append(slices.Clone(oldRSs), newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		old := sortedByCreation(oldRSs)
		return old[len(old)-1]
	case 1:
		return active[0]
	default:
		return nil
	}
}

// IsSaturated reports whether rs is the deployment's full size, knows it (desired-replicas
// annotation) and has every pod available.
func IsSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	want, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	return ok && replicas(rs) == desired(d) && want == desired(d) && rs.GetStatus().GetAvailableReplicas() == desired(d)
}

func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.GetMetadata().GetAnnotations()[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// Revision is rs's revision annotation (0 when missing or malformed).
func Revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.GetMetadata().GetAnnotations()[RevisionAnnotation], 10, 64)
	return n
}

// MaxRevision is the largest revision among rss.
func MaxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs))
	}
	return m
}

// EqualIgnoreHash reports whether two pod templates are equal but for the
// pod-template-hash label: whether a replica set runs a deployment's template.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	strip := func(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
		t = proto.Clone(t).(*corev1.PodTemplateSpec)
		if t.GetMetadata() != nil {
			delete(t.Metadata.Labels, controller.DefaultPodTemplateHashLabel)
		} else {
			t.Metadata = &metav1.ObjectMeta{}
		}
		if t.Spec == nil {
			t.Spec = &corev1.PodSpec{}
		}
		return t
	}
	return proto.Equal(strip(a), strip(b))
}

// FindNewReplicaSet returns the oldest replica set whose template is the deployment's.
func FindNewReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	for _, rs := range sortedByCreation(rsList) {
		if EqualIgnoreHash(rs.GetSpec().GetTemplate(), d.GetSpec().GetTemplate()) {
			return rs
		}
	}
	return nil
}

// FindOldReplicaSets returns every replica set but the new one.
func FindOldReplicaSets(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	newRS := FindNewReplicaSet(d, rsList)
	var old []*appsv1.ReplicaSet
	for _, rs := range rsList {
		if newRS != nil && rs.GetMetadata().GetUid() == newRS.GetMetadata().GetUid() {
			continue
		}
		old = append(old, rs)
	}
	return old
}

// skipCopyAnnotation lists the deployment annotations a replica set does not inherit.
func skipCopyAnnotation(key string) bool {
	switch key {
	case lastAppliedAnnotation, RevisionAnnotation, RevisionHistoryAnnotation,
		DesiredReplicasAnnotation, MaxReplicasAnnotation, rollbackToAnnotation:
		return true
	}
	return false
}

// SetNewReplicaSetAnnotations brings the new replica set's annotations (rs, modified in
// place) up to date: the deployment's own annotations, the revision newRevision unless rs
// already has a later one, the previous revision appended to the revision history when rs
// comes back as the new one (a rollback), and for a replica set about to be created
// (!exists) the desired/max replica annotations. It reports whether anything changed.
func SetNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	meta := rs.GetMetadata()
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	changed := false
	for k, v := range d.GetMetadata().GetAnnotations() {
		if skipCopyAnnotation(k) || meta.Annotations[k] == v {
			continue
		}
		meta.Annotations[k] = v
		changed = true
	}
	oldRevision, had := meta.Annotations[RevisionAnnotation]
	oldRev, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return changed // a revision we cannot read is left alone, as upstream
		}
		oldRev = 0
	}
	if oldRev < newRevision {
		meta.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had {
			meta.Annotations[RevisionHistoryAnnotation] = appendRevisionHistory(meta.Annotations[RevisionHistoryAnnotation], oldRevision)
		}
	}
	if !exists && SetReplicasAnnotations(rs, desired(d), desired(d)+MaxSurge(d)) {
		changed = true
	}
	return changed
}

// appendRevisionHistory appends rev to a comma-separated history, dropping the oldest
// entries to stay within maxRevHistoryLengthInChars.
func appendRevisionHistory(history, rev string) string {
	if history == "" {
		return rev
	}
	revs := append(strings.Split(history, ","), rev)
	for len(revs) > 1 && len(strings.Join(revs, ",")) > maxRevHistoryLengthInChars {
		revs = revs[1:]
	}
	return strings.Join(revs, ",")
}

// ReplicasAnnotationsNeedUpdate reports whether rs's desired/max replica annotations differ
// from desiredReplicas and maxReplicas.
func ReplicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desiredReplicas, maxReplicas int32) bool {
	a := rs.GetMetadata().GetAnnotations()
	return a[DesiredReplicasAnnotation] != strconv.Itoa(int(desiredReplicas)) ||
		a[MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

// SetReplicasAnnotations sets rs's (modified in place) desired/max replica annotations and
// reports whether they changed.
func SetReplicasAnnotations(rs *appsv1.ReplicaSet, desiredReplicas, maxReplicas int32) bool {
	if !ReplicasAnnotationsNeedUpdate(rs, desiredReplicas, maxReplicas) {
		return false
	}
	if rs.Metadata == nil {
		rs.Metadata = &metav1.ObjectMeta{}
	}
	if rs.Metadata.Annotations == nil {
		rs.Metadata.Annotations = map[string]string{}
	}
	rs.Metadata.Annotations[DesiredReplicasAnnotation] = strconv.Itoa(int(desiredReplicas))
	rs.Metadata.Annotations[MaxReplicasAnnotation] = strconv.Itoa(int(maxReplicas))
	return true
}

// HasProgressDeadline reports whether the deployment has a progress deadline (MaxInt32
// means none).
func HasProgressDeadline(d *appsv1.Deployment) bool {
	p := d.GetSpec().ProgressDeadlineSeconds
	return p != nil && *p != math.MaxInt32
}

// GetCondition returns the status's condition of type typ, or nil.
func GetCondition(status *appsv1.DeploymentStatus, typ string) *appsv1.DeploymentCondition {
	for _, c := range status.GetConditions() {
		if c.GetType() == typ {
			return c
		}
	}
	return nil
}

// NewCondition returns a condition updated and transitioned at now.
func NewCondition(typ, status, reason, message string, now time.Time) *appsv1.DeploymentCondition {
	t := controller.NewTime(now)
	return &appsv1.DeploymentCondition{
		Type: typ, Status: status, Reason: reason, Message: message,
		LastUpdateTime: t, LastTransitionTime: proto.Clone(t).(*metav1.Time),
	}
}

// SetCondition puts c into status (modified in place), as upstream's
// SetDeploymentCondition: a condition with the same status and reason is left as it is
// (its message and times too), and lastTransitionTime is kept while the status does not
// change.
func SetCondition(status *appsv1.DeploymentStatus, c *appsv1.DeploymentCondition) {
	cur := GetCondition(status, c.GetType())
	if cur != nil && cur.GetStatus() == c.GetStatus() && cur.GetReason() == c.GetReason() {
		return
	}
	if cur != nil && cur.GetStatus() == c.GetStatus() {
		c.LastTransitionTime = cur.GetLastTransitionTime()
	}
	RemoveCondition(status, c.GetType())
	status.Conditions = append(status.Conditions, c)
}

// RemoveCondition drops the condition of type typ from status (modified in place).
func RemoveCondition(status *appsv1.DeploymentStatus, typ string) {
	status.Conditions = slices.DeleteFunc(status.Conditions, func(c *appsv1.DeploymentCondition) bool {
		return c.GetType() == typ
	})
}

// DeploymentComplete reports whether every desired replica is updated and available, no
// other pod exists, and the status describes the current generation.
func DeploymentComplete(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	n := desired(d)
	return s.GetUpdatedReplicas() == n && s.GetReplicas() == n && s.GetAvailableReplicas() == n &&
		s.GetObservedGeneration() >= d.GetMetadata().GetGeneration()
}

// DeploymentProgressing reports whether the new status shows progress over the
// deployment's current one: more updated, ready or available pods, or fewer old ones.
func DeploymentProgressing(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	old := d.GetStatus()
	oldOld := old.GetReplicas() - old.GetUpdatedReplicas()
	newOld := s.GetReplicas() - s.GetUpdatedReplicas()
	return s.GetUpdatedReplicas() > old.GetUpdatedReplicas() || newOld < oldOld ||
		s.GetReadyReplicas() > old.GetReadyReplicas() || s.GetAvailableReplicas() > old.GetAvailableReplicas()
}

// DeploymentTimedOut reports whether the Progressing condition of s was last updated more
// than progressDeadlineSeconds before now (a completed rollout never times out).
func DeploymentTimedOut(d *appsv1.Deployment, s *appsv1.DeploymentStatus, now time.Time) bool {
	if !HasProgressDeadline(d) {
		return false
	}
	c := GetCondition(s, ConditionProgressing)
	if c == nil {
		return false
	}
	switch c.GetReason() {
	case ReasonNewReplicaSetAvailable:
		return false
	case ReasonProgressDeadlineExceeded:
		return true
	}
	deadline := controller.TimeOf(c.GetLastUpdateTime()).Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(now)
}

// CalculateStatus is the deployment's status from its replica sets, keeping its
// conditions but for Available, which it recomputes: True when at least
// replicas-maxUnavailable pods are available.
func CalculateStatus(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) *appsv1.DeploymentStatus {
	available := availableReplicas(allRSs)
	s := &appsv1.DeploymentStatus{
		ObservedGeneration:  d.GetMetadata().GetGeneration(),
		Replicas:            actualReplicas(allRSs),
		UpdatedReplicas:     actualReplicas([]*appsv1.ReplicaSet{newRS}),
		ReadyReplicas:       readyReplicas(allRSs),
		AvailableReplicas:   available,
		UnavailableReplicas: max(specReplicas(allRSs)-available, 0),
		CollisionCount:      d.GetStatus().CollisionCount,
	}
	if tr := d.GetStatus().TerminatingReplicas; tr != nil {
		s.TerminatingReplicas = proto.Int32(*tr)
	}
	for _, c := range d.GetStatus().GetConditions() {
		s.Conditions = append(s.Conditions, proto.Clone(c).(*appsv1.DeploymentCondition))
	}
	if available >= desired(d)-MaxUnavailable(d) {
		SetCondition(s, NewCondition(ConditionAvailable, controller.ConditionTrue, ReasonMinimumReplicasAvailable, MessageMinimumAvailable, now))
	} else {
		SetCondition(s, NewCondition(ConditionAvailable, controller.ConditionFalse, ReasonMinimumReplicasUnavailable, MessageMinimumUnavailable, now))
	}
	return s
}

// RolloutStatus is CalculateStatus plus the Progressing condition of upstream's
// syncRolloutStatus: NewReplicaSetAvailable when the rollout is complete, ReplicaSetUpdated
// (lastUpdateTime refreshed) while it makes progress, ProgressDeadlineExceeded when it made
// none for progressDeadlineSeconds; no Progressing condition without a deadline.
func RolloutStatus(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) *appsv1.DeploymentStatus {
	s := CalculateStatus(d, allRSs, newRS, now)
	if !HasProgressDeadline(d) {
		RemoveCondition(s, ConditionProgressing)
		return s
	}
	cur := GetCondition(d.GetStatus(), ConditionProgressing)
	complete := s.GetReplicas() == s.GetUpdatedReplicas() && cur != nil && cur.GetReason() == ReasonNewReplicaSetAvailable
	if complete {
		return s
	}
	subject := fmt.Sprintf("Deployment %q", d.GetMetadata().GetName())
	if newRS != nil {
		subject = fmt.Sprintf("ReplicaSet %q", newRS.GetMetadata().GetName())
	}
	switch {
	case DeploymentComplete(d, s):
		SetCondition(s, NewCondition(ConditionProgressing, controller.ConditionTrue, ReasonNewReplicaSetAvailable, subject+" has successfully progressed.", now))
	case DeploymentProgressing(d, s):
		c := NewCondition(ConditionProgressing, controller.ConditionTrue, ReasonReplicaSetUpdated, subject+" is progressing.", now)
		if cur != nil {
			if cur.GetStatus() == controller.ConditionTrue {
				c.LastTransitionTime = cur.GetLastTransitionTime()
			}
			RemoveCondition(s, ConditionProgressing)
		}
		SetCondition(s, c)
	case DeploymentTimedOut(d, s, now):
		SetCondition(s, NewCondition(ConditionProgressing, controller.ConditionFalse, ReasonProgressDeadlineExceeded, subject+" has timed out progressing.", now))
	}
	return s
}

// RequeueAfter is when a rollout that has not completed nor timed out must be looked at
// again to notice it timed out: the Progressing condition's lastUpdateTime plus the
// deadline. ok is false when no check is needed.
func RequeueAfter(d *appsv1.Deployment, s *appsv1.DeploymentStatus, now time.Time) (after time.Duration, ok bool) {
	cur := GetCondition(d.GetStatus(), ConditionProgressing)
	if !HasProgressDeadline(d) || cur == nil || DeploymentComplete(d, s) || cur.GetReason() == ReasonProgressDeadlineExceeded {
		return 0, false
	}
	deadline := controller.TimeOf(cur.GetLastUpdateTime()).Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return max(deadline.Sub(now), 0), true
}

// ReplicaSetsToCleanUp picks the old replica sets to delete to keep at most limit of
// them: the lowest revisions first, and only those with no replicas, no pods, an observed
// spec and no deletion under way (so a replica set still scaling down is never deleted).
func ReplicaSetsToCleanUp(oldRSs []*appsv1.ReplicaSet, limit int32) []*appsv1.ReplicaSet {
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.GetMetadata().GetDeletionTimestamp() == nil {
			alive = append(alive, rs)
		}
	}
	diff := int32(len(alive)) - limit
	if diff <= 0 {
		return nil
	}
	slices.SortStableFunc(alive, func(a, b *appsv1.ReplicaSet) int {
		if c := cmp.Compare(Revision(a), Revision(b)); c != 0 {
			return c
		}
		return compareCreation(a, b)
	})
	var out []*appsv1.ReplicaSet
	for _, rs := range alive[:diff] {
		if rs.GetStatus().GetReplicas() != 0 || replicas(rs) != 0 ||
			rs.GetMetadata().GetGeneration() > rs.GetStatus().GetObservedGeneration() {
			continue
		}
		out = append(out, rs)
	}
	return out
}
