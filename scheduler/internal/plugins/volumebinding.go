package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/resource"
	"kubelab.io/proto/scheduling"
	"kubelab.io/scheduler/internal/framework"
)

// VolumeBinding is kube-scheduler's plugin of that name (with its binder's
// FindPodVolumes, AssumePodVolumes and BindPodVolumes folded in). A pod's bound claims
// must have PVs whose node affinity fits the node; its unbound claims of a
// WaitForFirstConsumer class are decided per node — an available PV that fits, or
// provisioning when the class has a provisioner whose allowedTopologies fit — and, once
// a node is chosen, assumed (so two pods never take one PV), then written in PreBind (the
// PV's claimRef, or the claim's selected-node annotation) and waited for until every
// claim of the pod is Bound (the binder and the provisioner of the controller-manager
// finish the job). Unbound claims of an Immediate class are the binder's alone: the pod
// waits for them.
const VolumeBindingName = "VolumeBinding"

// Upstream's annotations and messages.
const (
	noProvisioner = "kubernetes.io/no-provisioner"

	errUnboundImmediate = "pod has unbound immediate PersistentVolumeClaims"
	errNodeConflict     = "node(s) had volume node affinity conflict"
	errBindConflict     = "node(s) didn't find available persistent volumes to bind"
	errPVNotExist       = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"

	// bindTimeout is how long PreBind waits for the pod's claims to bind (upstream's
	// bindTimeoutSeconds default).
	bindTimeout = 600 * time.Second
)

// VolumeBinding is the plugin. Its assume cache is shared by every pod the profile
// schedules.
type VolumeBinding struct {
	v       framework.VolumeAccess
	timeout time.Duration
	log     *slog.Logger

	mu sync.Mutex
	// assumed maps a PV to the claim (namespace/name) a reserved pod will bind it to,
	// until that pod's PreBind ends or it is unreserved.
	assumed map[string]string
}

// NewVolumeBinding is the plugin's factory.
func NewVolumeBinding(h framework.Handle) (framework.Plugin, error) {
	return &VolumeBinding{v: h.Volumes, timeout: bindTimeout, log: slog.Default().With("plugin", VolumeBindingName), assumed: map[string]string{}}, nil
}

func (*VolumeBinding) Name() string { return VolumeBindingName }

// podVolumes is what PreFilter found for a pod, and what Filter decided per node.
type podVolumes struct {
	// claims are all the pod's claims; bound the PVs of those already bound; pending the
	// unbound claims of WaitForFirstConsumer classes.
	claims  []*corev1.PersistentVolumeClaim
	bound   []*corev1.PersistentVolume
	pending []*corev1.PersistentVolumeClaim

	mu sync.Mutex
	// decisions by node name, from Filter (which runs concurrently).
	decisions map[string]*nodeDecision
	// chosen is Reserve's: the decision for the chosen node.
	chosen *nodeDecision
}

// nodeDecision is how a node would satisfy the pending claims: a PV for some (by claim
// key), provisioning for the others.
type nodeDecision struct {
	node      *corev1.Node
	bind      map[string]string // claim key → PV name
	provision []string          // claim keys
	// annotatedFrom is PreBind's: the resourceVersion of each claim it annotated, as it
	// was before the write. The cache holds that version until the write reaches it.
	annotatedFrom map[string]string
}

const volumeBindingStateKey = "VolumeBinding"

func claimKey(ns, name string) string { return ns + "/" + name }

// podClaim is a claim one of a pod's volumes stands for.
type podClaim struct {
	name string
	// ephemeral: an ephemeral volume's claim, <pod>-<volume>, which the ephemeral-volume
	// controller makes and which counts only if the pod controls it.
	ephemeral bool
}

// podClaims are the claims of pod's persistentVolumeClaim and ephemeral volumes.
func podClaims(pod *corev1.Pod) []podClaim {
	var out []podClaim
	for _, v := range pod.GetSpec().GetVolumes() {
		if c := v.GetPersistentVolumeClaim(); c != nil {
			out = append(out, podClaim{name: c.GetClaimName()})
		} else if v.GetEphemeral() != nil {
			out = append(out, podClaim{name: corev1.EphemeralClaimName(pod, v), ephemeral: true})
		}
	}
	return out
}

