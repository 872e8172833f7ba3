package printers

import (
	"fmt"

	appsv1 "kubelab.io/proto/api/apps/v1"
	"kubelab.io/proto/runtime"
)

// statefulSetRow is kubectl's statefulset row: READY is readyReplicas/spec.replicas, and the
// wide columns the template's containers and images.
func statefulSetRow(obj runtime.Object, o *Options) []any {
	ss, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return nil
	}
	spec := ss.GetSpec()
	cells := []any{ss.GetMetadata().GetName(), fmt.Sprintf("%d/%d", ss.GetStatus().GetReadyReplicas(), replicasOr1(spec.Replicas)), age(ss, o)}
	if o.Wide {
		names, images := layoutContainerCells(spec.GetTemplate().GetSpec().GetContainers())
		cells = append(cells, names, images)
	}
	return cells
}
