package validation_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/validation"
)

func storageQty(s string) map[string]*metav1.Quantity {
	return map[string]*metav1.Quantity{"storage": {String_: s}}
}

func hostPathPV(mut func(*corev1.PersistentVolumeSpec)) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{Metadata: &metav1.ObjectMeta{Name: "pv1"}, Spec: &corev1.PersistentVolumeSpec{
		Capacity: storageQty("1Gi"), AccessModes: []string{"ReadWriteOnce"},
		HostPath: &corev1.HostPathVolumeSource{Path: "/data/pv1"},
	}}
	if mut != nil {
		mut(pv.Spec)
	}
	defaults.Default(pv)
	return pv
}

func TestValidatePersistentVolume(t *testing.T) {
	nodeAffinity := &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
		MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: "In", Values: []string{"node-1"}}},
	}}}}
	for _, c := range []struct {
		name string
		mut  func(*corev1.PersistentVolumeSpec)
		want want
	}{
		{"hostPath", nil, want{}},
		{"local with affinity", func(s *corev1.PersistentVolumeSpec) {
			s.HostPath, s.Local, s.NodeAffinity = nil, &corev1.LocalVolumeSource{Path: "/mnt/disk"}, nodeAffinity
		}, want{}},
		{"local without affinity", func(s *corev1.PersistentVolumeSpec) {
			s.HostPath, s.Local = nil, &corev1.LocalVolumeSource{Path: "/mnt/disk"}
		}, want{"spec.nodeAffinity", required, "Local volume requires node affinity"}},
		{"no source", func(s *corev1.PersistentVolumeSpec) { s.HostPath = nil }, want{"spec", required, "must specify a volume type"}},
		{"two sources", func(s *corev1.PersistentVolumeSpec) {
			s.Local, s.NodeAffinity = &corev1.LocalVolumeSource{Path: "/mnt"}, nodeAffinity
		}, want{"spec.local", forbidden, "may not specify more than 1 volume type"}},
		{"no path", func(s *corev1.PersistentVolumeSpec) { s.HostPath.Path = "" }, want{"spec.hostPath.path", required, ""}},
		{"no capacity", func(s *corev1.PersistentVolumeSpec) { s.Capacity = nil }, want{"spec.capacity", required, ""}},
		{"cpu capacity", func(s *corev1.PersistentVolumeSpec) {
			s.Capacity["cpu"] = &metav1.Quantity{String_: "1"}
		}, want{"spec.capacity", notSupported, `supported values: "storage"`}},
		{"zero capacity", func(s *corev1.PersistentVolumeSpec) { s.Capacity = storageQty("0") },
			want{"spec.capacity[storage]", invalid, "must be greater than zero"}},
		{"no access modes", func(s *corev1.PersistentVolumeSpec) { s.AccessModes = nil }, want{"spec.accessModes", required, ""}},
		{"unknown access mode", func(s *corev1.PersistentVolumeSpec) { s.AccessModes = []string{"ReadSometimes"} },
			want{"spec.accessModes", notSupported, `"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"`}},
		{"RWOP with others", func(s *corev1.PersistentVolumeSpec) { s.AccessModes = []string{"ReadWriteOncePod", "ReadWriteOnce"} },
			want{"spec.accessModes", forbidden, "may not use ReadWriteOncePod with other access modes"}},
		{"reclaim policy", func(s *corev1.PersistentVolumeSpec) { s.PersistentVolumeReclaimPolicy = "Keep" },
			want{"spec.persistentVolumeReclaimPolicy", notSupported, `"Delete", "Recycle", "Retain"`}},
		{"recycle root", func(s *corev1.PersistentVolumeSpec) {
			s.HostPath.Path, s.PersistentVolumeReclaimPolicy = "/", "Recycle"
		}, want{"spec.persistentVolumeReclaimPolicy", forbidden, "may not be 'recycle' for a hostPath mount of '/'"}},
		{"volume mode", func(s *corev1.PersistentVolumeSpec) { s.VolumeMode = proto.String("Raw") },
			want{"spec.volumeMode", notSupported, `"Block", "Filesystem"`}},
		{"class name", func(s *corev1.PersistentVolumeSpec) { s.StorageClassName = "Fast_SSD" },
			want{"spec.storageClassName", invalid, "RFC 1123"}},
		{"empty affinity", func(s *corev1.PersistentVolumeSpec) { s.NodeAffinity = &corev1.VolumeNodeAffinity{} },
			want{"spec.nodeAffinity.required", required, "must specify required node constraints"}},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, validation.Validate(hostPathPV(c.mut)), c.want) })
	}
}

