package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// attachablePod is the pod that attach and port-forward work on, as upstream's
// AttachablePodForObject picks it: POD or pod/NAME is that pod; another TYPE/NAME (a
// Deployment, a ReplicaSet, a Job, a Service, …) stands for the most active of the pods
// its selector matches, waited for up to timeout when there is none yet. The object
// itself is returned too (the pod for a pod), for a Service's port mapping.
func attachablePod(ctx context.Context, f *Factory, arg string, timeout time.Duration) (*podTarget, Object, error) {
	typ, name, ok := strings.Cut(arg, "/")
	if !ok || isPodType(typ) {
		t, err := getPod(ctx, f, arg, "")
		if err != nil {
			return nil, nil, err
		}
		return t, t.pod, nil
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return nil, nil, err
	}
	d, err := f.Discovery()
	if err != nil {
		return nil, nil, err
	}
	res, err := d.Resolve(ctx, typ)
	if err != nil {
		return nil, nil, err
	}
	pods, err := d.Resolve(ctx, "pods")
	if err != nil {
		return nil, nil, err
	}
	c, err := f.Client()
	if err != nil {
		return nil, nil, err
	}
	obj, err := c.GetObject(ctx, res.Path(ns, name), nil)
	if err != nil {
		return nil, nil, err
	}
	selector, err := podSelector(obj)
	if err != nil {
		return nil, nil, err
	}
	pod, err := firstPod(ctx, c, pods.Path(ns, ""), selector, timeout)
	if err != nil {
		return nil, nil, err
	}
	return &podTarget{pod: pod, client: c, pods: pods, ns: ns}, obj, nil
}

func isPodType(typ string) bool { return typ == "pod" || typ == "pods" || typ == "po" }

// podSelector is the label selector of obj's pods, as upstream's SelectorsForObject reads
// it: spec.selector, a LabelSelector (Deployment, ReplicaSet, StatefulSet, DaemonSet,
// Job) or a plain map of labels (Service, ReplicationController).
func podSelector(obj Object) (string, error) {
	sel := nestedMap(obj, "spec", "selector")
	if len(sel) == 0 {
		av := nestedString(obj, "apiVersion")
		t := "*" + av[strings.LastIndex(av, "/")+1:] + "." + nestedString(obj, "kind") // Go's %T of upstream's typed object
		return "", fmt.Errorf("cannot attach to %s: selector for %s not implemented", t, t)
	}
	if _, ok := sel["matchLabels"]; ok {
		return selectorQuery(sel), nil
	}
	if _, ok := sel["matchExpressions"]; ok {
		return selectorQuery(sel), nil
	}
	var parts []string
	for _, k := range sortedKeys(sel) {
		parts = append(parts, k+"="+fmt.Sprint(sel[k]))
	}
	return strings.Join(parts, ","), nil
}

// firstPodPoll is how often firstPod lists again while no pod matches.
var firstPodPoll = time.Second

// firstPod is the most active pod at podsPath matching selector, waiting up to timeout
// for one to exist.
func firstPod(ctx context.Context, c *Client, podsPath, selector string, timeout time.Duration) (Object, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		list, err := c.GetObject(ctx, podsPath, url.Values{"labelSelector": {selector}})
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if items := nestedSlice(list, "items"); len(items) > 0 {
			pods := make([]Object, 0, len(items))
			for _, it := range items {
				if p, ok := it.(map[string]any); ok {
					pods = append(pods, p)
				}
			}
			sortMostActive(pods)
			return pods[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("timed out waiting for the condition")
		case <-time.After(firstPodPoll):
		}
	}
}

// sortMostActive orders pods most active first, as upstream sorts with
// sort.Reverse(podutils.ActivePods): assigned to a node, then Running before Unknown
// before Pending, ready, ready for longer, fewer restarts, older.
func sortMostActive(pods []Object) {
	sort.SliceStable(pods, func(i, j int) bool { return moreActive(pods[i], pods[j]) })
}

func moreActive(a, b Object) bool {
	na, nb := nestedString(a, "spec", "nodeName"), nestedString(b, "spec", "nodeName")
	if na != nb && (na == "" || nb == "") {
		return nb == ""
	}
	phase := map[string]int{"Pending": 0, "Unknown": 1, "Running": 2}
	if pa, pb := phase[nestedString(a, "status", "phase")], phase[nestedString(b, "status", "phase")]; pa != pb {
		return pa > pb
	}
	ra, rb := readySince(a), readySince(b)
	if (ra != nil) != (rb != nil) {
		return ra != nil
	}
	if ra != nil && !ra.Equal(*rb) {
		return ra.Before(*rb) // ready for longer
	}
	if ca, cb := maxRestarts(a), maxRestarts(b); ca != cb {
		return ca < cb
	}
	ta, tb := parseTime(nestedString(a, "metadata", "creationTimestamp")), parseTime(nestedString(b, "metadata", "creationTimestamp"))
	if !ta.Equal(tb) {
		return !ta.IsZero() && (tb.IsZero() || ta.Before(tb)) // older; none last
	}
	return false
}

// readySince is when a ready pod became ready (nil when it is not ready).
func readySince(pod Object) *time.Time {
	for _, c := range nestedSlice(pod, "status", "conditions") {
		if nestedString(c, "type") == "Ready" && nestedString(c, "status") == "True" {
			t := parseTime(nestedString(c, "lastTransitionTime"))
			return &t
		}
	}
	return nil
}

func maxRestarts(pod Object) int64 {
	var most int64
	for _, cs := range nestedSlice(pod, "status", "containerStatuses") {
		if n, _ := nestedInt(cs, "restartCount"); n > most {
			most = n
		}
	}
	return most
}
