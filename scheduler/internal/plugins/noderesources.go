package plugins

import (
	"context"
	"fmt"
	"math"
	"slices"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/scheduler/internal/framework"
)

// NodeResourcesFit keeps a pod off nodes whose allocatable, minus what the pods already
// there request, cannot hold its requests (cpu, memory, ephemeral-storage, extended
// resources) or one more pod.
type NodeResourcesFit struct{}

func (NodeResourcesFit) Name() string { return NodeResourcesFitName }

// InsufficientResource is one resource a node lacks.
type InsufficientResource struct {
	Name      string
	Reason    string
	Requested int64
	Used      int64
	Capacity  int64
}

// Fits lists what node lacks for a pod with requests pi (nil when it fits).
func Fits(pi *framework.PodInfo, ni *framework.NodeInfo) []InsufficientResource {
	var out []InsufficientResource
	alloc, used, req := ni.Allocatable, ni.Requested, pi.Requests
	if n := int64(len(ni.Pods)); n+1 > alloc.AllowedPodNumber {
		out = append(out, InsufficientResource{Name: framework.ResourcePods, Reason: ErrReasonTooManyPods, Requested: 1, Used: n, Capacity: alloc.AllowedPodNumber})
	}
	check := func(name string, want, have, capacity int64) {
		if want > 0 && want > capacity-have {
			out = append(out, InsufficientResource{Name: name, Reason: "Insufficient " + name, Requested: want, Used: have, Capacity: capacity})
		}
	}
	check(framework.ResourceCPU, req.MilliCPU, used.MilliCPU, alloc.MilliCPU)
	check(framework.ResourceMemory, req.Memory, used.Memory, alloc.Memory)
	check(framework.ResourceEphemeralStorage, req.EphemeralStorage, used.EphemeralStorage, alloc.EphemeralStorage)
	names := make([]string, 0, len(req.Scalar))
	for name := range req.Scalar {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		check(name, req.Scalar[name], used.Scalar[name], alloc.Scalar[name])
	}
	return out
}

func (NodeResourcesFit) Filter(_ context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	insufficient := Fits(state.PodInfo(pod), ni)
	if len(insufficient) == 0 {
		return nil
	}
	reasons := make([]string, len(insufficient))
	for i, r := range insufficient {
		reasons[i] = r.Reason
	}
	return framework.NewStatus(framework.Unschedulable, reasons...)
}

// resourceWeights are the resources (and weights) the allocation scorers look at, as
// kube-scheduler's defaults: cpu and memory, weight 1 each.
var resourceWeights = []struct {
	name   string
	weight int64
}{{framework.ResourceCPU, 1}, {framework.ResourceMemory, 1}}

// requestedAfter is what node would have requested (non-zero accounting) with the pod on it.
func requestedAfter(pi *framework.PodInfo, ni *framework.NodeInfo, name string) (requested, allocatable int64) {
	return ni.NonZeroRequested.Get(name) + pi.NonZero.Get(name), ni.Allocatable.Get(name)
}

// LeastAllocated prefers nodes with the most free cpu and memory after placing the pod:
// per resource (allocatable - requested) * 100 / allocatable, then the weighted mean. This
// spreads pods across nodes.
type LeastAllocated struct{}

func (LeastAllocated) Name() string { return NodeResourcesLeastAllocatedName }

func (LeastAllocated) Score(_ context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	pi := state.PodInfo(pod)
	var score, weights int64
	for _, rw := range resourceWeights {
		req, alloc := requestedAfter(pi, ni, rw.name)
		var s int64
		if alloc > 0 && req <= alloc {
			s = (alloc - req) * framework.MaxNodeScore / alloc
		}
		score += s * rw.weight
		weights += rw.weight
	}
	return score / weights, nil
}

// BalancedAllocation prefers nodes whose cpu and memory would be used in equal fractions
// after placing the pod: score = (1 - standard deviation of the fractions) * 100.
type BalancedAllocation struct{}

func (BalancedAllocation) Name() string { return NodeResourcesBalancedAllocationName }

func (BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	pi := state.PodInfo(pod)
	var fractions [2]float64
	var n int
	for _, rw := range resourceWeights {
		req, alloc := requestedAfter(pi, ni, rw.name)
		if alloc == 0 {
			continue
		}
		fractions[n] = min(float64(req)/float64(alloc), 1)
		n++
	}
	var std float64
	switch n {
	case 2:
		std = math.Abs(fractions[0]-fractions[1]) / 2
	}
	return int64((1 - std) * float64(framework.MaxNodeScore)), nil
}

// ImageLocality prefers nodes that already hold the pod's images, weighted by image size
// and by how widely the image has spread (so one node holding it does not attract every
// replica).
type ImageLocality struct{}

func (ImageLocality) Name() string { return ImageLocalityName }

const (
	mb                    int64 = 1024 * 1024
	minImageThreshold           = 23 * mb
	maxContainerThreshold       = 1000 * mb
)

const imageLocalityKey = "PreScore" + ImageLocalityName

// imageShare is one of the pod's images with its cluster-wide spread factor.
type imageShare struct {
	name   string
	spread float64 // nodes holding it / all nodes
}

type imageLocalityState struct {
	images     []imageShare
	containers int
}

// PreScore normalizes the pod's image names and looks up their spread once per cycle.
func (ImageLocality) PreScore(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	snap := state.Snapshot()
	total := 1
	var spread map[string]int
	if snap != nil {
		total, spread = max(snap.NumNodes(), 1), snap.ImageNumNodes
	}
	st := &imageLocalityState{}
	for _, list := range [][]*corev1.Container{pod.GetSpec().GetInitContainers(), pod.GetSpec().GetContainers()} {
		for _, c := range list {
			st.containers++
			name := framework.NormalizedImageName(c.GetImage())
			n := 1
			if spread != nil {
				n = spread[name]
			}
			st.images = append(st.images, imageShare{name: name, spread: float64(n) / float64(total)})
		}
	}
	state.Write(imageLocalityKey, st)
	return nil
}

// Score sums, over the pod's images present on the node, size × spread, then maps the sum
// from [23 MiB, 1000 MiB × containers] onto [0, 100].
func (ImageLocality) Score(_ context.Context, state *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	v, ok := state.Read(imageLocalityKey)
	if !ok {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycleState: not found", imageLocalityKey))
	}
	st := v.(*imageLocalityState)
	var sum int64
	for _, img := range st.images {
		if size, ok := ni.Images[img.name]; ok {
			sum += int64(float64(size) * img.spread)
		}
	}
	maxThreshold := maxContainerThreshold * int64(max(st.containers, 1))
	sum = min(max(sum, minImageThreshold), maxThreshold)
	return framework.MaxNodeScore * (sum - minImageThreshold) / (maxThreshold - minImageThreshold), nil
}
