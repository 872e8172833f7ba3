package plugins

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/scheduler/internal/framework"
)

// fakeStorage is a VolumeAccess over maps; writes land in the maps.
type fakeStorage struct {
	mu      sync.Mutex
	claims  map[string]*corev1.PersistentVolumeClaim
	pvs     map[string]*corev1.PersistentVolume
	classes map[string]*storagev1.StorageClass
	changed chan struct{}
}

func (f *fakeStorage) access() framework.VolumeAccess {
	nf := func(r, n string) error { return apierrors.NewNotFound(apierrors.GroupResource{Resource: r}, n) }
	return framework.VolumeAccess{
		Claim: func(ns, name string) (*corev1.PersistentVolumeClaim, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if c, ok := f.claims[ns+"/"+name]; ok {
				return c, nil
			}
			return nil, nf("persistentvolumeclaims", name)
		},
		PV: func(name string) (*corev1.PersistentVolume, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if pv, ok := f.pvs[name]; ok {
				return pv, nil
			}
			return nil, nf("persistentvolumes", name)
		},
		PVs: func() ([]*corev1.PersistentVolume, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			var out []*corev1.PersistentVolume
			for _, pv := range f.pvs {
				out = append(out, pv)
			}
			return out, nil
		},
		StorageClass: func(name string) (*storagev1.StorageClass, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if c, ok := f.classes[name]; ok {
				return c, nil
			}
			return nil, nf("storageclasses", name)
		},
		UpdatePV: func(_ context.Context, pv *corev1.PersistentVolume) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.pvs[pv.GetMetadata().GetName()] = pv
			return nil
		},
		UpdateClaim: func(_ context.Context, c *corev1.PersistentVolumeClaim) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.claims[c.GetMetadata().GetNamespace()+"/"+c.GetMetadata().GetName()] = c
			return nil
		},
		Changed: func() <-chan struct{} {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.changed
		},
	}
}

func strPtr(s string) *string { return &s }

func testClaim(name, class, volume string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name},
		Spec: &corev1.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, StorageClassName: strPtr(class), VolumeName: volume,
			Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}}},
		Status: &corev1.PersistentVolumeClaimStatus{Phase: "Pending"}}
	if volume != "" {
		c.Status.Phase = "Bound"
	}
	return c
}

// testPV is a PV of class, size, pinned to hostname node ("" for none).
func testPV(name, class, size, node string) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: name},
		Spec: &corev1.PersistentVolumeSpec{StorageClassName: class, AccessModes: []string{"ReadWriteOnce"},
			Capacity: map[string]*metav1.Quantity{"storage": {String_: size}},
			Local:    &corev1.LocalVolumeSource{Path: "/mnt/" + name}},
		Status: &corev1.PersistentVolumeStatus{Phase: "Available"}}
	if node != "" {
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
			MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: "In", Values: []string{node}}}}}}}
	}
	return pv
}

func testNode(name string) *framework.NodeInfo {
	return framework.NewNodeInfo(&corev1.Node{Metadata: &metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}})
}

func claimPod(name string, claims ...string) *corev1.Pod {
	p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "uid-" + name}, Spec: &corev1.PodSpec{}}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, &corev1.Volume{Name: c, PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}})
	}
	return p
}

// ephemeralPod has the ephemeral volume "scratch", whose claim is p-scratch.
func ephemeralPod(name string) *corev1.Pod {
	p := claimPod(name)
	p.Spec.Volumes = []*corev1.Volume{{Name: "scratch", Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}}
	return p
}

// claimOwnedBy makes pod the controller of c.
func claimOwnedBy(c *corev1.PersistentVolumeClaim, pod string) *corev1.PersistentVolumeClaim {
	yes := true
	c.Metadata.OwnerReferences = []*metav1.OwnerReference{{ApiVersion: "v1", Kind: "Pod", Name: pod, Uid: "uid-" + pod, Controller: &yes}}
	return c
}

