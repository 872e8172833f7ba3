package queue

import "container/heap"

// podHeap is a heap of queued pods keyed by pod key, with O(log n) update and delete.
type podHeap struct {
	items []*QueuedPodInfo
	index map[string]int
	less  func(a, b *QueuedPodInfo) bool
}

func newPodHeap(less func(a, b *QueuedPodInfo) bool) *podHeap {
	return &podHeap{index: map[string]int{}, less: less}
}

// heap.Interface, on the inner type so the public methods stay readable.
type heapImpl struct{ h *podHeap }

func (x heapImpl) Len() int           { return len(x.h.items) }
func (x heapImpl) Less(i, j int) bool { return x.h.less(x.h.items[i], x.h.items[j]) }
func (x heapImpl) Swap(i, j int) {
	h := x.h
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.index[h.items[i].Key] = i
	h.index[h.items[j].Key] = j
}
func (x heapImpl) Push(v any) {
	p := v.(*QueuedPodInfo)
	x.h.index[p.Key] = len(x.h.items)
	x.h.items = append(x.h.items, p)
}
func (x heapImpl) Pop() any {
	h := x.h
	n := len(h.items) - 1
	p := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	delete(h.index, p.Key)
	return p
}

func (h *podHeap) Len() int { return len(h.items) }

// AddOrUpdate inserts p, or replaces the entry with the same key.
func (h *podHeap) AddOrUpdate(p *QueuedPodInfo) {
	if i, ok := h.index[p.Key]; ok {
		h.items[i] = p
		heap.Fix(heapImpl{h}, i)
		return
	}
	heap.Push(heapImpl{h}, p)
}

func (h *podHeap) Get(key string) (*QueuedPodInfo, bool) {
	i, ok := h.index[key]
	if !ok {
		return nil, false
	}
	return h.items[i], true
}

func (h *podHeap) Delete(key string) bool {
	i, ok := h.index[key]
	if !ok {
		return false
	}
	heap.Remove(heapImpl{h}, i)
	return true
}

// Peek returns the head without removing it.
func (h *podHeap) Peek() *QueuedPodInfo {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *podHeap) Pop() *QueuedPodInfo {
	if len(h.items) == 0 {
		return nil
	}
	return heap.Pop(heapImpl{h}).(*QueuedPodInfo)
}