func TestValidatePersistentVolumeUpdate(t *testing.T) {
	old := hostPathPV(nil)
	ok := proto.Clone(old).(*corev1.PersistentVolume)
	ok.Spec.Capacity, ok.Spec.PersistentVolumeReclaimPolicy = storageQty("2Gi"), "Delete"
	ok.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data"}
	expect(t, validation.ValidateUpdate(ok, old), want{})

	path := proto.Clone(old).(*corev1.PersistentVolume)
	path.Spec.HostPath.Path = "/elsewhere"
	expect(t, validation.ValidateUpdate(path, old), want{"spec.persistentvolumesource", forbidden, "immutable after creation"})

	mode := proto.Clone(old).(*corev1.PersistentVolume)
	mode.Spec.VolumeMode = proto.String("Block")
	expect(t, validation.ValidateUpdate(mode, old), want{"volumeMode", invalid, "field is immutable"})
}

func claim(mut func(*corev1.PersistentVolumeClaimSpec)) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{Metadata: &metav1.ObjectMeta{Name: "data", Namespace: "default"}, Spec: &corev1.PersistentVolumeClaimSpec{
		AccessModes: []string{"ReadWriteOnce"},
		Resources:   &corev1.VolumeResourceRequirements{Requests: storageQty("1Gi")},
	}}
	if mut != nil {
		mut(pvc.Spec)
	}
	defaults.Default(pvc)
	return pvc
}

func TestValidatePersistentVolumeClaim(t *testing.T) {
	for _, c := range []struct {
		name string
		mut  func(*corev1.PersistentVolumeClaimSpec)
		want want
	}{
		{"valid", nil, want{}},
		{"no class (\"\")", func(s *corev1.PersistentVolumeClaimSpec) { s.StorageClassName = proto.String("") }, want{}},
		{"no access modes", func(s *corev1.PersistentVolumeClaimSpec) { s.AccessModes = nil },
			want{"spec.accessModes", required, "at least 1 access mode is required"}},
		{"no storage request", func(s *corev1.PersistentVolumeClaimSpec) { s.Resources = nil },
			want{"spec.resources[storage]", required, ""}},
		{"zero storage request", func(s *corev1.PersistentVolumeClaimSpec) { s.Resources.Requests = storageQty("0") },
			want{"spec.resources[storage]", invalid, "must be greater than zero"}},
		{"bad selector", func(s *corev1.PersistentVolumeClaimSpec) {
			s.Selector = &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}}
		}, want{"spec.selector.matchExpressions[0].operator", invalid, "not a valid selector operator"}},
		{"class name", func(s *corev1.PersistentVolumeClaimSpec) { s.StorageClassName = proto.String("Fast!") },
			want{"spec.storageClassName", invalid, ""}},
		{"volume mode", func(s *corev1.PersistentVolumeClaimSpec) { s.VolumeMode = proto.String("Raw") },
			want{"spec.volumeMode", notSupported, ""}},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, validation.Validate(claim(c.mut)), c.want) })
	}
}

func TestValidatePersistentVolumeClaimUpdate(t *testing.T) {
	old := claim(nil)
	bind := proto.Clone(old).(*corev1.PersistentVolumeClaim)
	bind.Spec.VolumeName = "pv1"
	expect(t, validation.ValidateUpdate(bind, old), want{})

	rebind := proto.Clone(bind).(*corev1.PersistentVolumeClaim)
	rebind.Spec.VolumeName = "pv2"
	expect(t, validation.ValidateUpdate(rebind, bind), want{"spec", forbidden, "spec is immutable after creation"})

	// The retroactive default class: unset may become a class, a class may not change.
	class := proto.Clone(old).(*corev1.PersistentVolumeClaim)
	class.Spec.StorageClassName = proto.String("standard")
	expect(t, validation.ValidateUpdate(class, old), want{})
	other := proto.Clone(class).(*corev1.PersistentVolumeClaim)
	other.Spec.StorageClassName = proto.String("fast")
	expect(t, validation.ValidateUpdate(other, class), want{"spec", forbidden, ""})

	grow := proto.Clone(old).(*corev1.PersistentVolumeClaim)
	grow.Spec.Resources.Requests = storageQty("2Gi")
	expect(t, validation.ValidateUpdate(grow, old), want{"spec", forbidden, "except resources.requests"})
	bound := proto.Clone(old).(*corev1.PersistentVolumeClaim)
	bound.Status.Phase = "Bound"
	growBound := proto.Clone(bound).(*corev1.PersistentVolumeClaim)
	growBound.Spec.Resources.Requests = storageQty("2Gi")
	expect(t, validation.ValidateUpdate(growBound, bound), want{"spec.resources.requests.storage", forbidden, "does not expand volumes yet"})
	shrink := proto.Clone(bound).(*corev1.PersistentVolumeClaim)
	shrink.Spec.Resources.Requests = storageQty("512Mi")
	expect(t, validation.ValidateUpdate(shrink, bound), want{"spec.resources.requests.storage", forbidden, "field can not be less than previous value"})
}

