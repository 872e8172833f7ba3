// Package uid makes the random identifiers the apiserver hands out: objects' metadata.uid,
// admission reviews' request uid, service account tokens' jti. Kubernetes uses version 4
// UUIDs for all three.
package uid

import (
	"crypto/rand"
	"fmt"
)

// New returns a random (version 4, RFC 4122 variant) UUID in its 36-character form.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux (Go 1.24+ it cannot fail)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