func newTestStorage() *fakeStorage {
	return &fakeStorage{
		claims: map[string]*corev1.PersistentVolumeClaim{}, pvs: map[string]*corev1.PersistentVolume{}, changed: make(chan struct{}),
		classes: map[string]*storagev1.StorageClass{
			"standard":  {Metadata: &metav1.ObjectMeta{Name: "standard"}, Provisioner: "kubelab.io/local-path", VolumeBindingMode: strPtr("WaitForFirstConsumer")},
			"local":     {Metadata: &metav1.ObjectMeta{Name: "local"}, Provisioner: noProvisioner, VolumeBindingMode: strPtr("WaitForFirstConsumer")},
			"immediate": {Metadata: &metav1.ObjectMeta{Name: "immediate"}, Provisioner: "kubelab.io/local-path", VolumeBindingMode: strPtr("Immediate")},
			"zoned": {Metadata: &metav1.ObjectMeta{Name: "zoned"}, Provisioner: "kubelab.io/local-path", VolumeBindingMode: strPtr("WaitForFirstConsumer"),
				AllowedTopologies: []*corev1.TopologySelectorTerm{{MatchLabelExpressions: []*corev1.TopologySelectorLabelRequirement{{Key: "kubernetes.io/hostname", Values: []string{"b"}}}}}},
		},
	}
}

// filterAll runs PreFilter, then Filter on nodes a and b; it returns PreFilter's status
// or each node's result ("" when it fits).
func filterAll(t *testing.T, p *VolumeBinding, state *framework.CycleState, pod *corev1.Pod) (string, map[string]string) {
	t.Helper()
	if s := p.PreFilter(context.Background(), state, pod); !s.IsSuccess() {
		return s.Code().String() + ": " + strings.Join(s.Reasons(), ","), nil
	}
	out := map[string]string{}
	for _, n := range []string{"a", "b"} {
		if s := p.Filter(context.Background(), state, pod, testNode(n)); !s.IsSuccess() {
			out[n] = s.Code().String() + ": " + strings.Join(s.Reasons(), ",")
		} else {
			out[n] = ""
		}
	}
	return "", out
}

func TestVolumeBindingFilter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		claims    []*corev1.PersistentVolumeClaim
		pvs       []*corev1.PersistentVolume
		pod       *corev1.Pod
		preFilter string
		nodes     map[string]string
	}{
		{name: "no claims: skipped", pod: claimPod("p"), preFilter: "Skip: "},
		{name: "missing claim", pod: claimPod("p", "data"),
			preFilter: `UnschedulableAndUnresolvable: persistentvolumeclaim "data" not found`},
		{name: "unbound immediate claim", pod: claimPod("p", "data"), claims: []*corev1.PersistentVolumeClaim{testClaim("data", "immediate", "")},
			preFilter: "UnschedulableAndUnresolvable: " + errUnboundImmediate},
		{name: "bound claim: its PV's node affinity", pod: claimPod("p", "data"),
			claims: []*corev1.PersistentVolumeClaim{testClaim("data", "local", "pv-b")}, pvs: []*corev1.PersistentVolume{testPV("pv-b", "local", "1Gi", "b")},
			nodes: map[string]string{"a": "UnschedulableAndUnresolvable: " + errNodeConflict, "b": ""}},
		{name: "bound claim to a missing PV", pod: claimPod("p", "data"),
			claims: []*corev1.PersistentVolumeClaim{testClaim("data", "local", "gone")}, preFilter: "UnschedulableAndUnresolvable: " + errPVNotExist},
		{name: "static PV only on b, no provisioner", pod: claimPod("p", "data"),
			claims: []*corev1.PersistentVolumeClaim{testClaim("data", "local", "")},
			pvs:    []*corev1.PersistentVolume{testPV("pv-b", "local", "2Gi", "b"), testPV("small-a", "local", "500Mi", "a"), testPV("other-a", "standard", "1Gi", "a")},
			nodes:  map[string]string{"a": "Unschedulable: " + errBindConflict, "b": ""}},
		{name: "provisioning anywhere", pod: claimPod("p", "data"), claims: []*corev1.PersistentVolumeClaim{testClaim("data", "standard", "")},
			nodes: map[string]string{"a": "", "b": ""}},
		{name: "ephemeral claim not made yet", pod: ephemeralPod("p"),
			preFilter: `UnschedulableAndUnresolvable: waiting for ephemeral volume controller to create the persistentvolumeclaim "p-scratch"`},
		{name: "ephemeral claim of another owner", pod: ephemeralPod("p"), claims: []*corev1.PersistentVolumeClaim{claimOwnedBy(testClaim("p-scratch", "standard", ""), "q")},
			preFilter: "UnschedulableAndUnresolvable: PVC default/p-scratch was not created for pod default/p (pod is not owner)"},
		{name: "ephemeral claim with no owner", pod: ephemeralPod("p"), claims: []*corev1.PersistentVolumeClaim{testClaim("p-scratch", "standard", "")},
			preFilter: "UnschedulableAndUnresolvable: PVC default/p-scratch was not created for pod default/p (pod is not owner)"},
		{name: "ephemeral claim provisioned within allowedTopologies", pod: ephemeralPod("p"),
			claims: []*corev1.PersistentVolumeClaim{claimOwnedBy(testClaim("p-scratch", "zoned", ""), "p")},
			nodes:  map[string]string{"a": "Unschedulable: " + errBindConflict, "b": ""}},
		{name: "ephemeral claim bound: its PV's node affinity", pod: ephemeralPod("p"),
			claims: []*corev1.PersistentVolumeClaim{claimOwnedBy(testClaim("p-scratch", "local", "pv-b"), "p")}, pvs: []*corev1.PersistentVolume{testPV("pv-b", "local", "1Gi", "b")},
			nodes: map[string]string{"a": "UnschedulableAndUnresolvable: " + errNodeConflict, "b": ""}},
		{name: "provisioning within allowedTopologies", pod: claimPod("p", "data"), claims: []*corev1.PersistentVolumeClaim{testClaim("data", "zoned", "")},
			nodes: map[string]string{"a": "Unschedulable: " + errBindConflict, "b": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newTestStorage()
			for _, c := range tc.claims {
				fs.claims["default/"+c.GetMetadata().GetName()] = c
			}
			for _, pv := range tc.pvs {
				fs.pvs[pv.GetMetadata().GetName()] = pv
			}
			p, _ := NewVolumeBinding(framework.Handle{Volumes: fs.access()})
			pre, nodes := filterAll(t, p.(*VolumeBinding), framework.NewCycleState(), tc.pod)
			if pre != tc.preFilter {
				t.Fatalf("PreFilter %q, want %q", pre, tc.preFilter)
			}
			for n, want := range tc.nodes {
				if nodes[n] != want {
					t.Errorf("node %s: %q, want %q", n, nodes[n], want)
				}
			}
		})
	}
}

