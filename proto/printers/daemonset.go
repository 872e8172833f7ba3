package printers

import (
	"strings"

	appsv1 "kubelab.io/proto/api/apps/v1"
	"kubelab.io/proto/labels"
	"kubelab.io/proto/runtime"
)

// daemonSetRow is kubectl's daemonset row: the status counts, and NODE SELECTOR the
// template's nodeSelector (<none> when empty).
func daemonSetRow(obj runtime.Object, o *Options) []any {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return nil
	}
	spec, st := ds.GetSpec(), ds.GetStatus()
	cells := []any{ds.GetMetadata().GetName(),
		int64(st.GetDesiredNumberScheduled()), int64(st.GetCurrentNumberScheduled()), int64(st.GetNumberReady()),
		int64(st.GetUpdatedNumberScheduled()), int64(st.GetNumberAvailable()),
		orNone(labels.SelectorFromSet(spec.GetTemplate().GetSpec().GetNodeSelector()).String()), age(ds, o)}
	if o.Wide {
		names, images := layoutContainerCells(spec.GetTemplate().GetSpec().GetContainers())
		cells = append(cells, names, images, formatLabelSelector(spec.GetSelector()))
	}
	return cells
}

// controllerRevisionRow is kubectl's controllerrevision row: CONTROLLER names the
// controlling owner as kind.group/name ("daemonset.apps/agent"), or <none>.
func controllerRevisionRow(obj runtime.Object, o *Options) []any {
	cr, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return nil
	}
	controller := "<none>"
	for _, ref := range cr.GetMetadata().GetOwnerReferences() {
		if !ref.GetController() {
			continue
		}
		kind := strings.ToLower(ref.GetKind())
		if group, _, found := strings.Cut(ref.GetApiVersion(), "/"); found && group != "" {
			kind += "." + group
		}
		controller = kind + "/" + ref.GetName()
		break
	}
	return []any{cr.GetMetadata().GetName(), controller, cr.GetRevision(), age(cr, o)}
}
