// Package serviceaccount is the ServiceAccount admission plugin: every pod runs as a service
// account that exists ("default" unless it names one), and, unless the pod or its account
// opts out, gets that account's token mounted where client libraries look for it, in a
// projected volume the kubelet fills (a token bound to the pod, the cluster CA, the
// namespace).
package serviceaccount

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
)

// PluginName is the name used in --enable-admission-plugins.
const PluginName = "ServiceAccount"

const (
	// DefaultServiceAccountName is the account a pod that names none runs as; the
	// controller-manager keeps one in every namespace.
	DefaultServiceAccountName = "default"
	// TokenMountPath is where client libraries (client-go's in-cluster config, ours) read
	// the token, the CA and the namespace.
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// TokenVolumePrefix starts the name of the projected volume the plugin adds; a pod that
	// has such a volume already (one created from a manifest read back) keeps it.
	TokenVolumePrefix = "kube-api-access-"
	// RootCAConfigMap is the ConfigMap, in every namespace, that holds the cluster CA.
	RootCAConfigMap = "kube-root-ca.crt"
	// tokenExpirationSeconds is a little over an hour, as Kubernetes asks: the odd seconds
	// let the token's issuer tell a kubelet-mounted token from a requested one.
	tokenExpirationSeconds = 3607
	// mirrorPodAnnotation marks a kubelet's static pod: it may not use service accounts,
	// since the kubelet, not the API, defined it.
	mirrorPodAnnotation = "kubernetes.io/config.mirror"
)

// Getter reads a service account: from the watch cache, falling back to etcd, so an account
// created a moment ago is found.
type Getter func(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)

// Plugin is the ServiceAccount admission plugin.
type Plugin struct {
	get Getter
	// suffix names the token volume (five random characters after the prefix).
	suffix func(base string) string
}

// New returns the plugin; generateName appends a random suffix to a name, as generateName
// does for objects.
func New(get Getter, generateName func(base string) string) *Plugin {
	return &Plugin{get: get, suffix: generateName}
}

func (p *Plugin) Name() string { return PluginName }

func (p *Plugin) Handles(op admission.Operation) bool { return op == admission.Create }

// applies is a pod create itself: subresources (binding, eviction) act on a pod admitted
// before.
func applies(a *admission.Attributes) (*corev1.Pod, bool) {
	if a.Resource != "pods" || a.Subresource != "" || a.Kind.Group != "" {
		return nil, false
	}
	pod, ok := a.Object.(*corev1.Pod)
	return pod, ok
}

// Admit names the default account, checks it exists, mounts its token and copies its image
// pull secrets.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	pod, ok := applies(a)
	if !ok {
		return nil
	}
	if pod.Spec == nil {
		pod.Spec = &corev1.PodSpec{}
	}
	spec := pod.Spec
	if _, mirror := pod.GetMetadata().GetAnnotations()[mirrorPodAnnotation]; mirror {
		return p.checkMirrorPod(a, spec)
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = DefaultServiceAccountName
	}
	// The deprecated field mirrors the current one, as Kubernetes writes it.
	spec.ServiceAccount = spec.ServiceAccountName
	sa, err := p.lookup(ctx, a, spec.ServiceAccountName)
	if err != nil {
		return err
	}
	if automount(sa, spec) {
		p.mountToken(spec)
	}
	if len(spec.ImagePullSecrets) == 0 && len(sa.GetImagePullSecrets()) > 0 {
		for _, s := range sa.GetImagePullSecrets() {
			spec.ImagePullSecrets = append(spec.ImagePullSecrets, &corev1.LocalObjectReference{Name: s.GetName()})
		}
	}
	return nil
}

// Validate refuses a pod whose account does not exist (a mutating webhook may have changed
// the name after Admit).
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	pod, ok := applies(a)
	if !ok {
		return nil
	}
	if _, mirror := pod.GetMetadata().GetAnnotations()[mirrorPodAnnotation]; mirror {
		return p.checkMirrorPod(a, pod.GetSpec())
	}
	_, err := p.lookup(ctx, a, pod.GetSpec().GetServiceAccountName())
	return err
}

// lookup answers Kubernetes' 403 for a missing account: the pod's creator (a ReplicaSet
// controller, say) retries, and succeeds once the account controller made "default".
func (p *Plugin) lookup(ctx context.Context, a *admission.Attributes, name string) (*corev1.ServiceAccount, error) {
	sa, err := p.get(ctx, a.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			err = fmt.Errorf("error looking up service account %s/%s: serviceaccount %q not found", a.Namespace, name, name)
		} else {
			err = fmt.Errorf("error looking up service account %s/%s: %w", a.Namespace, name, err)
		}
		return nil, apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, a.Name, err)
	}
	return sa, nil
}

// checkMirrorPod refuses a static pod that refers to API credentials: the kubelet could not
// be trusted to hand them out.
func (p *Plugin) checkMirrorPod(a *admission.Attributes, spec *corev1.PodSpec) error {
	forbid := func(msg string) error {
		return apierrors.NewForbidden(apierrors.GroupResource{Resource: "pods"}, a.Name, fmt.Errorf("%s", msg))
	}
	if spec.GetServiceAccountName() != "" {
		return forbid("a mirror pod may not reference service accounts")
	}
	for _, v := range spec.GetVolumes() {
		if v.GetSecret() != nil {
			return forbid("a mirror pod may not reference secrets")
		}
		for _, src := range v.GetProjected().GetSources() {
			if src.GetSecret() != nil || src.GetServiceAccountToken() != nil {
				return forbid("a mirror pod may not reference secrets")
			}
		}
	}
	return nil
}

// automount: the pod's own setting wins, then the account's; the default is to mount.
func automount(sa *corev1.ServiceAccount, spec *corev1.PodSpec) bool {
	if spec.AutomountServiceAccountToken != nil {
		return spec.GetAutomountServiceAccountToken()
	}
	if sa.AutomountServiceAccountToken != nil {
		return sa.GetAutomountServiceAccountToken()
	}
	return true
}

// mountToken mounts the token volume read-only at TokenMountPath in every container that
// mounts nothing there, adding the volume unless the pod has one already.
func (p *Plugin) mountToken(spec *corev1.PodSpec) {
	volume := ""
	for _, v := range spec.Volumes {
		if strings.HasPrefix(v.GetName(), TokenVolumePrefix) {
			volume = v.GetName()
			break
		}
	}
	hasVolume := volume != ""
	if !hasVolume {
		volume = p.suffix(TokenVolumePrefix)
	}
	needed := false
	for _, list := range [][]*corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			if mountsTokenPath(c) {
				continue
			}
			c.VolumeMounts = append(c.VolumeMounts, &corev1.VolumeMount{Name: volume, ReadOnly: true, MountPath: TokenMountPath})
			needed = true
		}
	}
	if needed && !hasVolume {
		spec.Volumes = append(spec.Volumes, TokenVolume(volume))
	}
}

func mountsTokenPath(c *corev1.Container) bool {
	for _, m := range c.GetVolumeMounts() {
		if m.GetMountPath() == TokenMountPath {
			return true
		}
	}
	return false
}

// TokenVolume is the projected volume a pod's token is mounted from: the token (bound to the
// pod, renewed by the kubelet), the cluster CA and the pod's namespace.
func TokenVolume(name string) *corev1.Volume {
	return &corev1.Volume{Name: name, Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: proto.Int32(0o644),
		Sources: []*corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: proto.Int64(tokenExpirationSeconds), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{Name: RootCAConfigMap, Items: []*corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []*corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{ApiVersion: "v1", FieldPath: "metadata.namespace"}},
			}}},
		},
	}}
}
