package printers

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
)

func columnNames(cols []Column) []string {
	var names []string
	for _, c := range cols {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	return names
}

func TestPersistentVolumeRow(t *testing.T) {
	pv := &corev1.PersistentVolume{Kind: "PersistentVolume", Metadata: meta("pv1", 5*time.Minute), Spec: &corev1.PersistentVolumeSpec{
		Capacity:    map[string]*metav1.Quantity{"storage": {String_: "1024Mi"}},
		AccessModes: []string{"ReadWriteMany", "ReadWriteOnce"}, PersistentVolumeReclaimPolicy: "Retain",
		ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: "data"}, StorageClassName: "manual",
		VolumeMode: proto.String("Filesystem"),
	}, Status: &corev1.PersistentVolumeStatus{Phase: "Bound"}}
	if got, want := cells(t, pv, false), []any{"pv1", "1Gi", "RWO,RWX", "Retain", "Bound", "default/data", "manual", "<unset>", "", "5m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	if got := cells(t, pv, true); got[len(got)-1] != "Filesystem" {
		t.Errorf("wide cells = %#v, want VolumeMode last", got)
	}
	if got, want := columnNames(persistentVolumeColumns), []string{"Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass", "VolumeAttributesClass", "Reason", "Age"}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
}

func TestPersistentVolumeClaimRow(t *testing.T) {
	pvc := &corev1.PersistentVolumeClaim{Kind: "PersistentVolumeClaim", Metadata: meta("data", time.Minute), Spec: &corev1.PersistentVolumeClaimSpec{
		AccessModes: []string{"ReadWriteOnce"}, StorageClassName: proto.String("standard"),
		Resources: &corev1.VolumeResourceRequirements{Requests: map[string]*metav1.Quantity{"storage": {String_: "1Gi"}}},
	}, Status: &corev1.PersistentVolumeClaimStatus{Phase: "Pending"}}
	// Unbound: no volume, so no capacity or modes.
	if got, want := cells(t, pvc, false), []any{"data", "Pending", "", "", "", "standard", "<unset>", "60s"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	pvc.Spec.VolumeName = "pv1"
	pvc.Status = &corev1.PersistentVolumeClaimStatus{Phase: "Bound", AccessModes: []string{"ReadWriteOnce"},
		Capacity: map[string]*metav1.Quantity{"storage": {String_: "2Gi"}}}
	if got, want := cells(t, pvc, false), []any{"data", "Bound", "pv1", "2Gi", "RWO", "standard", "<unset>", "60s"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	if got, want := columnNames(persistentVolumeClaimColumns), []string{"Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age"}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
}

func TestStorageClassRow(t *testing.T) {
	sc := &storagev1.StorageClass{Kind: "StorageClass", Metadata: meta("standard", time.Hour), Provisioner: "rancher.io/local-path"}
	if got, want := cells(t, sc, false), []any{"standard", "rancher.io/local-path", "Delete", "Immediate", false, "60m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	sc.Metadata.Annotations = map[string]string{storagev1.IsDefaultStorageClassAnnotation: "true"}
	sc.VolumeBindingMode, sc.AllowVolumeExpansion = proto.String("WaitForFirstConsumer"), proto.Bool(true)
	if got, want := cells(t, sc, false), []any{"standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", true, "60m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	if got, want := columnNames(storageClassColumns), []string{"Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
}
