package cmd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/printers"
)

// storageClassOf is kubectl's GetPersistentVolume(Claim)Class: the beta annotation, else
// spec.storageClassName.
func storageClassOf(obj any) string {
	if a, ok := nestedStringMap(obj, "metadata", "annotations")[corev1.BetaStorageClassAnnotation]; ok {
		return a
	}
	return nestedString(obj, "spec", "storageClassName")
}

// accessModes is kubectl's GetAccessModesAsString: the short names in a fixed order, each
// once, whatever order the object lists them in.
func accessModes(obj any, path ...string) string {
	var have []string
	for _, m := range nestedSlice(obj, path...) {
		have = append(have, fmt.Sprint(m))
	}
	return printers.AccessModesString(have)
}

// finalizers prints metadata.finalizers as Go's %v prints a []string.
func finalizers(obj any) string {
	var out []string
	for _, f := range nestedSlice(obj, "metadata", "finalizers") {
		out = append(out, fmt.Sprint(f))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// storageStatus is a volume's or a claim's phase, or how long it has been terminating.
func storageStatus(obj any) string {
	if del := nestedString(obj, "metadata", "deletionTimestamp"); del != "" {
		return "Terminating (lasts " + age(parseTime(del)) + ")"
	}
	return nestedString(obj, "status", "phase")
}

// storageQuantity is the storage entry of a resource list, "0" (a zero Quantity) when
// there is none.
func storageQuantity(obj any, path ...string) string {
	return quantityOr(obj, "0", append(path, "storage")...)
}

// describePersistentVolume prints a PersistentVolume as kubectl 1.32 does: its claim,
// policy, modes, capacity, node affinity and source (HostPath and Local, the sources
// kubelab mounts, with their fields).
func describePersistentVolume(w *prefixWriter, obj Object) {
	metaLines(w, obj, false)
	mapLines(w, 0, "Labels", nestedStringMap(obj, "metadata", "labels"), "=")
	mapLines(w, 0, "Annotations", nestedStringMap(obj, "metadata", "annotations"), ": ")
	w.line(0, "Finalizers:\t%s", finalizers(obj))
	w.line(0, "StorageClass:\t%s", storageClassOf(obj))
	w.line(0, "Status:\t%s", storageStatus(obj))
	claim := ""
	if ref := nestedMap(obj, "spec", "claimRef"); ref != nil {
		claim = nestedString(ref, "namespace") + "/" + nestedString(ref, "name")
	}
	w.line(0, "Claim:\t%s", claim)
	w.line(0, "Reclaim Policy:\t%s", nestedString(obj, "spec", "persistentVolumeReclaimPolicy"))
	w.line(0, "Access Modes:\t%s", accessModes(obj, "spec", "accessModes"))
	if mode := nestedString(obj, "spec", "volumeMode"); mode != "" {
		w.line(0, "VolumeMode:\t%s", mode)
	}
	w.line(0, "Capacity:\t%s", storageQuantity(obj, "spec", "capacity"))
	volumeNodeAffinity(w, nestedMap(obj, "spec", "nodeAffinity", "required"))
	w.line(0, "Message:\t%s", nestedString(obj, "status", "message"))
	w.line(0, "Source:")
	switch {
	case nested(obj, "spec", "hostPath") != nil:
		w.line(2, "Type:\tHostPath (bare host directory volume)")
		w.line(2, "Path:\t%s", nestedString(obj, "spec", "hostPath", "path"))
		w.line(2, "HostPathType:\t%s", nestedString(obj, "spec", "hostPath", "type"))
	case nested(obj, "spec", "local") != nil:
		w.line(2, "Type:\tLocalVolume (a persistent volume backed by local storage on a node)")
		w.line(2, "Path:\t%s", nestedString(obj, "spec", "local", "path"))
	default:
		w.line(1, "<unknown>")
	}
}

// volumeNodeAffinity prints a volume's required node selector terms, each term's
// expressions one a line ("key op [v1, v2]").
func volumeNodeAffinity(w *prefixWriter, required map[string]any) {
	if required == nil {
		w.line(0, "Node Affinity:\t<none>")
		return
	}
	w.line(0, "Node Affinity:\t")
	termsBlock(w, 1, "Required Terms", nestedSlice(required, "nodeSelectorTerms"), "matchExpressions",
		func(e any) string { return strings.ToLower(nestedString(e, "operator")) })
}

// termsBlock prints the terms of a node selector or of allowed topologies under title, or
// <none>: each term's expressions (under exprsKey) one a line, "key op [v1, v2]", the
// values left out when there are none.
func termsBlock(w *prefixWriter, level int, title string, terms []any, exprsKey string, op func(e any) string) {
	if len(terms) == 0 {
		w.line(level, "%s:\t<none>", title)
		return
	}
	w.line(level, "%s:\t", title)
	for i, term := range terms {
		termLines(w, level+1, i, nestedSlice(term, exprsKey), op)
	}
}

// termLines prints term i of termsBlock.
func termLines(w *prefixWriter, level, i int, exprs []any, op func(e any) string) {
	if len(exprs) == 0 {
		w.line(level, "Term %d:\t<none>", i)
	}
	for j, e := range exprs {
		s := nestedString(e, "key") + " " + op(e)
		if vals := stringList(e, "values"); len(vals) > 0 {
			s += " [" + strings.Join(vals, ", ") + "]"
		}
		if j == 0 {
			w.line(level, "Term %d:\t%s", i, s)
		} else {
			w.line(level, "\t%s", s)
		}
	}
}

func stringList(obj any, path ...string) []string {
	var out []string
	for _, v := range nestedSlice(obj, path...) {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// describePersistentVolumeClaim prints a claim as kubectl 1.32 does, with the pods of its
// namespace that mount it (and those that own it) as Used By.
func describePersistentVolumeClaim(ctx context.Context, w *prefixWriter, c *Client, d *Discovery, obj Object) error {
	metaLines(w, obj, true)
	claimLines(w, 0, obj, true)
	users, err := claimUsers(ctx, c, d, obj)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		w.line(0, "Used By:\t<none>")
	}
	for i, u := range users {
		if i == 0 {
			w.line(0, "Used By:\t%s", u)
		} else {
			w.line(0, "\t%s", u)
		}
	}
	conditionsTable(w, nestedSlice(obj, "status", "conditions"), "Type\tStatus\tLastProbeTime\tLastTransitionTime\tReason\tMessage", " \t",
		func(cnd any) []string {
			return []string{nestedString(cnd, "type"), nestedString(cnd, "status"), rfc1123(nestedString(cnd, "lastProbeTime")),
				rfc1123(nestedString(cnd, "lastTransitionTime")), nestedString(cnd, "reason"), nestedString(cnd, "message")}
		})
	return nil
}

// claimLines prints a claim's class, volume, labels, annotations, capacity, modes and
// volume mode at level, as kubectl's printPersistentVolumeClaim; full adds the status and
// finalizers of a stored claim, which an ephemeral volume's template (not full) lacks.
func claimLines(w *prefixWriter, level int, obj any, full bool) {
	w.line(level, "StorageClass:\t%s", storageClassOf(obj))
	if full {
		w.line(level, "Status:\t%s", storageStatus(obj))
	}
	volume := nestedString(obj, "spec", "volumeName")
	w.line(level, "Volume:\t%s", volume)
	labels, annotations := nestedStringMap(obj, "metadata", "labels"), nestedStringMap(obj, "metadata", "annotations")
	if level > 0 {
		nestedMapLines(w, level, "Labels", labels, "=")
		nestedMapLines(w, level, "Annotations", annotations, ": ")
	} else {
		mapLines(w, level, "Labels", labels, "=")
		mapLines(w, level, "Annotations", annotations, ": ")
	}
	if full {
		w.line(level, "Finalizers:\t%s", finalizers(obj))
	}
	// Capacity and modes are the bound volume's, so blank until the claim has one.
	capacity, modes := "", ""
	if volume != "" {
		capacity, modes = storageQuantity(obj, "status", "capacity"), accessModes(obj, "status", "accessModes")
	}
	w.line(level, "Capacity:\t%s", capacity)
	w.line(level, "Access Modes:\t%s", modes)
	if mode := nestedString(obj, "spec", "volumeMode"); mode != "" {
		w.line(level, "VolumeMode:\t%s", mode)
	}
}

// rfc1123 is a metav1.Time as kubectl formats it with time.RFC1123Z; an unset one is Go's
// zero time.
func rfc1123(s string) string {
	var t time.Time
	if s != "" {
		t = parseTime(s)
	}
	return t.Format(time.RFC1123Z)
}

// claimUsers names the pods in the claim's namespace that use it, as kubectl's
// getPodsForPVC: one entry per volume that mounts the claim, then the pods that own the
// claim (an ephemeral volume's) not already listed; sorted by name.
func claimUsers(ctx context.Context, c *Client, d *Discovery, claim Object) ([]string, error) {
	podRes, err := d.Resolve(ctx, "pods")
	if err != nil {
		return nil, err
	}
	list, err := c.GetObject(ctx, podRes.Path(nestedString(claim, "metadata", "namespace"), ""), nil)
	if err != nil {
		return nil, err
	}
	name := nestedString(claim, "metadata", "name")
	var users []string
	listed := map[string]bool{}
	pods := nestedSlice(list, "items")
	for _, p := range pods {
		for _, v := range nestedSlice(p, "spec", "volumes") {
			if nested(v, "persistentVolumeClaim") != nil && nestedString(v, "persistentVolumeClaim", "claimName") == name {
				users = append(users, nestedString(p, "metadata", "name"))
				listed[nestedString(p, "metadata", "uid")] = true
			}
		}
	}
	for _, ref := range nestedSlice(claim, "metadata", "ownerReferences") {
		if nestedString(ref, "kind") != "Pod" || listed[nestedString(ref, "uid")] {
			continue
		}
		for _, p := range pods {
			if nestedString(p, "metadata", "uid") == nestedString(ref, "uid") {
				users = append(users, nestedString(p, "metadata", "name"))
				listed[nestedString(ref, "uid")] = true
			}
		}
	}
	sort.Strings(users)
	return users, nil
}

// defaultClassAnnotations mark a default StorageClass (the beta one is still honoured).
var defaultClassAnnotations = []string{"storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"}

// describeStorageClass prints a StorageClass as kubectl 1.32 does. Its annotations and
// parameters are one k=v,k=v line each (labels.FormatLabels), the last-applied
// configuration included, unlike other kinds'.
func describeStorageClass(w *prefixWriter, obj Object) {
	metaLines(w, obj, false)
	isDefault := "No"
	for _, a := range defaultClassAnnotations {
		if nestedStringMap(obj, "metadata", "annotations")[a] == "true" {
			isDefault = "Yes"
		}
	}
	w.line(0, "IsDefaultClass:\t%s", isDefault)
	w.line(0, "Annotations:\t%s", labelsString(nestedStringMap(obj, "metadata", "annotations")))
	w.line(0, "Provisioner:\t%s", nestedString(obj, "provisioner"))
	w.line(0, "Parameters:\t%s", labelsString(nestedStringMap(obj, "parameters")))
	expansion := "<unset>"
	if b, ok := nested(obj, "allowVolumeExpansion").(bool); ok {
		expansion = map[bool]string{true: "True", false: "False"}[b]
	}
	w.line(0, "AllowVolumeExpansion:\t%s", expansion)
	if opts := stringList(obj, "mountOptions"); len(opts) > 0 {
		w.line(0, "MountOptions:")
		for _, o := range opts {
			w.line(1, "%s", o)
		}
	} else {
		w.line(0, "MountOptions:\t<none>")
	}
	if p := nestedString(obj, "reclaimPolicy"); p != "" {
		w.line(0, "ReclaimPolicy:\t%s", p)
	}
	if m := nestedString(obj, "volumeBindingMode"); m != "" {
		w.line(0, "VolumeBindingMode:\t%s", m)
	}
	if nested(obj, "allowedTopologies") == nil {
		return
	}
	// A topology term's expressions have no operator: each is "in".
	termsBlock(w, 0, "AllowedTopologies", nestedSlice(obj, "allowedTopologies"), "matchLabelExpressions", func(any) string { return "in" })
}

// conditionsTable prints a node's or a claim's conditions as kubectl does: nothing when
// there are none, else a header of the six columns, kubectl's dashes under them (as long
// as its time columns' widest titles, whatever header says), and each condition's cells
// joined by sep.
func conditionsTable(w *prefixWriter, conds []any, header, sep string, cells func(cnd any) []string) {
	if len(conds) == 0 {
		return
	}
	w.line(0, "Conditions:")
	w.line(1, "%s", header)
	w.line(1, "----\t------\t-----------------\t------------------\t------\t-------")
	for _, cnd := range conds {
		w.line(1, "%s", strings.Join(cells(cnd), sep))
	}
}
