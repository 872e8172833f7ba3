package runtime

import "google.golang.org/protobuf/proto"

var deterministic = proto.MarshalOptions{Deterministic: true}

// MarshalProto encodes m as protobuf with map entries in a fixed order, so equal objects give
// equal bytes (etcd values, hashes).
func MarshalProto(m proto.Message) ([]byte, error) { return deterministic.Marshal(m) }

// UnmarshalProto decodes protobuf into m, which it resets first.
func UnmarshalProto(data []byte, m proto.Message) error { return proto.Unmarshal(data, m) }