// claimClass is pvc's StorageClass (nil for the empty class, bound only statically).
func (p *VolumeBinding) claimClass(pvc *corev1.PersistentVolumeClaim) (*storagev1.StorageClass, error) {
	name := pvc.GetSpec().GetStorageClassName()
	if name == "" || p.v.StorageClass == nil {
		return nil, nil
	}
	sc, err := p.v.StorageClass(name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("storageclass.storage.k8s.io %q not found", name)
	}
	return sc, err
}

func waitForFirstConsumer(sc *storagev1.StorageClass) bool {
	return sc != nil && sc.GetVolumeBindingMode() == "WaitForFirstConsumer"
}

// PreFilter reads the pod's claims: missing, being deleted, unbound and Immediate, or
// (an ephemeral volume's) not the pod's own, are unresolvable here; a pod with no claims
// skips the plugin.
func (p *VolumeBinding) PreFilter(_ context.Context, state *framework.CycleState, pod *corev1.Pod) *framework.Status {
	claims := podClaims(pod)
	if len(claims) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	if p.v.Claim == nil || p.v.PV == nil {
		return framework.AsStatus(errors.New("the scheduler reads no PersistentVolumeClaims"))
	}
	ns := pod.GetMetadata().GetNamespace()
	pv := &podVolumes{decisions: map[string]*nodeDecision{}}
	immediate := false
	for _, pc := range claims {
		name := pc.name
		pvc, err := p.v.Claim(ns, name)
		if apierrors.IsNotFound(err) {
			// Normal for a moment after an ephemeral volume's pod is created; the claim's
			// arrival requeues the pod.
			if pc.ephemeral {
				return framework.NewStatus(framework.UnschedulableAndUnresolvable,
					fmt.Sprintf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", name))
			}
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", name))
		}
		if err != nil {
			return framework.AsStatus(err)
		}
		if pvc.GetMetadata().GetDeletionTimestamp() != nil {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		if pc.ephemeral {
			if err := corev1.EphemeralClaimIsForPod(pod, pvc); err != nil {
				return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
			}
		}
		pv.claims = append(pv.claims, pvc)
		if vn := pvc.GetSpec().GetVolumeName(); vn != "" {
			vol, err := p.v.PV(vn)
			if apierrors.IsNotFound(err) {
				return framework.NewStatus(framework.UnschedulableAndUnresolvable, errPVNotExist)
			}
			if err != nil {
				return framework.AsStatus(err)
			}
			pv.bound = append(pv.bound, vol)
			continue
		}
		sc, err := p.claimClass(pvc)
		if err != nil {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
		}
		if !waitForFirstConsumer(sc) {
			immediate = true
			continue
		}
		pv.pending = append(pv.pending, pvc)
	}
	if immediate {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, errUnboundImmediate)
	}
	state.Write(volumeBindingStateKey, pv)
	return nil
}

func readPodVolumes(state *framework.CycleState) (*podVolumes, bool) {
	v, ok := state.Read(volumeBindingStateKey)
	if !ok {
		return nil, false
	}
	pv, ok := v.(*podVolumes)
	return pv, ok
}

// pvFitsNode: the PV's required node affinity (if any) matches node.
func pvFitsNode(pv *corev1.PersistentVolume, node *corev1.Node) bool {
	req := pv.GetSpec().GetNodeAffinity().GetRequired()
	if req == nil {
		return true
	}
	return slices.ContainsFunc(req.GetNodeSelectorTerms(), func(t *corev1.NodeSelectorTerm) bool {
		return scheduling.NodeSelectorTermMatches(t, node)
	})
}

// Filter checks the bound claims' PVs against node, then finds how node would satisfy
// the pending claims.
func (p *VolumeBinding) Filter(_ context.Context, state *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	pv, ok := readPodVolumes(state)
	if !ok {
		return nil
	}
	node := ni.Node()
	for _, vol := range pv.bound {
		if !pvFitsNode(vol, node) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, errNodeConflict)
		}
	}
	if len(pv.pending) == 0 {
		return nil
	}
	d, ok := p.findPodVolumes(pv.pending, node)
	if !ok {
		return framework.NewStatus(framework.Unschedulable, errBindConflict)
	}
	pv.mu.Lock()
	pv.decisions[node.GetMetadata().GetName()] = d
	pv.mu.Unlock()
	return nil
}