// Two pods whose claims both match the one PV: the first reserved takes it, the second
// finds none on that node until the first is unreserved.
func TestVolumeBindingAssumeAndBind(t *testing.T) {
	fs := newTestStorage()
	fs.claims["default/one"] = testClaim("one", "local", "")
	fs.claims["default/two"] = testClaim("two", "local", "")
	fs.pvs["pv-a"] = testPV("pv-a", "local", "1Gi", "a")
	pl, _ := NewVolumeBinding(framework.Handle{Volumes: fs.access()})
	p := pl.(*VolumeBinding)
	ctx := context.Background()

	s1 := framework.NewCycleState()
	if _, nodes := filterAll(t, p, s1, claimPod("p1", "one")); nodes["a"] != "" {
		t.Fatalf("p1 on a: %q", nodes["a"])
	}
	if s := p.Reserve(ctx, s1, claimPod("p1", "one"), "a"); !s.IsSuccess() {
		t.Fatal(s.AsError())
	}
	s2 := framework.NewCycleState()
	if _, nodes := filterAll(t, p, s2, claimPod("p2", "two")); nodes["a"] != "Unschedulable: "+errBindConflict {
		t.Fatalf("p2 on a while pv-a is assumed for p1: %q", nodes["a"])
	}
	p.Unreserve(ctx, s1, claimPod("p1", "one"), "a")
	s2 = framework.NewCycleState()
	if _, nodes := filterAll(t, p, s2, claimPod("p2", "two")); nodes["a"] != "" {
		t.Fatalf("p2 on a once p1 is unreserved: %q", nodes["a"])
	}

	// PreBind writes the claimRef, then waits until the claim is Bound.
	if s := p.Reserve(ctx, s2, claimPod("p2", "two"), "a"); !s.IsSuccess() {
		t.Fatal(s.AsError())
	}
	done := make(chan *framework.Status, 1)
	go func() { done <- p.PreBind(ctx, s2, claimPod("p2", "two"), "a") }()
	// The binder's part, once the claimRef is written (the change wakes PreBind).
	waitCond(t, func() bool { return p.assumedCount() == 1 && fs.pvClaim("pv-a") == "default/two" })
	fs.setClaim(testClaim("two", "local", "pv-a"))
	if s := <-done; !s.IsSuccess() {
		t.Fatalf("PreBind: %v", s.AsError())
	}
	if n := p.assumedCount(); n != 0 {
		t.Fatalf("%d PVs still assumed after PreBind", n)
	}
}

