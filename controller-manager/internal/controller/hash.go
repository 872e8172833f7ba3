package controller

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
)

// DefaultPodTemplateHashLabel is the label Deployments put on their ReplicaSets and pods.
const DefaultPodTemplateHashLabel = "pod-template-hash"

// ComputeHash returns the pod-template-hash of template: FNV-32a over its deterministic
// protobuf encoding, then over collisionCount (little-endian) when it is set, rendered with
// SafeEncodeString. The same template always gives the same hash, in every process.
// Callers hash the template without the pod-template-hash label.
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	// Deterministic marshalling of a valid message cannot fail; an empty encoding would
	// still hash consistently.
	data, _ := runtime.MarshalProto(template)
	h.Write(data)
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		h.Write(b[:])
	}
	return SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// safeAlphanums has no vowels (no words) and no look-alikes (0/o, 1/l, 3/e).
const safeAlphanums = "bcdfghjklmnpqrstvwxz2456789"

// SafeEncodeString maps every rune of s onto safeAlphanums, as Kubernetes'
// k8s.io/apimachinery/pkg/util/rand.SafeEncodeString.
func SafeEncodeString(s string) string {
	r := make([]byte, 0, len(s))
	for _, b := range s {
		r = append(r, safeAlphanums[int(b)%len(safeAlphanums)])
	}
	return string(r)
}
