package validation

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// Supported values of the enumerated PodSpec fields, in the order Kubernetes lists them.
var (
	restartPolicies           = []string{"Always", "OnFailure", "Never"}
	dnsPolicies               = []string{"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"}
	pullPolicies              = []string{"Always", "IfNotPresent", "Never"}
	terminationMessagePolices = []string{"File", "FallbackToLogsOnError"}
	portProtocols             = []string{"SCTP", "TCP", "UDP"}
	taintEffects              = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
	tolerationOperators       = []string{"Equal", "Exists"}
	preemptionPolicies        = []string{"Never", "PreemptLowerPriority"}
	httpSchemes               = []string{"HTTP", "HTTPS"}
	hostPathTypes             = []string{"", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"}
	downwardAPIEnvFieldPaths  = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}
	downwardAPIEnvResources   = []string{"limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory"}
)

const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
	fileModeErrorMsg      = "must be a number between 0 and 0777 (octal), both inclusive"
)

// podOpts says what is being validated: a Pod's own spec checks a few things a template's
// does not.
type podOpts struct {
	isPod bool
	// podName, known for a Pod (not a template), names its ephemeral volumes' claims.
	podName string
}

// ValidatePod checks a Pod being created (metadata is the registry's, see ValidateObjectMeta).
func ValidatePod(pod *corev1.Pod) apierrors.FieldErrors {
	return validatePodSpec(specOrEmpty(pod.GetSpec()), "spec", podOpts{isPod: true, podName: pod.GetMetadata().GetName()})
}

// ValidatePodSpec checks a pod spec found at path ("spec", "spec.template.spec") with
// Kubernetes' rules for pods; pod templates use ValidatePodTemplateSpec.
func ValidatePodSpec(spec *corev1.PodSpec, path string) apierrors.FieldErrors {
	return validatePodSpec(specOrEmpty(spec), path, podOpts{isPod: true})
}

// ValidatePodTemplateSpec checks a pod template at path ("spec.template"): its labels and
// annotations, and its spec.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, path string) apierrors.FieldErrors {
	meta := child(path, "metadata")
	errs := ValidateLabels(t.GetMetadata().GetLabels(), child(meta, "labels"))
	errs = append(errs, ValidateAnnotations(t.GetMetadata().GetAnnotations(), child(meta, "annotations"))...)
	return append(errs, validatePodSpec(specOrEmpty(t.GetSpec()), child(path, "spec"), podOpts{})...)
}

func specOrEmpty(s *corev1.PodSpec) *corev1.PodSpec {
	if s == nil {
		return &corev1.PodSpec{}
	}
	return s
}

