package validation

import (
	"slices"
	"testing"

	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
)

func TestValidateServiceAccountVolumes(t *testing.T) {
	tok := func(exp int64, path string) *corev1.VolumeProjection {
		return &corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &exp, Path: path}}
	}
	file := func(path, fieldPath string) *corev1.DownwardAPIVolumeFile {
		return &corev1.DownwardAPIVolumeFile{Path: path, FieldRef: &corev1.ObjectFieldSelector{ApiVersion: "v1", FieldPath: fieldPath}}
	}
	cases := []struct {
		name string
		vol  *corev1.Volume
		want []string // the error strings, in order
	}{
		{"kube-api-access", &corev1.Volume{Name: "kube-api-access-x", Projected: &corev1.ProjectedVolumeSource{Sources: []*corev1.VolumeProjection{
			tok(3607, "token"),
			{ConfigMap: &corev1.ConfigMapProjection{Name: "kube-root-ca.crt", Items: []*corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []*corev1.DownwardAPIVolumeFile{file("namespace", "metadata.namespace")}}},
		}}}, nil},
		{"short token", &corev1.Volume{Name: "v", Projected: &corev1.ProjectedVolumeSource{Sources: []*corev1.VolumeProjection{tok(300, "token")}}},
			[]string{"spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"}},
		{"duplicate paths", &corev1.Volume{Name: "v", Projected: &corev1.ProjectedVolumeSource{Sources: []*corev1.VolumeProjection{
			tok(3600, "token"), {DownwardAPI: &corev1.DownwardAPIProjection{Items: []*corev1.DownwardAPIVolumeFile{file("token", "metadata.name")}}},
		}}}, []string{`spec.volumes[0].projected.sources[1].downwardAPI.items[0].path: Invalid value: "token": conflicting duplicate paths`}},
		{"two kinds in a source", &corev1.Volume{Name: "v", Projected: &corev1.ProjectedVolumeSource{Sources: []*corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "t"}, ConfigMap: &corev1.ConfigMapProjection{Name: "c"},
		}}}}, []string{"spec.volumes[0].projected.sources[0]: Forbidden: may not specify more than 1 volume type per source"}},
		{"downward API field not in volumes", &corev1.Volume{Name: "v", DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []*corev1.DownwardAPIVolumeFile{file("ip", "status.podIP")}}},
			[]string{`spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: "status.podIP": supported values: "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"`}},
		{"resource without container", &corev1.Volume{Name: "v", DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []*corev1.DownwardAPIVolumeFile{{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}}}},
			[]string{"spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: Required value"}},
		{"reserved path", &corev1.Volume{Name: "v", DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []*corev1.DownwardAPIVolumeFile{file("..data", "metadata.name")}}},
			[]string{`spec.volumes[0].downwardAPI.items[0].path: Invalid value: "..data": must not start with '..'`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := validateVolumes([]*corev1.Volume{tc.vol}, "spec.volumes", "")
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestValidateTokenRequest(t *testing.T) {
	for exp, want := range map[int64]int{599: 1, 600: 0, 3600: 0, 1 << 32: 0, 1<<32 + 1: 1} {
		tr := &authenticationv1.TokenRequest{Spec: &authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}
		if errs := ValidateTokenRequest(tr); len(errs) != want {
			t.Errorf("expirationSeconds %d: %d errors (%v), want %d", exp, len(errs), errs, want)
		}
	}
}
