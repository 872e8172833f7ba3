package cmd

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// What describe prints of a pod template and of containers, as kubectl's DescribePodTemplate
// and describeContainers: every workload's describer (deployments, replica sets, daemon
// sets, stateful sets, jobs, cron jobs), `rollout history --revision` and the pod describer
// share it. Inside a template each part is indented by space ("  "), and container and
// volume names by one space more than their list's title.

// describeTemplateTo is kubectl's DescribePodTemplate.
func describeTemplateTo(w *prefixWriter, tmpl map[string]any) {
	w.line(0, "Pod Template:")
	if tmpl == nil {
		w.line(1, "<unset>")
		return
	}
	const space = "  "
	mapLines(w, 1, "Labels", nestedStringMap(tmpl, "metadata", "labels"), "=")
	if anns := nestedStringMap(tmpl, "metadata", "annotations"); len(anns) > 0 {
		mapLines(w, 1, "Annotations", anns, ": ")
	}
	spec := nestedMap(tmpl, "spec")
	if sa := nestedString(spec, "serviceAccountName"); sa != "" {
		w.line(1, "Service Account:\t%s", sa)
	}
	if init := nestedSlice(spec, "initContainers"); len(init) > 0 {
		describeContainers(w, "Init Containers", init, nil, space, nil)
	}
	describeContainers(w, "Containers", nestedSlice(spec, "containers"), nil, space, nil)
	describeVolumes(w, nestedSlice(spec, "volumes"), space)
	describeTopologySpread(w, nestedSlice(spec, "topologySpreadConstraints"), space)
	if pc := nestedString(spec, "priorityClassName"); pc != "" {
		w.line(1, "Priority Class Name:\t%s", pc)
	}
	mapLines(w, 1, "Node-Selectors", nestedStringMap(spec, "nodeSelector"), "=")
	tolerationLines(w, "Tolerations", nestedSlice(spec, "tolerations"), space)
}

// nameIndent is the extra space before a container's or volume's name inside a template.
func nameIndent(space string) string {
	if space != "" {
		return " "
	}
	return ""
}

// tolerationLines is kubectl's printPodTolerationsMultiline: one toleration a line, sorted by
// key, "op=Exists" for a wildcard and "for Ns" for a bounded NoExecute.
func tolerationLines(w *prefixWriter, title string, ts []any, space string) {
	if len(ts) == 0 {
		w.line(0, "%s%s:\t<none>", space, title)
		return
	}
	ts = slices.Clone(ts)
	sort.SliceStable(ts, func(i, j int) bool { return nestedString(ts[i], "key") < nestedString(ts[j], "key") })
	for i, t := range ts {
		s := nestedString(t, "key")
		if v := nestedString(t, "value"); v != "" {
			s += "=" + v
		}
		if e := nestedString(t, "effect"); e != "" {
			s += ":" + e
		}
		if nestedString(t, "operator") == "Exists" && nestedString(t, "value") == "" {
			if s != "" {
				s += " "
			}
			s += "op=Exists"
		}
		if secs, ok := nestedInt(t, "tolerationSeconds"); ok {
			s += fmt.Sprintf(" for %ds", secs)
		}
		if i == 0 {
			w.line(0, "%s%s:\t%s", space, title, s)
		} else {
			w.line(0, "%s\t%s", space, s)
		}
	}
}

// describeTopologySpread is kubectl's describeTopologySpreadConstraints, sorted by
// topology key; nothing at all when there are none.
func describeTopologySpread(w *prefixWriter, cs []any, space string) {
	if len(cs) == 0 {
		return
	}
	cs = slices.Clone(cs)
	sort.SliceStable(cs, func(i, j int) bool {
		return nestedString(cs[i], "topologyKey") < nestedString(cs[j], "topologyKey")
	})
	for i, c := range cs {
		s := fmt.Sprintf("%s:%s when max skew %d is exceeded", nestedString(c, "topologyKey"), nestedString(c, "whenUnsatisfiable"), num(c, "maxSkew"))
		if sel := nestedMap(c, "labelSelector"); sel != nil {
			s += " for selector " + selectorString(sel)
		}
		if i == 0 {
			w.line(0, "%sTopology Spread Constraints:\t%s", space, s)
		} else {
			w.line(0, "%s\t%s", space, s)
		}
	}
}