// findPodVolumes decides, for node, a PV or provisioning for each pending claim (upstream's
// FindPodVolumes): the smallest available PV that matches the claim and fits the node,
// not taken by another claim (assumed, or chosen for an earlier claim of this pod);
// otherwise provisioning, when the class has a provisioner and its allowedTopologies fit.
// A claim whose provisioning already started (selected-node set) fits that node alone:
// moving it would let a volume be made for one node while the pod runs on another.
func (p *VolumeBinding) findPodVolumes(pending []*corev1.PersistentVolumeClaim, node *corev1.Node) (*nodeDecision, bool) {
	var pvs []*corev1.PersistentVolume
	if p.v.PVs != nil {
		pvs, _ = p.v.PVs()
	}
	p.mu.Lock()
	assumed := make(map[string]string, len(p.assumed))
	for k, v := range p.assumed {
		assumed[k] = v
	}
	p.mu.Unlock()
	d := &nodeDecision{node: node, bind: map[string]string{}}
	taken := map[string]bool{}
	for _, pvc := range pending {
		key := claimKey(pvc.GetMetadata().GetNamespace(), pvc.GetMetadata().GetName())
		if sel := pvc.GetMetadata().GetAnnotations()[corev1.SelectedNodeAnnotation]; sel != "" {
			if sel != node.GetMetadata().GetName() {
				return nil, false
			}
			if !p.canProvision(pvc, node) {
				return nil, false
			}
			d.provision = append(d.provision, key)
			continue
		}
		var best *corev1.PersistentVolume
		var bestSize resource.Quantity
		for _, vol := range pvs {
			name := vol.GetMetadata().GetName()
			if taken[name] || (assumed[name] != "" && assumed[name] != key) || !pvMatchesClaim(vol, pvc) || !pvFitsNode(vol, node) {
				continue
			}
			size := pvSize(vol)
			if best == nil || size.Cmp(bestSize) < 0 {
				best, bestSize = vol, size
			}
		}
		if best != nil {
			taken[best.GetMetadata().GetName()] = true
			d.bind[key] = best.GetMetadata().GetName()
			continue
		}
		if !p.canProvision(pvc, node) {
			return nil, false
		}
		d.provision = append(d.provision, key)
	}
	return d, true
}

// canProvision: pvc's class has a provisioner whose allowedTopologies fit node.
func (p *VolumeBinding) canProvision(pvc *corev1.PersistentVolumeClaim, node *corev1.Node) bool {
	sc, _ := p.claimClass(pvc)
	return sc != nil && sc.GetProvisioner() != "" && sc.GetProvisioner() != noProvisioner && topologyFits(sc.GetAllowedTopologies(), node)
}

func pvSize(pv *corev1.PersistentVolume) resource.Quantity {
	q, _ := resource.FromProto(pv.GetSpec().GetCapacity()["storage"])
	return q
}

// pvMatchesClaim is upstream's volume matching for a delayed-binding claim: available (no
// claimRef, or pre-bound to this claim), not being deleted, of the claim's class, volume
// mode and access modes, large enough, and selected by the claim's selector.
func pvMatchesClaim(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) bool {
	spec, cspec := pv.GetSpec(), pvc.GetSpec()
	if pv.GetMetadata().GetDeletionTimestamp() != nil {
		return false
	}
	if ph := pv.GetStatus().GetPhase(); ph == "Released" || ph == "Failed" {
		return false
	}
	if ref := spec.GetClaimRef(); ref != nil {
		if ref.GetNamespace() != pvc.GetMetadata().GetNamespace() || ref.GetName() != pvc.GetMetadata().GetName() ||
			ref.GetUid() != "" && ref.GetUid() != pvc.GetMetadata().GetUid() {
			return false
		}
	}
	if spec.GetStorageClassName() != cspec.GetStorageClassName() {
		return false
	}
	mode := func(m *string) string {
		if m == nil || *m == "" {
			return "Filesystem"
		}
		return *m
	}
	if mode(spec.VolumeMode) != mode(cspec.VolumeMode) {
		return false
	}
	for _, m := range cspec.GetAccessModes() {
		if !slices.Contains(spec.GetAccessModes(), m) {
			return false
		}
	}
	if req := cspec.GetResources().GetRequests()["storage"]; req != nil {
		want, err := resource.FromProto(req)
		if err != nil || pvSize(pv).Cmp(want) < 0 {
			return false
		}
	}
	if sel := cspec.GetSelector(); sel != nil {
		s, err := labels.FromLabelSelector(sel)
		if err != nil || !s.Matches(pv.GetMetadata().GetLabels()) {
			return false
		}
	}
	return true
}

