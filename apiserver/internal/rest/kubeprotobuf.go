package rest

import (
	"bytes"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	authorizationv1 "kubelab.io/proto/api/authorization/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// mediaKubeProtobuf is Kubernetes' protobuf encoding. kubelab's API is JSON, but the stock
// kubectl's typed clients (`kubectl auth can-i`) send their bodies in it, so the few kinds
// they send are read here; answers stay JSON, which those clients also accept.
const mediaKubeProtobuf = "application/vnd.kubernetes.protobuf"

// kubeProtobufMagic starts every Kubernetes protobuf body, followed by a runtime.Unknown.
var kubeProtobufMagic = []byte("k8s\x00")

// decodeKubeProtobuf reads a Kubernetes protobuf body: runtime.Unknown{typeMeta{apiVersion,
// kind} = 1, raw = 2} around the object's own generated.proto encoding. Only
// SelfSubjectAccessReview is understood; its spec's field numbers are Kubernetes' in
// kubelab's message too, so the spec bytes decode directly.
func decodeKubeProtobuf(body []byte) (runtime.Object, error) {
	if !bytes.HasPrefix(body, kubeProtobufMagic) {
		return nil, apierrors.NewBadRequest("protobuf body lacks the k8s magic prefix")
	}
	unknown := fields(body[len(kubeProtobufMagic):])
	tm := fields(unknown[1])
	apiVersion, kind, raw := string(tm[1]), string(tm[2]), unknown[2]
	if apiVersion != "authorization.k8s.io/v1" || kind != "SelfSubjectAccessReview" {
		return nil, apierrors.NewUnsupportedMediaType(mediaKubeProtobuf + " (for " + apiVersion + " " + kind + ")")
	}
	obj := fields(raw) // metadata = 1, spec = 2, status = 3
	spec := &authorizationv1.SelfSubjectAccessReviewSpec{}
	if err := proto.Unmarshal(obj[2], spec); err != nil {
		return nil, apierrors.NewBadRequest("decoding SelfSubjectAccessReview: " + err.Error())
	}
	return &authorizationv1.SelfSubjectAccessReview{Kind: kind, ApiVersion: apiVersion, Spec: spec}, nil
}

// fields splits a message into its length-delimited fields by number (the last occurrence
// wins); other wire types are skipped.
func fields(b []byte) map[protowire.Number][]byte {
	out := map[protowire.Number][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return out
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return out
			}
			out[num] = v
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return out
		}
		b = b[m:]
	}
	return out
}