func storageClass(mut func(*storagev1.StorageClass)) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{Metadata: &metav1.ObjectMeta{Name: "standard"}, Provisioner: "rancher.io/local-path"}
	if mut != nil {
		mut(sc)
	}
	defaults.Default(sc)
	return sc
}

func TestValidateStorageClass(t *testing.T) {
	many := map[string]string{}
	for i := range 513 {
		many[fmt.Sprint("k", i)] = "v"
	}
	for _, c := range []struct {
		name string
		mut  func(*storagev1.StorageClass)
		want want
	}{
		{"valid", nil, want{}},
		{"no provisioner", func(sc *storagev1.StorageClass) { sc.Provisioner = "" }, want{"provisioner", required, ""}},
		{"bad provisioner", func(sc *storagev1.StorageClass) { sc.Provisioner = "a b" }, want{"provisioner", invalid, ""}},
		{"too many parameters", func(sc *storagev1.StorageClass) { sc.Parameters = many }, want{"parameters", tooLong, ""}},
		{"parameters too large", func(sc *storagev1.StorageClass) {
			sc.Parameters = map[string]string{"big": strings.Repeat("x", 256*1024)}
		}, want{"parameters", tooLong, ""}},
		{"recycle", func(sc *storagev1.StorageClass) { sc.ReclaimPolicy = proto.String("Recycle") },
			want{"reclaimPolicy", notSupported, `supported values: "Delete", "Retain"`}},
		{"binding mode", func(sc *storagev1.StorageClass) { sc.VolumeBindingMode = proto.String("Later") },
			want{"volumeBindingMode", notSupported, `"Immediate", "WaitForFirstConsumer"`}},
		{"topology without values", func(sc *storagev1.StorageClass) {
			sc.AllowedTopologies = []*corev1.TopologySelectorTerm{{MatchLabelExpressions: []*corev1.TopologySelectorLabelRequirement{{Key: "topology.kubernetes.io/zone"}}}}
		}, want{"allowedTopologies[0].matchLabelExpressions[0].values", required, ""}},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, validation.Validate(storageClass(c.mut)), c.want) })
	}
}

func TestValidateStorageClassUpdate(t *testing.T) {
	old := storageClass(nil)
	expand := proto.Clone(old).(*storagev1.StorageClass)
	expand.AllowVolumeExpansion = proto.Bool(true)
	expect(t, validation.ValidateUpdate(expand, old), want{})
	for _, c := range []struct {
		name string
		mut  func(*storagev1.StorageClass)
		want want
	}{
		{"provisioner", func(sc *storagev1.StorageClass) { sc.Provisioner = "example.com/other" }, want{"provisioner", forbidden, "updates to provisioner are forbidden."}},
		{"parameters", func(sc *storagev1.StorageClass) { sc.Parameters = map[string]string{"a": "b"} }, want{"parameters", forbidden, "updates to parameters are forbidden."}},
		{"reclaimPolicy", func(sc *storagev1.StorageClass) { sc.ReclaimPolicy = proto.String("Retain") }, want{"reclaimPolicy", forbidden, "updates to reclaimPolicy are forbidden."}},
		{"volumeBindingMode", func(sc *storagev1.StorageClass) { sc.VolumeBindingMode = proto.String("WaitForFirstConsumer") }, want{"volumeBindingMode", invalid, "field is immutable"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := proto.Clone(old).(*storagev1.StorageClass)
			c.mut(sc)
			expect(t, validation.ValidateUpdate(sc, old), c.want)
		})
	}
}