// describeContainers is kubectl's describeContainers: each container with its status when
// statuses has one of its name (a pod's), its probes, environment and mounts. resolve gives
// the value of a fieldRef variable (a pod's); a template has none.
func describeContainers(w *prefixWriter, label string, cs, statuses []any, space string, resolve func(fieldPath string) string) {
	none := ""
	if len(cs) == 0 {
		none = " <none>"
	}
	w.line(0, "%s%s:%s", space, label, none)
	for _, ct := range cs {
		name := nestedString(ct, "name")
		var st any
		for _, s := range statuses {
			if nestedString(s, "name") == name {
				st = s
			}
		}
		w.line(1, "%s%s:", nameIndent(space), name)
		if st != nil {
			w.line(2, "Container ID:\t%s", nestedString(st, "containerID"))
		}
		w.line(2, "Image:\t%s", nestedString(ct, "image"))
		if st != nil {
			w.line(2, "Image ID:\t%s", nestedString(st, "imageID"))
		}
		var ports, hostPorts []string
		for _, p := range nestedSlice(ct, "ports") {
			ports = append(ports, fmt.Sprintf("%d/%s", num(p, "containerPort"), nestedString(p, "protocol")))
			hostPorts = append(hostPorts, fmt.Sprintf("%d/%s", num(p, "hostPort"), nestedString(p, "protocol")))
		}
		for _, pl := range []struct {
			one, many string
			list      []string
		}{{"Port", "Ports", ports}, {"Host Port", "Host Ports", hostPorts}} {
			if len(pl.list) > 1 {
				w.line(2, "%s:\t%s", pl.many, strings.Join(pl.list, ", "))
			} else {
				w.line(2, "%s:\t%s", pl.one, orNone(strings.Join(pl.list, ", ")))
			}
		}
		if sp := nestedMap(ct, "securityContext", "seccompProfile"); sp != nil {
			w.line(2, "SeccompProfile:\t%s", nestedString(sp, "type"))
			if nestedString(sp, "type") == "Localhost" {
				w.line(3, "LocalhostProfile:\t%s", nestedString(sp, "localhostProfile"))
			}
		}
		for _, field := range []struct{ title, key string }{{"Command", "command"}, {"Args", "args"}} {
			if list := nestedSlice(ct, field.key); len(list) > 0 {
				w.line(2, "%s:", field.title)
				for _, a := range list {
					for _, s := range strings.Split(fmt.Sprint(a), "\n") {
						w.line(3, "%s", s)
					}
				}
			}
		}
		if st != nil {
			describeContainerState(w, "State", nestedMap(st, "state"))
			if nestedMap(st, "lastState", "terminated") != nil {
				describeContainerState(w, "Last State", nestedMap(st, "lastState"))
			}
			w.line(2, "Ready:\t%s", printBool(nestedBool(st, "ready")))
			w.line(2, "Restart Count:\t%d", num(st, "restartCount"))
		}
		for _, res := range []struct{ title, key string }{{"Limits", "limits"}, {"Requests", "requests"}} {
			list := nestedMap(ct, "resources", res.key)
			if len(list) == 0 {
				continue
			}
			w.line(2, "%s:", res.title)
			for _, k := range sortedKeys(list) {
				w.line(3, "%s:\t%s", k, nestedString(list, k))
			}
		}
		for _, pr := range []struct{ title, key string }{{"Liveness", "livenessProbe"}, {"Readiness", "readinessProbe"}, {"Startup", "startupProbe"}} {
			if p := nestedMap(ct, pr.key); p != nil {
				w.line(2, "%s:\t%s", pr.title, describeProbe(p))
			}
		}
		if from := nestedSlice(ct, "envFrom"); len(from) > 0 {
			w.line(2, "Environment Variables from:")
			for _, e := range from {
				kind, ref := "ConfigMap", nestedMap(e, "configMapRef")
				if ref == nil {
					kind, ref = "Secret", nestedMap(e, "secretRef")
				}
				if prefix := nestedString(e, "prefix"); prefix != "" {
					kind += fmt.Sprintf(" with prefix '%s'", prefix)
				}
				w.line(3, "%s\t%s\tOptional: %t", nestedString(ref, "name"), kind, nestedBool(ref, "optional"))
			}
		}
		describeEnv(w, nestedSlice(ct, "env"), resolve)
		mounts := nestedSlice(ct, "volumeMounts")
		if len(mounts) == 0 {
			w.line(2, "Mounts:\t<none>")
			continue
		}
		w.line(2, "Mounts:")
		mounts = slices.Clone(mounts)
		slices.SortStableFunc(mounts, func(a, b any) int {
			return strings.Compare(nestedString(a, "mountPath"), nestedString(b, "mountPath"))
		})
		for _, m := range mounts {
			flags := "rw"
			if nestedBool(m, "readOnly") {
				flags = "ro"
			}
			if sub := nestedString(m, "subPath"); sub != "" {
				flags += fmt.Sprintf(",path=%q", sub)
			}
			w.line(3, "%s from %s (%s)", nestedString(m, "mountPath"), nestedString(m, "name"), flags)
		}
	}
}

