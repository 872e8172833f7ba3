package validation

import (
	"fmt"
	"strings"

	"kubelab.io/proto/labels"
)

// The name formats of kubelab's kinds, from kubelab.io/proto/labels.
var (
	isQualifiedName    = labels.IsQualifiedName
	isValidLabelValue  = labels.IsValidLabelValue
	isDNS1123Label     = labels.IsDNS1123Label
	isDNS1123Subdomain = labels.IsDNS1123Subdomain
)

// ValidateNameFunc checks an object name, or with prefix a generateName (which may end in
// '-'), and returns Kubernetes' messages; nil means valid.
type ValidateNameFunc func(name string, prefix bool) []string

// NameIsDNSSubdomain is the name rule of most kinds (Pod, Node, Deployment, ReplicaSet,
// Event, LimitRange, ResourceQuota, Lease): an RFC 1123 subdomain.
func NameIsDNSSubdomain(name string, prefix bool) []string {
	if prefix {
		name = maskTrailingDash(name)
	}
	return isDNS1123Subdomain(name)
}

// NameIsDNSLabel is the name rule of Namespaces: an RFC 1123 label.
func NameIsDNSLabel(name string, prefix bool) []string {
	if prefix {
		name = maskTrailingDash(name)
	}
	return isDNS1123Label(name)
}

// NameIsDNS1035Label is the name rule of Services: an RFC 1035 label (it starts with a
// letter), since a service's name becomes a DNS name and environment variable names.
func NameIsDNS1035Label(name string, prefix bool) []string {
	if prefix {
		name = maskTrailingDash(name)
	}
	return labels.IsDNS1035Label(name)
}

// NameFunc returns the name rule of kind ("Namespace" and "StatefulSet", whose pods are
// named <set>-<ordinal>, → NameIsDNSLabel, "Service" →
// NameIsDNS1035Label, any other kind kubelab serves → NameIsDNSSubdomain).
func NameFunc(kind string) ValidateNameFunc {
	switch kind {
	case "Namespace", "StatefulSet":
		return NameIsDNSLabel
	case "Service":
		return NameIsDNS1035Label
	case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
		return NameIsPathSegment
	}
	return NameIsDNSSubdomain
}

// NameIsPathSegment is the name rule of the RBAC kinds ("system:kube-scheduler"): anything
// that can be one segment of a URL path.
func NameIsPathSegment(name string, prefix bool) []string {
	var msgs []string
	if !prefix && (name == "." || name == "..") {
		msgs = append(msgs, fmt.Sprintf("may not be '%s'", name))
	}
	for _, bad := range []string{"/", "%"} {
		if strings.Contains(name, bad) {
			msgs = append(msgs, fmt.Sprintf("may not contain '%s'", bad))
		}
	}
	return msgs
}

// maskTrailingDash lets a generateName end in '-': the random suffix will follow it.
func maskTrailingDash(name string) string {
	if len(name) > 1 && strings.HasSuffix(name, "-") {
		return name[:len(name)-1] + "a"
	}
	return name
}
