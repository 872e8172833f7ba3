package patch

import "strings"

// fieldMeta is the strategic-merge metadata of one field: what k8s.io/api
// declares with the patchStrategy and patchMergeKey struct tags.
type fieldMeta struct {
	// merge: the list merges instead of being replaced. With key set, the
	// list holds objects identified by that member; without, it is a set of
	// primitives (union).
	merge bool
	key   string
}

// Strategic merge metadata of the built-in kinds kubelab serves, written as
// paths of JSON field names from the object's root (list indexes are not
// part of a path). Everything not listed uses the defaults: objects merge
// recursively, lists are replaced wholesale. Lists that upstream leaves
// atomic and people often expect to merge — PodSpec tolerations and
// readinessGates, Container envFrom, NodeSpec taints, the container
// statuses — are deliberately absent, so they are replaced.
var (
	// ObjectMeta, relative to "metadata" (and to pod templates' metadata).
	objectMetaFields = map[string]fieldMeta{
		"finalizers":      {merge: true},
		"ownerReferences": {merge: true, key: "uid"},
	}

	// PodSpec, relative to the pod spec.
	podSpecFields = map[string]fieldMeta{
		"volumes":                   {merge: true, key: "name"}, // merge,retainKeys
		"initContainers":            {merge: true, key: "name"},
		"containers":                {merge: true, key: "name"},
		"ephemeralContainers":       {merge: true, key: "name"},
		"imagePullSecrets":          {merge: true, key: "name"},
		"hostAliases":               {merge: true, key: "ip"},
		"topologySpreadConstraints": {merge: true, key: "topologyKey"},
		"schedulingGates":           {merge: true, key: "name"},
		"resourceClaims":            {merge: true, key: "name"}, // merge,retainKeys
	}

	// Container (and EphemeralContainer), relative to one container.
	containerFields = map[string]fieldMeta{
		"ports":         {merge: true, key: "containerPort"},
		"env":           {merge: true, key: "name"},
		"volumeMounts":  {merge: true, key: "mountPath"},
		"volumeDevices": {merge: true, key: "devicePath"},
	}

	podStatusFields = map[string]fieldMeta{
		"conditions":            {merge: true, key: "type"},
		"hostIPs":               {merge: true, key: "ip"},
		"podIPs":                {merge: true, key: "ip"},
		"resourceClaimStatuses": {merge: true, key: "name"}, // merge,retainKeys
	}

	conditionsByType = map[string]fieldMeta{
		"conditions": {merge: true, key: "type"},
	}
)

// podTemplateRoots gives, per kind, where its pod templates are (the path of
// the PodTemplateSpec: its "metadata" is an ObjectMeta, its "spec" a
// PodSpec).
var podTemplateRoots = map[string]string{
	"PodTemplate":           "template",
	"Deployment":            "spec.template",
	"ReplicaSet":            "spec.template",
	"ReplicationController": "spec.template",
	"StatefulSet":           "spec.template",
	"DaemonSet":             "spec.template",
	"Job":                   "spec.template",
	"CronJob":               "spec.jobTemplate.spec.template",
}

// schemas maps kind -> field path -> metadata. Kinds not listed only know
// metadata.* (every object has an ObjectMeta).
var schemas = buildSchemas()

func buildSchemas() map[string]map[string]fieldMeta {
	add := func(s map[string]fieldMeta, prefix string, fields map[string]fieldMeta) {
		for p, m := range fields {
			s[prefix+"."+p] = m
		}
	}
	addPodSpec := func(s map[string]fieldMeta, prefix string) {
		add(s, prefix, podSpecFields)
		for _, c := range []string{"containers", "initContainers", "ephemeralContainers"} {
			add(s, prefix+"."+c, containerFields)
		}
	}
	newSchema := func() map[string]fieldMeta {
		s := map[string]fieldMeta{}
		add(s, "metadata", objectMetaFields)
		return s
	}

	out := map[string]map[string]fieldMeta{}
	for kind, root := range podTemplateRoots {
		s := newSchema()
		add(s, root+".metadata", objectMetaFields)
		addPodSpec(s, root+".spec")
		if kind == "CronJob" {
			add(s, "spec.jobTemplate.metadata", objectMetaFields)
		}
		switch kind {
		case "Deployment", "ReplicaSet", "ReplicationController", "StatefulSet", "DaemonSet", "Job":
			add(s, "status", conditionsByType)
		}
		out[kind] = s
	}

	pod := newSchema()
	addPodSpec(pod, "spec")
	add(pod, "status", podStatusFields)
	out["Pod"] = pod

	node := newSchema()
	node["spec.podCIDRs"] = fieldMeta{merge: true}
	node["status.conditions"] = fieldMeta{merge: true, key: "type"}
	node["status.addresses"] = fieldMeta{merge: true, key: "type"}
	out["Node"] = node

	ns := newSchema()
	add(ns, "status", conditionsByType)
	out["Namespace"] = ns

	// Built-in kinds whose only merge metadata is their ObjectMeta.
	for _, kind := range []string{"ConfigMap", "Secret", "ServiceAccount", "Endpoints", "EndpointSlice", "Event",
		"Lease", "LimitRange", "ResourceQuota", "Binding", "Scale"} {
		out[kind] = newSchema()
	}

	svc := newSchema()
	svc["spec.ports"] = fieldMeta{merge: true, key: "port"}
	add(svc, "status", conditionsByType)
	out["Service"] = svc

	return out
}

var genericSchema = buildGenericSchema()

func buildGenericSchema() map[string]fieldMeta {
	s := map[string]fieldMeta{}
	for p, m := range objectMetaFields {
		s["metadata."+p] = m
	}
	return s
}

// schemaFor returns the metadata table for kind.
func schemaFor(kind string) map[string]fieldMeta {
	if s, ok := schemas[kind]; ok {
		return s
	}
	return genericSchema
}

// KnownKind reports whether kind is one of the built-in kinds StrategicMergePatch
// has a schema for. Other kinds get the generic treatment (only metadata.*
// lists merge; objects merge, lists are replaced). kube-apiserver refuses
// strategic merge patches for kinds without a Go schema (custom resources)
// with 415; callers can use this to do the same.
func KnownKind(kind string) bool {
	_, ok := schemas[kind]
	return ok
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	var b strings.Builder
	b.Grow(len(path) + 1 + len(field))
	b.WriteString(path)
	b.WriteByte('.')
	b.WriteString(field)
	return b.String()
}