// describeEnv prints a container's variables; those from another object name it. A
// resourceFieldRef's value is not worked out (kubectl divides the container's quantity by
// the divisor): only the resource is shown.
func describeEnv(w *prefixWriter, env []any, resolve func(string) string) {
	if len(env) == 0 {
		w.line(2, "Environment:\t<none>")
		return
	}
	w.line(2, "Environment:")
	for _, e := range env {
		name, from := nestedString(e, "name"), nestedMap(e, "valueFrom")
		switch {
		case from == nil:
			for i, s := range strings.Split(nestedString(e, "value"), "\n") {
				if i == 0 {
					w.line(3, "%s:\t%s", name, s)
				} else {
					w.line(3, "\t%s", s)
				}
			}
		case from["fieldRef"] != nil:
			path, value := nestedString(from, "fieldRef", "fieldPath"), ""
			if resolve != nil {
				value = resolve(path)
			}
			w.line(3, "%s:\t%s (%s:%s)", name, value, nestedString(from, "fieldRef", "apiVersion"), path)
		case from["resourceFieldRef"] != nil:
			w.line(3, "%s:\t (%s)", name, nestedString(from, "resourceFieldRef", "resource"))
		case from["secretKeyRef"] != nil:
			ref := nestedMap(from, "secretKeyRef")
			w.line(3, "%s:\t<set to the key '%s' in secret '%s'>\tOptional: %t", name, nestedString(ref, "key"), nestedString(ref, "name"), nestedBool(ref, "optional"))
		case from["configMapKeyRef"] != nil:
			ref := nestedMap(from, "configMapKeyRef")
			w.line(3, "%s:\t<set to the key '%s' of config map '%s'>\tOptional: %t", name, nestedString(ref, "key"), nestedString(ref, "name"), nestedBool(ref, "optional"))
		}
	}
}

// podFieldResolver gives the value of a downward API field of pod, for the variables
// describe shows, as kubectl's EnvValueRetriever.
func podFieldResolver(pod Object) func(string) string {
	return func(path string) string {
		for _, m := range []string{"labels", "annotations"} {
			if rest, ok := strings.CutPrefix(path, "metadata."+m+"['"); ok {
				return nestedString(pod, "metadata", m, strings.TrimSuffix(rest, "']"))
			}
		}
		switch path {
		case "metadata.name", "metadata.namespace", "metadata.uid":
			return nestedString(pod, "metadata", strings.TrimPrefix(path, "metadata."))
		case "spec.nodeName", "spec.serviceAccountName":
			return nestedString(pod, "spec", strings.TrimPrefix(path, "spec."))
		case "status.hostIP", "status.podIP":
			return nestedString(pod, "status", strings.TrimPrefix(path, "status."))
		case "status.hostIPs", "status.podIPs":
			var ips []string
			for _, ip := range nestedSlice(pod, "status", strings.TrimPrefix(path, "status.")) {
				ips = append(ips, nestedString(ip, "ip"))
			}
			return strings.Join(ips, ",")
		}
		return ""
	}
}

// describeContainerState is kubectl's describeStatus of one container state.
func describeContainerState(w *prefixWriter, title string, state map[string]any) {
	switch {
	case state["running"] != nil:
		w.line(2, "%s:\tRunning", title)
		w.line(3, "Started:\t%s", timestamp(parseTime(nestedString(state, "running", "startedAt"))))
	case state["waiting"] != nil:
		w.line(2, "%s:\tWaiting", title)
		if r := nestedString(state, "waiting", "reason"); r != "" {
			w.line(3, "Reason:\t%s", r)
		}
	case state["terminated"] != nil:
		t := nestedMap(state, "terminated")
		w.line(2, "%s:\tTerminated", title)
		if r := nestedString(t, "reason"); r != "" {
			w.line(3, "Reason:\t%s", r)
		}
		if m := nestedString(t, "message"); m != "" {
			w.line(3, "Message:\t%s", m)
		}
		w.line(3, "Exit Code:\t%d", num(t, "exitCode"))
		if sig := num(t, "signal"); sig > 0 {
			w.line(3, "Signal:\t%d", sig)
		}
		w.line(3, "Started:\t%s", timestamp(parseTime(nestedString(t, "startedAt"))))
		w.line(3, "Finished:\t%s", timestamp(parseTime(nestedString(t, "finishedAt"))))
	default:
		w.line(2, "%s:\tWaiting", title)
	}
}

func printBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// describeProbe is kubectl's DescribeProbe: the handler, then its timings.
func describeProbe(p map[string]any) string {
	attrs := fmt.Sprintf("delay=%ds timeout=%ds period=%ds #success=%d #failure=%d", num(p, "initialDelaySeconds"),
		num(p, "timeoutSeconds"), num(p, "periodSeconds"), num(p, "successThreshold"), num(p, "failureThreshold"))
	switch {
	case p["exec"] != nil:
		var cmd []string
		for _, a := range nestedSlice(p, "exec", "command") {
			cmd = append(cmd, fmt.Sprint(a))
		}
		return fmt.Sprintf("exec [%s] %s", strings.Join(cmd, " "), attrs)
	case p["httpGet"] != nil:
		g := nestedMap(p, "httpGet")
		u := &url.URL{Scheme: strings.ToLower(nestedString(g, "scheme")), Path: nestedString(g, "path")}
		u.Host = nestedString(g, "host")
		if port := intOrString(g["port"]); port != "" {
			u.Host = net.JoinHostPort(u.Host, port)
		}
		return fmt.Sprintf("http-get %s %s", u, attrs)
	case p["tcpSocket"] != nil:
		return fmt.Sprintf("tcp-socket %s:%s %s", nestedString(p, "tcpSocket", "host"), intOrString(nested(p, "tcpSocket", "port")), attrs)
	case p["grpc"] != nil:
		return fmt.Sprintf("grpc <pod>:%d %s %s", num(p, "grpc", "port"), nestedString(p, "grpc", "service"), attrs)
	}
	return "unknown " + attrs
}