func TestPodVolumePersistentVolumeClaim(t *testing.T) {
	v := &corev1.Volume{Name: "data", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}
	pod := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: &corev1.PodSpec{
		Containers: []*corev1.Container{{Name: "c", Image: "nginx"}}, Volumes: []*corev1.Volume{v}}}
	defaults.Default(pod)
	if pod.Spec.Volumes[0].EmptyDir != nil {
		t.Fatal("a claim volume was defaulted to an emptyDir")
	}
	expect(t, validation.Validate(pod), want{"spec.volumes[0].persistentVolumeClaim.claimName", required, ""})
	v.PersistentVolumeClaim.ClaimName = "data"
	expect(t, validation.Validate(pod), want{})
}

func TestPodVolumeEphemeral(t *testing.T) {
	tmpl := func() *corev1.PersistentVolumeClaimTemplate {
		return &corev1.PersistentVolumeClaimTemplate{
			Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "db"}, Annotations: map[string]string{"note": "scratch"}},
			Spec:     &corev1.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, Resources: &corev1.VolumeResourceRequirements{Requests: storageQty("1Gi")}},
		}
	}
	pod := func(name, vol string, mut func(*corev1.Volume)) *corev1.Pod {
		v := &corev1.Volume{Name: vol, Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: tmpl()}}
		if mut != nil {
			mut(v)
		}
		p := &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: &corev1.PodSpec{
			Containers: []*corev1.Container{{Name: "c", Image: "nginx"}}, Volumes: []*corev1.Volume{v}}}
		defaults.Default(p)
		return p
	}
	for _, c := range []struct {
		name string
		pod  *corev1.Pod
		want want
	}{
		{"valid", pod("p", "scratch", nil), want{}},
		{"no template", pod("p", "scratch", func(v *corev1.Volume) { v.Ephemeral.VolumeClaimTemplate = nil }),
			want{"spec.volumes[0].ephemeral.volumeClaimTemplate", required, ""}},
		{"template spec checked as a claim's", pod("p", "scratch", func(v *corev1.Volume) { v.Ephemeral.VolumeClaimTemplate.Spec.AccessModes = nil }),
			want{"spec.volumes[0].ephemeral.volumeClaimTemplate.spec.accessModes", required, "at least 1 access mode is required"}},
		{"template storage request", pod("p", "scratch", func(v *corev1.Volume) { v.Ephemeral.VolumeClaimTemplate.Spec.Resources = nil }),
			want{"spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources[storage]", required, ""}},
		{"template name", pod("p", "scratch", func(v *corev1.Volume) { v.Ephemeral.VolumeClaimTemplate.Metadata.Name = "mine" }),
			want{"spec.volumes[0].ephemeral.volumeClaimTemplate.metadata.name", forbidden, "cannot be set for an ephemeral volume"}},
		{"template namespace", pod("p", "scratch", func(v *corev1.Volume) { v.Ephemeral.VolumeClaimTemplate.Metadata.Namespace = "other" }),
			want{"spec.volumes[0].ephemeral.volumeClaimTemplate.metadata.namespace", forbidden, "cannot be set for an ephemeral volume"}},
		{"template labels", pod("p", "scratch", func(v *corev1.Volume) {
			v.Ephemeral.VolumeClaimTemplate.Metadata.Labels = map[string]string{"a b": "c"}
		}),
			want{"spec.volumes[0].ephemeral.volumeClaimTemplate.metadata.labels", invalid, ""}},
		{"claim name too long", pod(strings.Repeat("p", 250), "scratch", nil),
			want{"spec.volumes[0].name", invalid, `PVC name "` + strings.Repeat("p", 250) + `-scratch": must be no more than 253 characters`}},
		{"two sources", pod("p", "scratch", func(v *corev1.Volume) { v.EmptyDir = &corev1.EmptyDirVolumeSource{} }),
			want{"spec.volumes[0].ephemeral", forbidden, "may not specify more than 1 volume type"}},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, validation.Validate(c.pod), c.want) })
	}
	// A template (a Deployment's pod) has no pod name yet, so no claim name is checked.
	d := pod(strings.Repeat("p", 250), "scratch", nil)
	expect(t, validation.ValidatePodTemplateSpec(&corev1.PodTemplateSpec{Spec: d.Spec}, "spec.template"), want{})
	if got := d.Spec.Volumes[0].Ephemeral.VolumeClaimTemplate.Spec.GetVolumeMode(); got != corev1.PersistentVolumeFilesystem {
		t.Errorf("template volumeMode defaulted to %q, want Filesystem", got)
	}
}