// topologyFits: node's labels satisfy one of the class's allowedTopologies terms (every
// expression of a term: the label has one of the values); no terms allow every node.
func topologyFits(terms []*corev1.TopologySelectorTerm, node *corev1.Node) bool {
	if len(terms) == 0 {
		return true
	}
	nl := node.GetMetadata().GetLabels()
	return slices.ContainsFunc(terms, func(t *corev1.TopologySelectorTerm) bool {
		for _, e := range t.GetMatchLabelExpressions() {
			v, ok := nl[e.GetKey()]
			if !ok || !slices.Contains(e.GetValues(), v) {
				return false
			}
		}
		return true
	})
}

// Reserve assumes Filter's decision for the chosen node: its PVs are the pod's until
// PreBind ends or Unreserve (upstream's AssumePodVolumes). A PV another pod assumed since
// Filter ran fails the pod back to the queue.
func (p *VolumeBinding) Reserve(_ context.Context, state *framework.CycleState, pod *corev1.Pod, nodeName string) *framework.Status {
	pv, ok := readPodVolumes(state)
	if !ok || len(pv.pending) == 0 {
		return nil
	}
	pv.mu.Lock()
	d := pv.decisions[nodeName]
	pv.mu.Unlock()
	if d == nil {
		return framework.AsStatus(fmt.Errorf("no volume decision for node %q", nodeName))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, name := range d.bind {
		if c := p.assumed[name]; c != "" && c != key {
			return framework.NewStatus(framework.Unschedulable, errBindConflict)
		}
	}
	for key, name := range d.bind {
		p.assumed[name] = key
	}
	pv.mu.Lock()
	pv.chosen = d
	pv.mu.Unlock()
	return nil
}

// Unreserve forgets what Reserve assumed.
func (p *VolumeBinding) Unreserve(_ context.Context, state *framework.CycleState, _ *corev1.Pod, _ string) {
	pv, ok := readPodVolumes(state)
	if !ok {
		return
	}
	pv.mu.Lock()
	d := pv.chosen
	pv.chosen = nil
	pv.mu.Unlock()
	p.forget(d)
}

func (p *VolumeBinding) forget(d *nodeDecision) {
	if d == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, name := range d.bind {
		if p.assumed[name] == key {
			delete(p.assumed, name)
		}
	}
}

// PreBind writes the decision (upstream's BindPodVolumes: a PV's claimRef, a claim's
// selected-node annotation), then waits until every claim of the pod is Bound.
func (p *VolumeBinding) PreBind(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodeName string) *framework.Status {
	pv, ok := readPodVolumes(state)
	if !ok {
		return nil
	}
	pv.mu.Lock()
	d := pv.chosen
	pv.mu.Unlock()
	if d != nil {
		if err := p.bindAPIUpdate(ctx, pv, d, nodeName); err != nil {
			return framework.AsStatus(fmt.Errorf("binding volumes: %w", err))
		}
		p.log.Info("volumes bound or provisioning for pod", "pod", framework.NamespacedName(pod), "node", nodeName,
			"bind", len(d.bind), "provision", len(d.provision))
	}
	if err := p.waitBound(ctx, pod, d); err != nil {
		return framework.AsStatus(fmt.Errorf("binding volumes: %w", err))
	}
	return nil
}

func (p *VolumeBinding) bindAPIUpdate(ctx context.Context, pv *podVolumes, d *nodeDecision, nodeName string) error {
	claims := map[string]*corev1.PersistentVolumeClaim{}
	for _, c := range pv.pending {
		claims[claimKey(c.GetMetadata().GetNamespace(), c.GetMetadata().GetName())] = c
	}
	for key, name := range d.bind {
		if p.v.UpdatePV == nil {
			return errors.New("the scheduler writes no PersistentVolumes")
		}
		vol, err := p.v.PV(name)
		if err != nil {
			return err
		}
		c := claims[key]
		// The PV may have been bound to another claim since Filter (the binder acts on
		// claims that name it): writing the claimRef over it would give one PV to two
		// claims. Upstream writes the PV as Filter saw it and gets a conflict; the cache
		// holds at least that version, so checking it again here is as safe.
		if !pvMatchesClaim(vol, c) {
			return fmt.Errorf("persistentvolume %q is no longer available for claim %s", name, key)
		}
		upd := proto.Clone(vol).(*corev1.PersistentVolume)
		upd.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", ApiVersion: "v1",
			Namespace: c.GetMetadata().GetNamespace(), Name: c.GetMetadata().GetName(), Uid: c.GetMetadata().GetUid(),
			ResourceVersion: c.GetMetadata().GetResourceVersion()}
		if err := p.v.UpdatePV(ctx, upd); err != nil {
			return err
		}
	}
	for _, key := range d.provision {
		if p.v.UpdateClaim == nil {
			return errors.New("the scheduler writes no PersistentVolumeClaims")
		}
		c := claims[key]
		cur, err := p.v.Claim(c.GetMetadata().GetNamespace(), c.GetMetadata().GetName())
		if err != nil {
			return err
		}
		if cur.GetMetadata().GetAnnotations()[corev1.SelectedNodeAnnotation] == nodeName {
			continue
		}
		upd := proto.Clone(cur).(*corev1.PersistentVolumeClaim)
		if upd.Metadata.Annotations == nil {
			upd.Metadata.Annotations = map[string]string{}
		}
		upd.Metadata.Annotations[corev1.SelectedNodeAnnotation] = nodeName
		if err := p.v.UpdateClaim(ctx, upd); err != nil {
			return err
		}
		if d.annotatedFrom == nil {
			d.annotatedFrom = map[string]string{}
		}
		d.annotatedFrom[key] = cur.GetMetadata().GetResourceVersion()
	}
	return nil
}

