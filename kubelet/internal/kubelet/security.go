package kubelet

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
)

// effectiveSecurityContext is the security context c runs with: the pod's user, group
// and runAsNonRoot, each overridden by the container's own when it sets it (upstream's
// DetermineEffectiveSecurityContext). It never returns nil and never aliases pod or c.
func effectiveSecurityContext(pod *corev1.Pod, c *corev1.Container) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{}
	if csc := c.GetSecurityContext(); csc != nil {
		sc = proto.Clone(csc).(*corev1.SecurityContext)
	}
	psc := pod.GetSpec().GetSecurityContext()
	if psc == nil {
		return sc
	}
	if sc.RunAsUser == nil && psc.RunAsUser != nil {
		sc.RunAsUser = proto.Int64(psc.GetRunAsUser())
	}
	if sc.RunAsGroup == nil && psc.RunAsGroup != nil {
		sc.RunAsGroup = proto.Int64(psc.GetRunAsGroup())
	}
	if sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil {
		sc.RunAsNonRoot = proto.Bool(psc.GetRunAsNonRoot())
	}
	return sc
}

// imageUser is the user an image runs as when the pod names none, as the runtime reports
// it (containerd parses the image config's User: a number, or uid:gid, is a uid; anything
// else a user name). An image that sets no user runs as root: uid 0.
type imageUser struct {
	UID      *int64
	Username string
}

// verifyRunAsNonRoot refuses to start c when its effective security context asks for a
// non-root user and the kubelet cannot be sure it gets one: an explicit runAsUser 0, an
// image that runs as root, or an image user given by name (whose uid only the image's
// /etc/passwd knows, and which may well be 0). The messages are upstream's. It is pure.
func verifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, img imageUser) error {
	sc := effectiveSecurityContext(pod, c)
	if !sc.GetRunAsNonRoot() {
		return nil
	}
	if sc.RunAsUser != nil {
		if sc.GetRunAsUser() == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podDesc(pod), c.GetName())
		}
		return nil
	}
	switch {
	case img.UID != nil && *img.UID == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podDesc(pod), c.GetName())
	case img.UID == nil && img.Username != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)",
			img.Username, podDesc(pod), c.GetName())
	}
	return nil
}

// needsImageUser says whether starting c needs its image's user: only to verify
// runAsNonRoot without a runAsUser.
func needsImageUser(pod *corev1.Pod, c *corev1.Container) bool {
	sc := effectiveSecurityContext(pod, c)
	return sc.GetRunAsNonRoot() && sc.RunAsUser == nil
}

// imageUserOf reads the user image runs as from the runtime (CRI ImageStatus). An image
// the runtime does not know, or that sets no user, runs as root.
func imageUserOf(ctx context.Context, rt krt.Runtime, image string) (imageUser, error) {
	img, err := rt.ImageStatus(ctx, image)
	if err != nil {
		return imageUser{}, fmt.Errorf("read the user of image %q: %w", image, err)
	}
	if uid := img.GetUid(); uid != nil {
		return imageUser{UID: proto.Int64(uid.GetValue())}, nil
	}
	if name := img.GetUsername(); name != "" {
		return imageUser{Username: name}, nil
	}
	return imageUser{UID: proto.Int64(0)}, nil
}

// checkRunAsNonRoot verifies, before c is created, that it runs as the non-root user its
// security context may demand; an error leaves it CreateContainerConfigError, retried
// like any configuration error (the image may be replaced by a pull, the pod by a new one).
func (k *Kubelet) checkRunAsNonRoot(ctx context.Context, pod *corev1.Pod, c *corev1.Container, image string) error {
	var img imageUser
	if needsImageUser(pod, c) {
		var err error
		if img, err = imageUserOf(ctx, k.rt, image); err != nil {
			return err
		}
	}
	return verifyRunAsNonRoot(pod, c, img)
}
