package kubelet

import (
	"context"
	"fmt"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/resource"
)

// Volumes of API data (configMap, secret, downwardAPI, projected): files the kubelet
// computes from the API and writes, read-only to containers, and rewrites while the pod
// runs (refreshVolumes) so they follow their objects, the pod's labels and annotations,
// and token renewals. A projected volume gathers secrets, configMaps, downward API files
// and service account tokens into one directory: the kube-api-access-* volume the
// ServiceAccount admission plugin gives every pod is one.

// volumeContext is what API-data volumes are computed from.
type volumeContext struct {
	// Root is the kubelet's root directory (pods' volumes live under it).
	Root string
	// Objects reads ConfigMaps and Secrets (nil: none can be read).
	Objects objectGetter
	// Tokens issues service account tokens (nil: none can be).
	Tokens *tokenManager
	// Claims reads PersistentVolumeClaims and their PVs (nil: none can be read).
	Claims claimGetter
	// Allocatable is the node's, for resourceFieldRef limits a container does not set.
	Allocatable resource.List
}

// apiVolumePlugin is the plugin directory of v when it holds API data; tmpfs says whether
// it lives in memory (everything but configMaps, as Kubernetes: secrets and tokens must
// not reach the disk, and downward API volumes are memory-backed there too).
func apiVolumePlugin(v *corev1.Volume) (plugin string, tmpfs, ok bool) {
	switch {
	case v.GetConfigMap() != nil:
		return configMapPlugin, false, true
	case v.GetSecret() != nil:
		return secretPlugin, true, true
	case v.GetDownwardAPI() != nil:
		return downwardAPIPlugin, true, true
	case v.GetProjected() != nil:
		return projectedPlugin, true, true
	}
	return "", false, false
}

// setUpAPIVolume computes the files of v, an API-data volume of pod, and writes them to
// its directory, which it returns. Nothing is created when they cannot be computed.
func setUpAPIVolume(ctx context.Context, vc volumeContext, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	plugin, tmpfs, _ := apiVolumePlugin(v)
	var files map[string]projectedFile
	var err error
	switch {
	case v.GetDownwardAPI() != nil:
		d := v.GetDownwardAPI()
		files, err = downwardAPIFiles(pod, d.GetItems(), d.DefaultMode, vc.Allocatable)
	case v.GetProjected() != nil:
		files, err = projectedFiles(ctx, vc, pod, v.GetProjected())
	default:
		files, err = objectFiles(ctx, vc.Objects, pod.GetMetadata().GetNamespace(), objectSourceOf(v))
	}
	if err != nil {
		return "", err
	}
	fsGroup := podFSGroup(pod)
	if fsGroup != nil {
		for p, f := range files {
			files[p] = projectedFile{Data: f.Data, Mode: ownedMode(f.Mode, true)}
		}
	}
	dir := volumePath(vc.Root, pod.GetMetadata().GetUid(), plugin, v.GetName())
	return dir, writeVolume(dir, tmpfs, files, fsGroup)
}

// projectedFiles is what the projected volume src of pod holds: every source's files, each
// with its item's mode, else src's defaultMode, else 0644 (a token has defaultMode). A
// missing non-optional object, a downward API file that cannot be resolved or a token the
// apiserver refuses is an error, after every source was tried, naming them all.
func projectedFiles(ctx context.Context, vc volumeContext, pod *corev1.Pod, src *corev1.ProjectedVolumeSource) (map[string]projectedFile, error) {
	ns := pod.GetMetadata().GetNamespace()
	files := map[string]projectedFile{}
	var errs []error
	add := func(fs map[string]projectedFile, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for p, f := range fs {
			files[p] = f
		}
	}
	for _, s := range src.GetSources() {
		switch {
		case s.GetSecret() != nil:
			sec := s.GetSecret()
			add(objectFiles(ctx, vc.Objects, ns, objectSource{Secret: true, Name: sec.GetName(), Items: sec.GetItems(), DefaultMode: src.DefaultMode, Optional: sec.GetOptional()}))
		case s.GetConfigMap() != nil:
			cm := s.GetConfigMap()
			add(objectFiles(ctx, vc.Objects, ns, objectSource{Name: cm.GetName(), Items: cm.GetItems(), DefaultMode: src.DefaultMode, Optional: cm.GetOptional()}))
		case s.GetDownwardAPI() != nil:
			add(downwardAPIFiles(pod, s.GetDownwardAPI().GetItems(), src.DefaultMode, vc.Allocatable))
		case s.GetServiceAccountToken() != nil:
			add(tokenFiles(ctx, vc.Tokens, pod, s.GetServiceAccountToken(), src.DefaultMode))
		}
	}
	switch len(errs) {
	case 0:
		return files, nil
	case 1:
		return nil, errs[0]
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return nil, fmt.Errorf("[%s]", strings.Join(msgs, ", "))
}

// tokenFiles is the one file of a serviceAccountToken source: a token of the pod's service
// account, bound to the pod. Its mode is defaultMode, but 0600 when the pod has an
// fsGroup, as upstream: the token is then for the owner and the fsGroup only (0640 once
// the volume is the group's), never for every user of the container.
func tokenFiles(ctx context.Context, tokens *tokenManager, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection, defaultMode *int32) (map[string]projectedFile, error) {
	p, err := projectedPath(src.GetPath())
	if err != nil {
		return nil, err
	}
	tok, err := tokens.podToken(ctx, pod, src.GetAudience(), src.GetExpirationSeconds())
	if err != nil {
		return nil, err
	}
	mode := modeOr(defaultMode, defaultProjectionMode)
	if podFSGroup(pod) != nil {
		mode = 0o600
	}
	return map[string]projectedFile{p: {Data: []byte(tok), Mode: mode}}, nil
}