// Provisioning: PreBind sets the selected node on the claim, and fails when the
// provisioner gives up (removes it).
func TestVolumeBindingProvisioning(t *testing.T) {
	fs := newTestStorage()
	fs.claims["default/data"] = testClaim("data", "standard", "")
	pl, _ := NewVolumeBinding(framework.Handle{Volumes: fs.access()})
	p := pl.(*VolumeBinding)
	ctx := context.Background()
	s := framework.NewCycleState()
	pod := claimPod("p", "data")
	filterAll(t, p, s, pod)
	if st := p.Reserve(ctx, s, pod, "b"); !st.IsSuccess() {
		t.Fatal(st.AsError())
	}
	done := make(chan *framework.Status, 1)
	go func() { done <- p.PreBind(ctx, s, pod, "b") }()
	waitCond(t, func() bool { return fs.selectedNode("data") == "b" })
	fs.setClaim(testClaim("data", "standard", "")) // the annotation removed
	if st := <-done; st.IsSuccess() || !strings.Contains(st.AsError().Error(), `selectedNode annotation reset for PVC "data"`) {
		t.Fatalf("PreBind after the provisioner gave up: %v", st.AsError())
	}
}

func (p *VolumeBinding) assumedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.assumed)
}

// pvClaim and selectedNode read what PreBind wrote (from its goroutine).
func (f *fakeStorage) pvClaim(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := f.pvs[name].GetSpec().GetClaimRef()
	if ref == nil {
		return ""
	}
	return ref.GetNamespace() + "/" + ref.GetName()
}

func (f *fakeStorage) selectedNode(claim string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.claims["default/"+claim].GetMetadata().GetAnnotations()[corev1.SelectedNodeAnnotation]
}

// setClaim stores c and wakes the waiters, as an informer's update does.
func (f *fakeStorage) setClaim(c *corev1.PersistentVolumeClaim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims["default/"+c.GetMetadata().GetName()] = c
	close(f.changed)
	f.changed = make(chan struct{})
}