// waitBound waits, watching the caches, until every claim of pod is Bound (upstream's
// checkBindings), then forgets d. A claim whose provisioning was given up (its
// selected-node annotation removed or changed) or gone fails at once, as does one of d
// bound to a PV whose node affinity does not fit d's node: the pod must not run where
// its volume is not.
func (p *VolumeBinding) waitBound(ctx context.Context, pod *corev1.Pod, d *nodeDecision) error {
	defer p.forget(d)
	if p.v.Changed == nil {
		return errors.New("the scheduler watches no PersistentVolumeClaims")
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ns := pod.GetMetadata().GetNamespace()
	for {
		changed := p.v.Changed() // before the check: a change after it is not missed
		done := true
		for _, pc := range podClaims(pod) {
			name := pc.name
			c, err := p.v.Claim(ns, name)
			if err != nil {
				return err
			}
			key := claimKey(ns, name)
			decided := d != nil && (slices.Contains(d.provision, key) || d.bind[key] != "")
			if vn := c.GetSpec().GetVolumeName(); c.GetStatus().GetPhase() == "Bound" && vn != "" {
				if decided {
					vol, err := p.v.PV(vn)
					if apierrors.IsNotFound(err) {
						// A new PV's event may come after its claim's: wait for it.
						done = false
						continue
					}
					if err != nil {
						return err
					}
					if !pvFitsNode(vol, d.node) {
						return fmt.Errorf("pv %q node affinity doesn't match node %q", vn, d.node.GetMetadata().GetName())
					}
				}
				continue
			}
			if d != nil && slices.Contains(d.provision, key) {
				if rv := d.annotatedFrom[key]; rv != "" && c.GetMetadata().GetResourceVersion() == rv {
					// Our write has not reached the cache yet (upstream's checkBindings
					// skips an API object older than the one it wrote, likewise).
					done = false
					continue
				}
				switch c.GetMetadata().GetAnnotations()[corev1.SelectedNodeAnnotation] {
				case "":
					return fmt.Errorf("selectedNode annotation reset for PVC %q", name)
				case d.node.GetMetadata().GetName():
				default:
					return fmt.Errorf("provisioning failed for PVC %q", name)
				}
			}
			done = false
		}
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return errors.New("timed out waiting for the condition")
		}
	}
}

// VolumeBinding gives no score (upstream's needs the
// StorageCapacityScoring gate).
var (
	_ framework.PreFilterPlugin = (*VolumeBinding)(nil)
	_ framework.FilterPlugin    = (*VolumeBinding)(nil)
	_ framework.ReservePlugin   = (*VolumeBinding)(nil)
	_ framework.PreBindPlugin   = (*VolumeBinding)(nil)
)