func validatePodSpec(spec *corev1.PodSpec, p string, opts podOpts) apierrors.FieldErrors {
	volumes, errs := validateVolumes(spec.Volumes, child(p, "volumes"), opts.podName)
	errs = append(errs, validateContainers(spec, volumes, p, opts)...)
	errs = append(errs, validateRestartPolicy(spec.RestartPolicy, child(p, "restartPolicy"))...)
	errs = append(errs, validateDNSPolicy(spec.DnsPolicy, child(p, "dnsPolicy"))...)
	errs = append(errs, ValidateLabels(spec.NodeSelector, child(p, "nodeSelector"))...)
	errs = append(errs, validatePodSecurityContext(spec.SecurityContext, child(p, "securityContext"))...)
	errs = append(errs, validateHostNetwork(spec, p)...)
	errs = append(errs, validateAffinity(spec.Affinity, child(p, "affinity"))...)
	errs = append(errs, validateTopologySpreadConstraints(spec.TopologySpreadConstraints, child(p, "topologySpreadConstraints"))...)
	errs = append(errs, validateDNSConfig(spec.DnsConfig, spec.DnsPolicy, child(p, "dnsConfig"))...)
	for i, g := range spec.ReadinessGates {
		errs = append(errs, validateLabelName(g.GetConditionType(), child(index(child(p, "readinessGates"), i), "conditionType"))...)
	}
	for _, f := range []struct{ name, value string }{
		{"serviceAccountName", spec.ServiceAccountName},
		{"nodeName", spec.NodeName},
		{"priorityClassName", spec.PriorityClassName},
	} {
		if f.value != "" {
			errs = append(errs, validateDNS1123Subdomain(f.value, child(p, f.name))...)
		}
	}
	if spec.TerminationGracePeriodSeconds != nil {
		errs = append(errs, nonNegative(*spec.TerminationGracePeriodSeconds, child(p, "terminationGracePeriodSeconds"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, apierrors.Invalid(child(p, "activeDeadlineSeconds"), v, inclusiveRangeError(1, math.MaxInt32)))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNS1123Label(spec.Hostname, child(p, "hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNS1123Label(spec.Subdomain, child(p, "subdomain"))...)
	}
	errs = append(errs, ValidateTolerations(spec.Tolerations, child(p, "tolerations"))...)
	for i, ha := range spec.HostAliases {
		hp := index(child(p, "hostAliases"), i)
		errs = append(errs, validIP(ha.GetIp(), child(hp, "ip"))...)
		for j, h := range ha.GetHostnames() {
			errs = append(errs, validateDNS1123Subdomain(h, index(child(hp, "hostnames"), j))...)
		}
	}
	if spec.PreemptionPolicy != nil && !slices.Contains(preemptionPolicies, *spec.PreemptionPolicy) {
		errs = append(errs, apierrors.NotSupported(child(p, "preemptionPolicy"), *spec.PreemptionPolicy, preemptionPolicies))
	}
	for _, k := range sortedKeys(spec.Overhead) {
		kp := key(child(p, "overhead"), k)
		errs = append(errs, validateContainerResourceName(k, kp)...)
		_, qerrs := validateQuantity(spec.Overhead[k], kp)
		errs = append(errs, qerrs...)
	}
	return errs
}

func validateRestartPolicy(policy, p string) apierrors.FieldErrors {
	switch {
	case policy == "":
		return apierrors.FieldErrors{apierrors.Required(p, "")}
	case !slices.Contains(restartPolicies, policy):
		return apierrors.FieldErrors{apierrors.NotSupported(p, policy, restartPolicies)}
	}
	return nil
}

func validateDNSPolicy(policy, p string) apierrors.FieldErrors {
	switch {
	case policy == "":
		return apierrors.FieldErrors{apierrors.Required(p, "")}
	case !slices.Contains(dnsPolicies, policy):
		return apierrors.FieldErrors{apierrors.NotSupported(p, policy, dnsPolicies)}
	}
	return nil
}

func validateDNSConfig(c *corev1.PodDNSConfig, policy, p string) apierrors.FieldErrors {
	if policy == "None" {
		if c == nil {
			return apierrors.FieldErrors{apierrors.Required(p, "must provide `dnsConfig` when `dnsPolicy` is None")}
		}
		if len(c.Nameservers) == 0 {
			return apierrors.FieldErrors{apierrors.Required(child(p, "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")}
		}
	}
	if c == nil {
		return nil
	}
	var errs apierrors.FieldErrors
	if len(c.Nameservers) > maxDNSNameservers {
		errs = append(errs, apierrors.Invalid(child(p, "nameservers"), goSyntax{c.Nameservers}, fmt.Sprintf("must not have more than %d nameservers", maxDNSNameservers)))
	}
	for i, ns := range c.Nameservers {
		errs = append(errs, validIP(ns, index(child(p, "nameservers"), i))...)
	}
	if len(c.Searches) > maxDNSSearchPaths {
		errs = append(errs, apierrors.Invalid(child(p, "searches"), goSyntax{c.Searches}, fmt.Sprintf("must not have more than %d search paths", maxDNSSearchPaths)))
	}
	if len(strings.Join(c.Searches, " ")) > maxDNSSearchListChars {
		errs = append(errs, apierrors.Invalid(child(p, "searches"), goSyntax{c.Searches}, fmt.Sprintf("must not have more than %d characters (including spaces) in the search list", maxDNSSearchListChars)))
	}
	for i, s := range c.Searches {
		if s == "." {
			continue
		}
		errs = append(errs, validateDNS1123Subdomain(strings.TrimSuffix(s, "."), index(child(p, "searches"), i))...)
	}
	for i, o := range c.Options {
		if o.GetName() == "" {
			errs = append(errs, apierrors.Required(index(child(p, "options"), i), "must not be empty"))
		}
	}
	return errs
}

func validatePodSecurityContext(sc *corev1.PodSecurityContext, p string) apierrors.FieldErrors {
	if sc == nil {
		return nil
	}
	var errs apierrors.FieldErrors
	if sc.RunAsUser != nil {
		errs = append(errs, validID(*sc.RunAsUser, child(p, "runAsUser"))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, validID(*sc.RunAsGroup, child(p, "runAsGroup"))...)
	}
	if sc.FsGroup != nil {
		errs = append(errs, validID(*sc.FsGroup, child(p, "fsGroup"))...)
	}
	for i, g := range sc.SupplementalGroups {
		errs = append(errs, validID(g, index(child(p, "supplementalGroups"), i))...)
	}
	return errs
}

// With hostNetwork a container port is the host's port: a hostPort, when given, must match.
func validateHostNetwork(spec *corev1.PodSpec, p string) apierrors.FieldErrors {
	if !spec.HostNetwork {
		return nil
	}
	var errs apierrors.FieldErrors
	for _, list := range []struct {
		name       string
		containers []*corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i, c := range list.containers {
			for j, port := range c.GetPorts() {
				if hp := port.GetHostPort(); hp != 0 && hp != port.GetContainerPort() {
					pp := index(child(index(child(p, list.name), i), "ports"), j)
					errs = append(errs, apierrors.Invalid(child(pp, "hostPort"), int64(hp), "must match `containerPort` when `hostNetwork` is true"))
				}
			}
		}
	}
	return errs
}

// ---- volumes ----

func validateVolumes(volumes []*corev1.Volume, p, podName string) (map[string]bool, apierrors.FieldErrors) {
	names := map[string]bool{}
	var errs apierrors.FieldErrors
	for i, v := range volumes {
		vp := index(p, i)
		errs = append(errs, validateVolumeSource(v, vp)...)
		name := v.GetName()
		// As upstream: the ephemeral volume's claim, <pod>-<volume>, must be a valid claim
		// name. Skipped when either name is missing, which is reported elsewhere.
		if v.GetEphemeral() != nil && podName != "" && name != "" {
			claim := podName + "-" + name
			for _, msg := range NameIsDNSSubdomain(claim, false) {
				errs = append(errs, apierrors.Invalid(child(vp, "name"), name, fmt.Sprintf("PVC name %q: %v", claim, msg)))
			}
		}
		if name == "" {
			errs = append(errs, apierrors.Required(child(vp, "name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(name, child(vp, "name"))...)
		}
		if names[name] {
			errs = append(errs, apierrors.Duplicate(child(vp, "name"), name))
		} else if name != "" {
			names[name] = true
		}
	}
	return names, errs
}

func validateVolumeSource(v *corev1.Volume, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	n := 0
	more := func(field string) bool {
		n++
		if n > 1 {
			errs = append(errs, apierrors.Forbidden(child(p, field), "may not specify more than 1 volume type"))
			return true
		}
		return false
	}
	if hp := v.GetHostPath(); hp != nil && !more("hostPath") {
		sp := child(p, "hostPath")
		if hp.Path == "" {
			errs = append(errs, apierrors.Required(child(sp, "path"), ""))
		} else {
			errs = append(errs, validatePathNoBacksteps(hp.Path, child(sp, "path"))...)
		}
		if hp.Type != nil && !slices.Contains(hostPathTypes, *hp.Type) {
			errs = append(errs, apierrors.NotSupported(child(sp, "type"), *hp.Type, hostPathTypes))
		}
	}
	if ed := v.GetEmptyDir(); ed != nil && !more("emptyDir") {
		sp := child(p, "emptyDir")
		if m := ed.Medium; m != "" && m != "Memory" && m != "HugePages" && !strings.HasPrefix(m, "HugePages-") {
			errs = append(errs, apierrors.NotSupported(child(sp, "medium"), m, []string{"", "Memory", "HugePages"}))
		}
		if ed.SizeLimit != nil {
			_, qerrs := validateQuantity(ed.SizeLimit, child(sp, "sizeLimit"))
			errs = append(errs, qerrs...)
		}
	}
	if s := v.GetSecret(); s != nil && !more("secret") {
		sp := child(p, "secret")
		if s.SecretName == "" {
			errs = append(errs, apierrors.Required(child(sp, "secretName"), ""))
		}
		errs = append(errs, validateVolumeMode(s.DefaultMode, child(sp, "defaultMode"))...)
		errs = append(errs, validateKeyToPaths(s.Items, child(sp, "items"))...)
	}
	if c := v.GetPersistentVolumeClaim(); c != nil && !more("persistentVolumeClaim") {
		if c.GetClaimName() == "" {
			errs = append(errs, apierrors.Required(child(child(p, "persistentVolumeClaim"), "claimName"), ""))
		}
	}
	if e := v.GetEphemeral(); e != nil && !more("ephemeral") {
		errs = append(errs, validateEphemeralVolumeSource(e, child(p, "ephemeral"))...)
	}
	if c := v.GetConfigMap(); c != nil && !more("configMap") {
		sp := child(p, "configMap")
		if c.Name == "" {
			errs = append(errs, apierrors.Required(child(sp, "name"), ""))
		}
		errs = append(errs, validateVolumeMode(c.DefaultMode, child(sp, "defaultMode"))...)
		errs = append(errs, validateKeyToPaths(c.Items, child(sp, "items"))...)
	}
	if d := v.GetDownwardAPI(); d != nil && !more("downwardAPI") {
		sp := child(p, "downwardAPI")
		errs = append(errs, validateVolumeMode(d.DefaultMode, child(sp, "defaultMode"))...)
		for i, f := range d.Items {
			errs = append(errs, validateDownwardAPIVolumeFile(f, index(child(sp, "items"), i))...)
		}
	}
	if pr := v.GetProjected(); pr != nil && !more("projected") {
		sp := child(p, "projected")
		errs = append(errs, validateVolumeMode(pr.DefaultMode, child(sp, "defaultMode"))...)
		errs = append(errs, validateProjectionSources(pr.Sources, child(sp, "sources"))...)
	}
	if n == 0 {
		errs = append(errs, apierrors.Required(p, "must specify a volume type"))
	}
	return errs
}

// downwardAPIVolumeFieldPaths are the pod fields a downward API volume can hold: only those
// fixed for the pod's life or updated in place (labels, annotations), unlike env vars.
var downwardAPIVolumeFieldPaths = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}

func validateDownwardAPIVolumeFile(f *corev1.DownwardAPIVolumeFile, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if f.GetPath() == "" {
		errs = append(errs, apierrors.Required(child(p, "path"), ""))
	} else {
		errs = append(errs, validateLocalNonReservedPath(f.GetPath(), child(p, "path"))...)
	}
	switch {
	case f.GetFieldRef() != nil && f.GetResourceFieldRef() != nil:
		errs = append(errs, apierrors.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
	case f.GetFieldRef() != nil:
		errs = append(errs, validateObjectFieldSelector(f.GetFieldRef(), downwardAPIVolumeFieldPaths, child(p, "fieldRef"))...)
	case f.GetResourceFieldRef() != nil:
		errs = append(errs, validateResourceFieldSelector(f.GetResourceFieldRef(), true, child(p, "resourceFieldRef"))...)
	default:
		errs = append(errs, apierrors.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, validateVolumeMode(f.Mode, child(p, "mode"))...)
}

// maxTokenExpirationSeconds bounds a projected token's requested lifetime (2^32 s, as Kubernetes).
const maxTokenExpirationSeconds = 1 << 32

// validateProjectionSources checks each source of a projected volume (exactly one kind per
// source) and that no two write the same path.
func validateProjectionSources(sources []*corev1.VolumeProjection, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	paths := map[string]bool{}
	addPath := func(path, fp string) {
		if paths[path] {
			errs = append(errs, apierrors.Invalid(fp, path, "conflicting duplicate paths"))
		}
		paths[path] = true
	}
	for i, src := range sources {
		sp := index(p, i)
		n := 0
		if s := src.GetSecret(); s != nil {
			n++
			fp := child(sp, "secret")
			if s.GetName() == "" {
				errs = append(errs, apierrors.Required(child(fp, "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(s.Items, child(fp, "items"))...)
			for j, it := range s.Items {
				addPath(it.GetPath(), child(index(child(fp, "items"), j), "path"))
			}
		}
		if c := src.GetConfigMap(); c != nil {
			n++
			fp := child(sp, "configMap")
			if c.GetName() == "" {
				errs = append(errs, apierrors.Required(child(fp, "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(c.Items, child(fp, "items"))...)
			for j, it := range c.Items {
				addPath(it.GetPath(), child(index(child(fp, "items"), j), "path"))
			}
		}
		if d := src.GetDownwardAPI(); d != nil {
			n++
			fp := child(sp, "downwardAPI")
			for j, f := range d.Items {
				ip := index(child(fp, "items"), j)
				errs = append(errs, validateDownwardAPIVolumeFile(f, ip)...)
				addPath(f.GetPath(), child(ip, "path"))
			}
		}
		if t := src.GetServiceAccountToken(); t != nil {
			n++
			fp := child(sp, "serviceAccountToken")
			if e := t.GetExpirationSeconds(); t.ExpirationSeconds != nil && e < 10*60 {
				errs = append(errs, apierrors.Invalid(child(fp, "expirationSeconds"), e, "may not specify a duration less than 10 minutes"))
			} else if e > maxTokenExpirationSeconds {
				errs = append(errs, apierrors.Invalid(child(fp, "expirationSeconds"), e, "may not specify a duration larger than 2^32 seconds"))
			}
			if t.GetPath() == "" {
				errs = append(errs, apierrors.Required(child(fp, "path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(t.GetPath(), child(fp, "path"))...)
				addPath(t.GetPath(), child(fp, "path"))
			}
		}
		if n > 1 {
			errs = append(errs, apierrors.Forbidden(sp, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

// validateLocalNonReservedPath is a relative path without '..' that does not start with
// '..', which the kubelet's atomic writer reserves (..data).
func validateLocalNonReservedPath(target, p string) apierrors.FieldErrors {
	errs := validateLocalDescendingPath(target, p)
	if strings.HasPrefix(target, "..") {
		errs = append(errs, apierrors.Invalid(p, target, "must not start with '..'"))
	}
	return errs
}

func validateVolumeMode(mode *int32, p string) apierrors.FieldErrors {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		return apierrors.FieldErrors{apierrors.Invalid(p, int64(*mode), fileModeErrorMsg)}
	}
	return nil
}

func validateKeyToPaths(items []*corev1.KeyToPath, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, it := range items {
		ip := index(p, i)
		if it.GetKey() == "" {
			errs = append(errs, apierrors.Required(child(ip, "key"), ""))
		} else {
			for _, msg := range isConfigMapKey(it.GetKey()) {
				errs = append(errs, apierrors.Invalid(child(ip, "key"), it.GetKey(), msg))
			}
		}
		if it.GetPath() == "" {
			errs = append(errs, apierrors.Required(child(ip, "path"), ""))
		} else {
			errs = append(errs, validateLocalNonReservedPath(it.GetPath(), child(ip, "path"))...)
		}
		errs = append(errs, validateVolumeMode(it.Mode, child(ip, "mode"))...)
	}
	return errs
}

func validatePathNoBacksteps(target, p string) apierrors.FieldErrors {
	for _, item := range strings.Split(target, "/") {
		if item == ".." {
			return apierrors.FieldErrors{apierrors.Invalid(p, target, "must not contain '..'")}
		}
	}
	return nil
}

func validateLocalDescendingPath(target, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if strings.HasPrefix(target, "/") {
		errs = append(errs, apierrors.Invalid(p, target, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(target, p)...)
}

// ---- containers ----

func validateContainers(spec *corev1.PodSpec, volumes map[string]bool, p string, opts podOpts) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if len(spec.Containers) == 0 {
		errs = append(errs, apierrors.Required(child(p, "containers"), ""))
	}
	names := map[string]bool{}
	hostPorts := map[string]bool{}
	for i, c := range spec.Containers {
		errs = append(errs, validateContainer(c, spec, volumes, names, hostPorts, index(child(p, "containers"), i), false, opts)...)
	}
	// Init containers run before the others: they may reuse their host ports.
	initHostPorts := map[string]bool{}
	for i, c := range spec.InitContainers {
		errs = append(errs, validateContainer(c, spec, volumes, names, initHostPorts, index(child(p, "initContainers"), i), true, opts)...)
	}
	return errs
}

func validateContainer(c *corev1.Container, spec *corev1.PodSpec, volumes, names, hostPorts map[string]bool, p string, isInit bool, opts podOpts) apierrors.FieldErrors {
	if c == nil {
		c = &corev1.Container{}
	}
	var errs apierrors.FieldErrors
	switch {
	case c.Name == "":
		errs = append(errs, apierrors.Required(child(p, "name"), ""))
	case names[c.Name]:
		errs = append(errs, apierrors.Duplicate(child(p, "name"), c.Name))
	default:
		errs = append(errs, validateDNS1123Label(c.Name, child(p, "name"))...)
		names[c.Name] = true
	}
	if c.Image == "" {
		errs = append(errs, apierrors.Required(child(p, "image"), ""))
	} else if opts.isPod && strings.TrimSpace(c.Image) != c.Image {
		errs = append(errs, apierrors.Invalid(child(p, "image"), c.Image, "must not have leading or trailing whitespace"))
	}
	errs = append(errs, validateEnum(c.ImagePullPolicy, pullPolicies, child(p, "imagePullPolicy"))...)
	errs = append(errs, validateEnum(c.TerminationMessagePolicy, terminationMessagePolices, child(p, "terminationMessagePolicy"))...)
	errs = append(errs, validateContainerPorts(c.Ports, hostPorts, child(p, "ports"))...)
	errs = append(errs, validateEnv(c.Env, child(p, "env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, child(p, "envFrom"))...)
	errs = append(errs, validateVolumeMounts(c.VolumeMounts, volumes, child(p, "volumeMounts"))...)
	errs = append(errs, validateResources(c.Resources, child(p, "resources"))...)
	errs = append(errs, validateContainerSecurityContext(c.SecurityContext, child(p, "securityContext"))...)

	sidecar := false
	if c.RestartPolicy != nil {
		if !isInit {
			errs = append(errs, apierrors.Forbidden(child(p, "restartPolicy"), "may not be set for non-init containers"))
		} else if *c.RestartPolicy != "Always" {
			errs = append(errs, apierrors.NotSupported(child(p, "restartPolicy"), *c.RestartPolicy, []string{"Always"}))
		} else {
			sidecar = true
		}
	}
	grace := spec.TerminationGracePeriodSeconds
	probes := []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
	for _, pr := range probes {
		if pr.probe == nil {
			continue
		}
		pp := child(p, pr.name)
		if isInit && !sidecar {
			errs = append(errs, apierrors.Forbidden(pp, "may not be set for init containers without restartPolicy=Always"))
			continue
		}
		errs = append(errs, validateProbe(pr.probe, grace, pp)...)
		if pr.name != "readinessProbe" && pr.probe.SuccessThreshold != 1 {
			errs = append(errs, apierrors.Invalid(child(pp, "successThreshold"), int64(pr.probe.SuccessThreshold), "must be 1"))
		}
	}
	if lc := c.Lifecycle; lc != nil {
		lp := child(p, "lifecycle")
		if isInit && !sidecar {
			errs = append(errs, apierrors.Forbidden(lp, "may not be set for init containers without restartPolicy=Always"))
		} else {
			if lc.PostStart != nil {
				errs = append(errs, validateLifecycleHandler(lc.PostStart, grace, child(lp, "postStart"))...)
			}
			if lc.PreStop != nil {
				errs = append(errs, validateLifecycleHandler(lc.PreStop, grace, child(lp, "preStop"))...)
			}
		}
	}
	return errs
}

// validateEnum checks a defaulted enumerated field: required, and one of valid.
func validateEnum(value string, valid []string, p string) apierrors.FieldErrors {
	switch {
	case value == "":
		return apierrors.FieldErrors{apierrors.Required(p, "")}
	case !slices.Contains(valid, value):
		return apierrors.FieldErrors{apierrors.NotSupported(p, value, valid)}
	}
	return nil
}

func validateContainerPorts(ports []*corev1.ContainerPort, hostPorts map[string]bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	names := map[string]bool{}
	for i, port := range ports {
		pp := index(p, i)
		if name := port.GetName(); name != "" {
			if msgs := IsValidPortName(name); len(msgs) > 0 {
				for _, msg := range msgs {
					errs = append(errs, apierrors.Invalid(child(pp, "name"), name, msg))
				}
			} else if names[name] {
				errs = append(errs, apierrors.Duplicate(child(pp, "name"), name))
			} else {
				names[name] = true
			}
		}
		if port.GetContainerPort() == 0 {
			errs = append(errs, apierrors.Required(child(pp, "containerPort"), ""))
		} else {
			for _, msg := range isValidPortNum(int(port.GetContainerPort())) {
				errs = append(errs, apierrors.Invalid(child(pp, "containerPort"), int64(port.GetContainerPort()), msg))
			}
		}
		if hp := port.GetHostPort(); hp != 0 {
			for _, msg := range isValidPortNum(int(hp)) {
				errs = append(errs, apierrors.Invalid(child(pp, "hostPort"), int64(hp), msg))
			}
			id := fmt.Sprintf("%s/%s/%d", port.GetHostIP(), port.GetProtocol(), hp)
			if hostPorts[id] {
				errs = append(errs, apierrors.Duplicate(child(pp, "hostPort"), id))
			}
			hostPorts[id] = true
		}
		if port.GetHostIP() != "" {
			errs = append(errs, validIP(port.GetHostIP(), child(pp, "hostIP"))...)
		}
		errs = append(errs, validateEnum(port.GetProtocol(), portProtocols, child(pp, "protocol"))...)
	}
	return errs
}

func validateEnv(vars []*corev1.EnvVar, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, ev := range vars {
		ep := index(p, i)
		if ev.GetName() == "" {
			errs = append(errs, apierrors.Required(child(ep, "name"), ""))
		} else {
			for _, msg := range IsEnvVarName(ev.GetName()) {
				errs = append(errs, apierrors.Invalid(child(ep, "name"), ev.GetName(), msg))
			}
		}
		if ev.GetValueFrom() != nil {
			errs = append(errs, validateEnvVarValueFrom(ev, child(ep, "valueFrom"))...)
		}
	}
	return errs
}

var downwardAPISubscriptRegexp = regexp.MustCompile(`^metadata\.(labels|annotations)\['(.*)'\]$`)

func validateEnvVarValueFrom(ev *corev1.EnvVar, p string) apierrors.FieldErrors {
	from := ev.GetValueFrom()
	var errs apierrors.FieldErrors
	n := 0
	if ref := from.GetFieldRef(); ref != nil {
		n++
		errs = append(errs, validateObjectFieldSelector(ref, downwardAPIEnvFieldPaths, child(p, "fieldRef"))...)
	}
	if ref := from.GetResourceFieldRef(); ref != nil {
		n++
		errs = append(errs, validateResourceFieldSelector(ref, false, child(p, "resourceFieldRef"))...)
	}
	if ref := from.GetConfigMapKeyRef(); ref != nil {
		n++
		errs = append(errs, validateKeySelector(ref.GetName(), ref.GetKey(), child(p, "configMapKeyRef"))...)
	}
	if ref := from.GetSecretKeyRef(); ref != nil {
		n++
		errs = append(errs, validateKeySelector(ref.GetName(), ref.GetKey(), child(p, "secretKeyRef"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, apierrors.Invalid(p, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case n > 1:
		errs = append(errs, apierrors.Invalid(p, "", "may not have more than one field specified at a time"))
	}
	if ev.GetValue() != "" && n > 0 {
		errs = append(errs, apierrors.Invalid(p, "", "may not be specified when `value` is not empty"))
	}
	return errs
}

// validateObjectFieldSelector checks a downward API fieldRef: a path of valid, or a label or
// annotation by key (metadata.labels['KEY']).
func validateObjectFieldSelector(ref *corev1.ObjectFieldSelector, valid []string, fp string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	switch {
	case ref.GetApiVersion() == "":
		errs = append(errs, apierrors.Required(child(fp, "apiVersion"), ""))
	case ref.GetFieldPath() == "":
		errs = append(errs, apierrors.Required(child(fp, "fieldPath"), ""))
	case ref.GetApiVersion() != "v1":
		errs = append(errs, apierrors.Invalid(child(fp, "fieldPath"), ref.GetFieldPath(), "error converting fieldPath: unsupported pod version: "+ref.GetApiVersion()))
	default:
		if m := downwardAPISubscriptRegexp.FindStringSubmatch(ref.GetFieldPath()); m != nil {
			k := m[2]
			if m[1] == "annotations" {
				k = strings.ToLower(k)
			}
			for _, msg := range isQualifiedName(k) {
				errs = append(errs, apierrors.Invalid(child(fp, "fieldPath"), ref.GetFieldPath(), "invalid key: "+msg))
			}
		} else if !slices.Contains(valid, ref.GetFieldPath()) {
			errs = append(errs, apierrors.NotSupported(child(fp, "fieldPath"), ref.GetFieldPath(), valid))
		}
	}
	return errs
}

// validateResourceFieldSelector checks a downward API resourceFieldRef; a volume's file must
// name its container, since a volume belongs to no one container.
func validateResourceFieldSelector(ref *corev1.ResourceFieldSelector, volume bool, rp string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if volume && ref.GetContainerName() == "" {
		errs = append(errs, apierrors.Required(child(rp, "containerName"), ""))
	}
	if ref.GetResource() == "" {
		errs = append(errs, apierrors.Required(child(rp, "resource"), ""))
	} else if !slices.Contains(downwardAPIEnvResources, ref.GetResource()) &&
		!strings.HasPrefix(ref.GetResource(), "limits.hugepages-") && !strings.HasPrefix(ref.GetResource(), "requests.hugepages-") {
		errs = append(errs, apierrors.NotSupported(child(rp, "resource"), ref.GetResource(), downwardAPIEnvResources))
	}
	if ref.GetDivisor() != nil {
		_, qerrs := validateQuantity(ref.GetDivisor(), child(rp, "divisor"))
		errs = append(errs, qerrs...)
	}
	return errs
}

func validateKeySelector(name, k, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if name == "" {
		errs = append(errs, apierrors.Required(child(p, "name"), ""))
	}
	if k == "" {
		errs = append(errs, apierrors.Required(child(p, "key"), ""))
	} else {
		for _, msg := range isConfigMapKey(k) {
			errs = append(errs, apierrors.Invalid(child(p, "key"), k, msg))
		}
	}
	return errs
}

func validateEnvFrom(sources []*corev1.EnvFromSource, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, s := range sources {
		sp := index(p, i)
		if s.GetPrefix() != "" {
			for _, msg := range IsEnvVarName(s.GetPrefix()) {
				errs = append(errs, apierrors.Invalid(child(sp, "prefix"), s.GetPrefix(), msg))
			}
		}
		n := 0
		if ref := s.GetConfigMapRef(); ref != nil {
			n++
			if ref.GetName() == "" {
				errs = append(errs, apierrors.Required(child(child(sp, "configMapRef"), "name"), ""))
			}
		}
		if ref := s.GetSecretRef(); ref != nil {
			n++
			if ref.GetName() == "" {
				errs = append(errs, apierrors.Required(child(child(sp, "secretRef"), "name"), ""))
			}
		}
		switch {
		case n == 0:
			errs = append(errs, apierrors.Invalid(sp, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, apierrors.Invalid(sp, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func validateVolumeMounts(mounts []*corev1.VolumeMount, volumes map[string]bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	paths := map[string]bool{}
	for i, m := range mounts {
		mp := index(p, i)
		if m.GetName() == "" {
			errs = append(errs, apierrors.Required(child(mp, "name"), ""))
		} else if !volumes[m.GetName()] {
			// Kubernetes reports "Not found", a cause type kubelab's apierrors lacks.
			errs = append(errs, apierrors.Invalid(child(mp, "name"), m.GetName(), "not found: must be the name of a volume in the pod's volumes"))
		}
		if m.GetMountPath() == "" {
			errs = append(errs, apierrors.Required(child(mp, "mountPath"), ""))
		} else if paths[m.GetMountPath()] {
			errs = append(errs, apierrors.Invalid(child(mp, "mountPath"), m.GetMountPath(), "must be unique"))
		}
		paths[m.GetMountPath()] = true
		if m.GetSubPath() != "" {
			errs = append(errs, validateLocalDescendingPath(m.GetSubPath(), child(mp, "subPath"))...)
		}
	}
	return errs
}

func validateContainerSecurityContext(sc *corev1.SecurityContext, p string) apierrors.FieldErrors {
	if sc == nil {
		return nil
	}
	var errs apierrors.FieldErrors
	if sc.RunAsUser != nil {
		errs = append(errs, validID(*sc.RunAsUser, child(p, "runAsUser"))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, validID(*sc.RunAsGroup, child(p, "runAsGroup"))...)
	}
	if sc.GetPrivileged() && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		errs = append(errs, apierrors.Invalid(p, bare("privileged: true, allowPrivilegeEscalation: false"), "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
	}
	return errs
}

// ---- resources ----

// isNativeResource: a name without a domain, or in the kubernetes.io domain.
func isNativeResource(name string) bool {
	return !strings.Contains(name, "/") || strings.Contains(name, "kubernetes.io/")
}

func isHugePageResource(name string) bool { return strings.HasPrefix(name, "hugepages-") }

// isOvercommitAllowed: requests may be below limits for native resources but hugepages.
func isOvercommitAllowed(name string) bool {
	return isNativeResource(name) && !isHugePageResource(name)
}

func isStandardContainerResource(name string) bool {
	return name == "cpu" || name == "memory" || name == "ephemeral-storage" || isHugePageResource(name)
}

func validateContainerResourceName(name, p string) apierrors.FieldErrors {
	errs := validateLabelName(name, p)
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(name, "/") {
		if !isStandardContainerResource(name) {
			errs = append(errs, apierrors.Invalid(p, name, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && strings.HasPrefix(name, "requests.") {
		errs = append(errs, apierrors.Invalid(p, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

func validateResources(r *corev1.ResourceRequirements, p string) apierrors.FieldErrors {
	if r == nil {
		return nil
	}
	var errs apierrors.FieldErrors
	limPath, reqPath := child(p, "limits"), child(p, "requests")
	limits := map[string]quantity{}
	for _, name := range sortedKeys(r.Limits) {
		kp := key(limPath, name)
		errs = append(errs, validateContainerResourceName(name, kp)...)
		q, qerrs := validateQuantity(r.Limits[name], kp)
		errs = append(errs, qerrs...)
		if qerrs == nil {
			limits[name] = q
			if !isNativeResource(name) && !q.isInteger() {
				errs = append(errs, apierrors.Invalid(kp, q.text, isNotIntegerErrorMsg))
			}
		}
	}
	for _, name := range sortedKeys(r.Requests) {
		kp := key(reqPath, name)
		errs = append(errs, validateContainerResourceName(name, kp)...)
		q, qerrs := validateQuantity(r.Requests[name], kp)
		errs = append(errs, qerrs...)
		if qerrs != nil {
			continue
		}
		if !isNativeResource(name) && !q.isInteger() {
			errs = append(errs, apierrors.Invalid(kp, q.text, isNotIntegerErrorMsg))
		}
		lim, hasLimit := limits[name]
		_, limitWritten := r.Limits[name]
		switch {
		case hasLimit && !isOvercommitAllowed(name) && q.cmp(lim) != 0:
			errs = append(errs, apierrors.Invalid(reqPath, q.text, fmt.Sprintf("must be equal to %s limit of %s", name, lim.text)))
		case hasLimit && q.cmp(lim) > 0:
			errs = append(errs, apierrors.Invalid(reqPath, q.text, fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.text)))
		case !limitWritten && !isOvercommitAllowed(name):
			errs = append(errs, apierrors.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	return errs
}

// ---- probes and handlers ----

func validateProbe(pr *corev1.Probe, grace *int64, p string) apierrors.FieldErrors {
	errs := validateHandler(pr.Exec, pr.HttpGet, pr.TcpSocket, pr.Grpc, nil, grace, p)
	errs = append(errs, nonNegative(int64(pr.InitialDelaySeconds), child(p, "initialDelaySeconds"))...)
	for _, f := range []struct {
		name  string
		value int32
	}{
		{"timeoutSeconds", pr.TimeoutSeconds},
		{"periodSeconds", pr.PeriodSeconds},
		{"successThreshold", pr.SuccessThreshold},
		{"failureThreshold", pr.FailureThreshold},
	} {
		if f.value < 1 {
			errs = append(errs, apierrors.Invalid(child(p, f.name), int64(f.value), "must be greater than or equal to 1"))
		}
	}
	if pr.TerminationGracePeriodSeconds != nil && *pr.TerminationGracePeriodSeconds <= 0 {
		errs = append(errs, apierrors.Invalid(child(p, "terminationGracePeriodSeconds"), *pr.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	return errs
}

func validateLifecycleHandler(h *corev1.LifecycleHandler, grace *int64, p string) apierrors.FieldErrors {
	return validateHandler(h.Exec, h.HttpGet, h.TcpSocket, nil, h.Sleep, grace, p)
}

// validateHandler checks that exactly one action is set, and the action.
func validateHandler(exec *corev1.ExecAction, httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction,
	grpc *corev1.GRPCAction, sleep *corev1.SleepAction, grace *int64, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	n := 0
	one := func(field string) bool {
		n++
		if n > 1 {
			errs = append(errs, apierrors.Forbidden(child(p, field), "may not specify more than 1 handler type"))
			return false
		}
		return true
	}
	if exec != nil && one("exec") {
		if len(exec.Command) == 0 {
			errs = append(errs, apierrors.Required(child(child(p, "exec"), "command"), ""))
		}
	}
	if httpGet != nil && one("httpGet") {
		hp := child(p, "httpGet")
		if httpGet.Path == "" {
			errs = append(errs, apierrors.Required(child(hp, "path"), ""))
		}
		errs = append(errs, validatePortNumOrName(httpGet.Port, child(hp, "port"))...)
		if !slices.Contains(httpSchemes, httpGet.Scheme) {
			errs = append(errs, apierrors.NotSupported(child(hp, "scheme"), httpGet.Scheme, httpSchemes))
		}
		for i, h := range httpGet.HttpHeaders {
			for _, msg := range isHTTPHeaderName(h.GetName()) {
				errs = append(errs, apierrors.Invalid(child(index(child(hp, "httpHeaders"), i), "name"), h.GetName(), msg))
			}
		}
	}
	if tcp != nil && one("tcpSocket") {
		errs = append(errs, validatePortNumOrName(tcp.Port, child(child(p, "tcpSocket"), "port"))...)
	}
	if grpc != nil && one("grpc") {
		for _, msg := range isValidPortNum(int(grpc.Port)) {
			errs = append(errs, apierrors.Invalid(child(child(p, "grpc"), "port"), int64(grpc.Port), msg))
		}
	}
	if sleep != nil && one("sleep") {
		if sleep.Seconds < 0 || (grace != nil && sleep.Seconds > *grace) {
			g := int64(30)
			if grace != nil {
				g = *grace
			}
			errs = append(errs, apierrors.Invalid(child(child(p, "sleep"), "seconds"), sleep.Seconds,
				fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", g)))
		}
	}
	if n == 0 {
		errs = append(errs, apierrors.Required(p, "must specify a handler type"))
	}
	return errs
}

func validatePortNumOrName(port *metav1.IntOrString, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if port.GetType() == 1 {
		for _, msg := range IsValidPortName(port.GetStrVal()) {
			errs = append(errs, apierrors.Invalid(p, port.GetStrVal(), msg))
		}
		return errs
	}
	for _, msg := range isValidPortNum(int(port.GetIntVal())) {
		errs = append(errs, apierrors.Invalid(p, int64(port.GetIntVal()), msg))
	}
	return errs
}

// ---- tolerations and affinity ----

// ValidateTolerations checks pod tolerations: qualified keys, operator Equal (or empty) or
// Exists, valid effects, and tolerationSeconds only with NoExecute.
func ValidateTolerations(tolerations []*corev1.Toleration, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, t := range tolerations {
		tp := index(p, i)
		if t.GetKey() != "" {
			errs = append(errs, validateLabelName(t.GetKey(), child(tp, "key"))...)
		}
		if t.GetKey() == "" && t.GetOperator() != "Exists" {
			errs = append(errs, apierrors.Invalid(child(tp, "operator"), t.GetOperator(),
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.GetEffect() != "NoExecute" {
			errs = append(errs, apierrors.Invalid(child(tp, "effect"), t.GetEffect(), "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.GetOperator() {
		case "Equal", "":
			if msgs := isValidLabelValue(t.GetValue()); len(msgs) > 0 {
				errs = append(errs, apierrors.Invalid(child(tp, "operator"), t.GetValue(), strings.Join(msgs, ";")))
			}
		case "Exists":
			if t.GetValue() != "" {
				errs = append(errs, apierrors.Invalid(child(tp, "operator"), t.GetValue(), "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, apierrors.NotSupported(child(tp, "operator"), t.GetOperator(), tolerationOperators))
		}
		if e := t.GetEffect(); e != "" && !slices.Contains(taintEffects, e) {
			errs = append(errs, apierrors.NotSupported(child(tp, "effect"), e, taintEffects))
		}
	}
	return errs
}

func validateAffinity(a *corev1.Affinity, p string) apierrors.FieldErrors {
	if a == nil {
		return nil
	}
	var errs apierrors.FieldErrors
	if na := a.NodeAffinity; na != nil {
		np := child(p, "nodeAffinity")
		if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			rp := child(child(np, "requiredDuringSchedulingIgnoredDuringExecution"), "nodeSelectorTerms")
			if len(req.NodeSelectorTerms) == 0 {
				errs = append(errs, apierrors.Required(rp, "must have at least one node selector term"))
			}
			for i, t := range req.NodeSelectorTerms {
				errs = append(errs, validateNodeSelectorTerm(t, index(rp, i))...)
			}
		}
		pp := child(np, "preferredDuringSchedulingIgnoredDuringExecution")
		for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			errs = append(errs, validateWeight(t.GetWeight(), child(index(pp, i), "weight"))...)
			errs = append(errs, validateNodeSelectorTerm(t.GetPreference(), child(index(pp, i), "preference"))...)
		}
	}
	for _, pa := range []struct {
		name      string
		required  []*corev1.PodAffinityTerm
		preferred []*corev1.WeightedPodAffinityTerm
	}{
		{"podAffinity", a.GetPodAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution(), a.GetPodAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution()},
		{"podAntiAffinity", a.GetPodAntiAffinity().GetRequiredDuringSchedulingIgnoredDuringExecution(), a.GetPodAntiAffinity().GetPreferredDuringSchedulingIgnoredDuringExecution()},
	} {
		ap := child(p, pa.name)
		for i, t := range pa.required {
			errs = append(errs, validatePodAffinityTerm(t, index(child(ap, "requiredDuringSchedulingIgnoredDuringExecution"), i))...)
		}
		for i, t := range pa.preferred {
			wp := index(child(ap, "preferredDuringSchedulingIgnoredDuringExecution"), i)
			errs = append(errs, validateWeight(t.GetWeight(), child(wp, "weight"))...)
			errs = append(errs, validatePodAffinityTerm(t.GetPodAffinityTerm(), child(wp, "podAffinityTerm"))...)
		}
	}
	return errs
}

var (
	unsatisfiableActions  = []string{"DoNotSchedule", "ScheduleAnyway"}
	nodeInclusionPolicies = []string{"Honor", "Ignore"}
)

// validateTopologySpreadConstraints is kube-apiserver 1.32's validateTopologySpreadConstraints:
// like it, the topologyKey only has to be non-empty (a key no node label has matches no
// domain), and {topologyKey, whenUnsatisfiable} names one constraint.
func validateTopologySpreadConstraints(constraints []*corev1.TopologySpreadConstraint, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, c := range constraints {
		cp := index(p, i)
		if c.GetMaxSkew() <= 0 {
			errs = append(errs, apierrors.Invalid(child(cp, "maxSkew"), int64(c.GetMaxSkew()), "must be greater than zero"))
		}
		if c.GetTopologyKey() == "" {
			errs = append(errs, apierrors.Required(child(cp, "topologyKey"), "can not be empty"))
		}
		if !slices.Contains(unsatisfiableActions, c.GetWhenUnsatisfiable()) {
			errs = append(errs, apierrors.NotSupported(child(cp, "whenUnsatisfiable"), c.GetWhenUnsatisfiable(), unsatisfiableActions))
		}
		for _, rest := range constraints[i+1:] {
			if c.GetTopologyKey() == rest.GetTopologyKey() && c.GetWhenUnsatisfiable() == rest.GetWhenUnsatisfiable() {
				errs = append(errs, apierrors.Duplicate(child(cp, "{topologyKey, whenUnsatisfiable}"),
					fmt.Sprintf("{%s, %s}", c.GetTopologyKey(), c.GetWhenUnsatisfiable())))
				break
			}
		}
		if c.MinDomains != nil {
			if *c.MinDomains <= 0 {
				errs = append(errs, apierrors.Invalid(child(cp, "minDomains"), int64(*c.MinDomains), "must be greater than zero"))
			}
			if a := c.GetWhenUnsatisfiable(); a != "DoNotSchedule" {
				errs = append(errs, apierrors.Invalid(child(cp, "minDomains"), int64(*c.MinDomains),
					fmt.Sprintf("can only use minDomains if whenUnsatisfiable=DoNotSchedule, not %s", a)))
			}
		}
		for _, f := range []struct {
			name   string
			policy *string
		}{{"nodeAffinityPolicy", c.NodeAffinityPolicy}, {"nodeTaintsPolicy", c.NodeTaintsPolicy}} {
			if f.policy != nil && !slices.Contains(nodeInclusionPolicies, *f.policy) {
				errs = append(errs, apierrors.NotSupported(child(cp, f.name), *f.policy, nodeInclusionPolicies))
			}
		}
		errs = append(errs, validateMatchLabelKeys(c.GetMatchLabelKeys(), c.GetLabelSelector(), child(cp, "matchLabelKeys"))...)
		errs = append(errs, ValidateLabelSelector(c.GetLabelSelector(), child(cp, "labelSelector"))...)
	}
	return errs
}

// validateMatchLabelKeys: label keys, only beside a labelSelector and none of its keys.
func validateMatchLabelKeys(keys []string, sel *metav1.LabelSelector, p string) apierrors.FieldErrors {
	if len(keys) == 0 {
		return nil
	}
	var errs apierrors.FieldErrors
	inSelector := map[string]bool{}
	if sel == nil {
		errs = append(errs, apierrors.Forbidden(p, "must not be specified when labelSelector is not set"))
	} else {
		for k := range sel.MatchLabels {
			inSelector[k] = true
		}
		for _, r := range sel.MatchExpressions {
			inSelector[r.GetKey()] = true
		}
	}
	for i, k := range keys {
		errs = append(errs, validateLabelName(k, index(p, i))...)
		if inSelector[k] {
			errs = append(errs, apierrors.Invalid(index(p, i), k, "exists in both matchLabelKeys and labelSelector"))
		}
	}
	return errs
}

func validateWeight(w int32, p string) apierrors.FieldErrors {
	if w <= 0 || w > 100 {
		return apierrors.FieldErrors{apierrors.Invalid(p, int64(w), "must be in the range 1-100")}
	}
	return nil
}

func validateNodeSelectorTerm(t *corev1.NodeSelectorTerm, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, r := range t.GetMatchExpressions() {
		rp := index(child(p, "matchExpressions"), i)
		switch r.GetOperator() {
		case "In", "NotIn":
			if len(r.GetValues()) == 0 {
				errs = append(errs, apierrors.Required(child(rp, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
			}
		case "Exists", "DoesNotExist":
			if len(r.GetValues()) > 0 {
				errs = append(errs, apierrors.Forbidden(child(rp, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			}
		case "Gt", "Lt":
			if len(r.GetValues()) != 1 {
				errs = append(errs, apierrors.Required(child(rp, "values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
			}
		default:
			errs = append(errs, apierrors.Invalid(child(rp, "operator"), r.GetOperator(), "not a valid selector operator"))
		}
		errs = append(errs, validateLabelName(r.GetKey(), child(rp, "key"))...)
	}
	for i, r := range t.GetMatchFields() {
		rp := index(child(p, "matchFields"), i)
		if r.GetKey() != "metadata.name" {
			errs = append(errs, apierrors.NotSupported(child(rp, "key"), r.GetKey(), []string{"metadata.name"}))
		}
		switch r.GetOperator() {
		case "In", "NotIn":
			if len(r.GetValues()) != 1 {
				errs = append(errs, apierrors.Required(child(rp, "values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
			}
		default:
			errs = append(errs, apierrors.Invalid(child(rp, "operator"), r.GetOperator(), "not a valid selector operator"))
		}
	}
	return errs
}

func validatePodAffinityTerm(t *corev1.PodAffinityTerm, p string) apierrors.FieldErrors {
	errs := ValidateLabelSelector(t.GetLabelSelector(), child(p, "labelSelector"))
	for i, ns := range t.GetNamespaces() {
		errs = append(errs, validateDNS1123Label(ns, index(child(p, "namespaces"), i))...)
	}
	if t.GetTopologyKey() == "" {
		errs = append(errs, apierrors.Required(child(p, "topologyKey"), "can not be empty"))
	} else {
		errs = append(errs, validateLabelName(t.GetTopologyKey(), child(p, "topologyKey"))...)
	}
	return errs
}

// validateEphemeralVolumeSource: a claim template is required, its spec is checked as a
// claim's, and its metadata may carry only labels and annotations (upstream's
// ValidateTemplateObjectMeta), as the claim's name, namespace and owner come from the pod.
func validateEphemeralVolumeSource(e *corev1.EphemeralVolumeSource, p string) apierrors.FieldErrors {
	t := e.GetVolumeClaimTemplate()
	tp := child(p, "volumeClaimTemplate")
	if t == nil {
		return apierrors.FieldErrors{apierrors.Required(tp, "")}
	}
	mp := child(tp, "metadata")
	errs := ValidateAnnotations(t.GetMetadata().GetAnnotations(), child(mp, "annotations"))
	errs = append(errs, ValidateLabels(t.GetMetadata().GetLabels(), child(mp, "labels"))...)
	if m := t.GetMetadata(); m != nil {
		rest := proto.Clone(m).(*metav1.ObjectMeta)
		rest.Labels, rest.Annotations = nil, nil
		// Every other set field is refused by name, so a field ObjectMeta gains later is
		// refused too rather than silently dropped.
		rest.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			errs = append(errs, apierrors.Forbidden(child(mp, fd.JSONName()), "cannot be set for an ephemeral volume"))
			return true
		})
	}
	return append(errs, validatePersistentVolumeClaimSpec(t.GetSpec(), child(tp, "spec"))...)
}