func waitCond(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A PV bound to another claim between Filter and PreBind (by the binder, for a claim
// that names it) is not taken from that claim: PreBind fails, as upstream's write of the
// PV as Filter saw it would fail with a conflict.
func TestVolumeBindingPreBindPVTakenMeanwhile(t *testing.T) {
	fs := newTestStorage()
	fs.claims["default/data"] = testClaim("data", "local", "")
	fs.pvs["pv-a"] = testPV("pv-a", "local", "1Gi", "a")
	pl, _ := NewVolumeBinding(framework.Handle{Volumes: fs.access()})
	p := pl.(*VolumeBinding)
	p.timeout = time.Second // a PreBind that took the PV would wait for the claim
	ctx := context.Background()
	s := framework.NewCycleState()
	pod := claimPod("p", "data")
	filterAll(t, p, s, pod)
	if st := p.Reserve(ctx, s, pod, "a"); !st.IsSuccess() {
		t.Fatal(st.AsError())
	}
	taken := testPV("pv-a", "local", "1Gi", "a")
	taken.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "other", Uid: "uid-other"}
	taken.Status.Phase = "Bound"
	fs.mu.Lock()
	fs.pvs["pv-a"] = taken
	fs.mu.Unlock()
	if st := p.PreBind(ctx, s, pod, "a"); st.IsSuccess() {
		t.Fatal("PreBind succeeded with a PV bound to another claim")
	}
	if got := fs.pvClaim("pv-a"); got != "default/other" {
		t.Fatalf("pv-a claimRef %q, want default/other left alone", got)
	}
}

// A claim whose provisioning was started for one node (its selected-node annotation) fits
// that node only (upstream's FindPodVolumes), so a pod rescheduled after a failed PreBind
// never moves it; and PreBind refuses a claim that ends up bound to a PV whose node
// affinity does not fit the chosen node (upstream's checkBindings).
func TestVolumeBindingSelectedNode(t *testing.T) {
	fs := newTestStorage()
	pinned := testClaim("data", "standard", "")
	pinned.Metadata.Annotations = map[string]string{corev1.SelectedNodeAnnotation: "a"}
	fs.claims["default/data"] = pinned
	pl, _ := NewVolumeBinding(framework.Handle{Volumes: fs.access()})
	p := pl.(*VolumeBinding)
	_, nodes := filterAll(t, p, framework.NewCycleState(), claimPod("p", "data"))
	if nodes["a"] != "" || nodes["b"] == "" {
		t.Fatalf("a claim being provisioned for a: nodes %q, want only a", nodes)
	}

	fs.claims["default/data"] = testClaim("data", "standard", "")
	s := framework.NewCycleState()
	pod := claimPod("p", "data")
	filterAll(t, p, s, pod)
	ctx := context.Background()
	if st := p.Reserve(ctx, s, pod, "b"); !st.IsSuccess() {
		t.Fatal(st.AsError())
	}
	done := make(chan *framework.Status, 1)
	go func() { done <- p.PreBind(ctx, s, pod, "b") }()
	waitCond(t, func() bool { return fs.selectedNode("data") == "b" })
	fs.mu.Lock()
	fs.pvs["pv-a"] = testPV("pv-a", "standard", "1Gi", "a")
	fs.mu.Unlock()
	bound := testClaim("data", "standard", "pv-a")
	bound.Metadata.Annotations = map[string]string{corev1.SelectedNodeAnnotation: "b"}
	fs.setClaim(bound)
	if st := <-done; st.IsSuccess() || !strings.Contains(st.AsError().Error(), `pv "pv-a" node affinity doesn't match node "b"`) {
		t.Fatalf("PreBind with the claim bound to a PV of node a: %v", st.AsError())
	}
}

// The claim PreBind annotated reaches the cache after the write: until then the cached
// claim, without the annotation, is not taken for a provisioner that gave up.
func TestVolumeBindingProvisioningCacheLag(t *testing.T) {
	fs := newTestStorage()
	fs.claims["default/data"] = testClaim("data", "standard", "")
	fs.claims["default/data"].Metadata.ResourceVersion = "1"
	va := fs.access()
	written := make(chan *corev1.PersistentVolumeClaim, 1)
	va.UpdateClaim = func(_ context.Context, c *corev1.PersistentVolumeClaim) error { written <- c; return nil }
	done := preBindOn(t, va, claimPod("p", "data"), "b")
	c := <-written
	old := testClaim("data", "standard", "")
	old.Metadata.ResourceVersion = "1"
	fs.setClaim(old) // an event that is not the write: the cache is still behind it
	c.Metadata.ResourceVersion = "2"
	fs.setClaim(c) // the write arrives
	bound := testClaim("data", "standard", "pv-b")
	bound.Metadata.Annotations = map[string]string{corev1.SelectedNodeAnnotation: "b"}
	fs.mu.Lock()
	fs.pvs["pv-b"] = testPV("pv-b", "standard", "1Gi", "b")
	fs.mu.Unlock()
	fs.setClaim(bound)
	if st := <-done; !st.IsSuccess() {
		t.Fatalf("PreBind: %v", st.AsError())
	}
}

// preBindOn runs a new VolumeBinding over va for pod up to Reserve on node, then PreBind
// in a goroutine; its result comes on the channel.
func preBindOn(t *testing.T, va framework.VolumeAccess, pod *corev1.Pod, node string) <-chan *framework.Status {
	t.Helper()
	pl, _ := NewVolumeBinding(framework.Handle{Volumes: va})
	p := pl.(*VolumeBinding)
	ctx := context.Background()
	s := framework.NewCycleState()
	filterAll(t, p, s, pod)
	if st := p.Reserve(ctx, s, pod, node); !st.IsSuccess() {
		t.Fatal(st.AsError())
	}
	done := make(chan *framework.Status, 1)
	go func() { done <- p.PreBind(ctx, s, pod, node) }()
	return done
}
