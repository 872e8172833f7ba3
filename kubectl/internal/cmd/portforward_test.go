package cmd

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseForwardPorts(t *testing.T) {
	for _, tc := range []struct {
		spec, want string
	}{
		{"5000", "[{5000 5000}]"},
		{"8888:5000", "[{8888 5000}]"},
		{":5000", "[{0 5000}]"},
		{"0:5000", "[{0 5000}]"},
		{"1:2:3", "invalid port format '1:2:3'"},
		{"x:80", "error parsing local port 'x': strconv.ParseUint: parsing \"x\": invalid syntax"},
		{"80:", "error parsing remote port '': strconv.ParseUint: parsing \"\": invalid syntax"},
		{"80:0", "remote port must be > 0"},
	} {
		ports, err := parseForwardPorts([]string{tc.spec})
		got := fmtPorts(ports)
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.spec, got, tc.want)
		}
	}
}

func TestParseListenAddresses(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"localhost"}, "127.0.0.1/tcp4/false ::1/tcp6/false"},
		{[]string{"localhost", "10.0.0.1", "127.0.0.1"}, "10.0.0.1/tcp4/true 127.0.0.1/tcp4/true ::1/tcp6/false"},
		{[]string{"::"}, "::/tcp6/true"},
		{[]string{"example.com"}, "example.com is not a valid IP"},
	} {
		addrs, err := parseListenAddresses(tc.in)
		var parts []string
		for _, a := range addrs {
			parts = append(parts, fmt.Sprintf("%s/%s/%v", a.address, a.network, a.mustWork))
		}
		got := strings.Join(parts, " ")
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%v: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPodPortsToNumbers(t *testing.T) {
	pod := decode(t, `{"metadata":{"name":"web"},"spec":{"containers":[
{"name":"a","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"name":"dns","containerPort":53,"protocol":"UDP"}]},
{"name":"b","ports":[{"name":"both","containerPort":54,"protocol":"UDP"},{"containerPort":54,"protocol":"TCP"}]}]}}`)
	for _, tc := range []struct{ spec, want string }{
		{"80", "80"},
		{"http", "8080"}, // REMOTE alone: the local port is the number too
		{"9090:http", "9090:8080"},
		{":http", ":8080"},
		{"both", "54"},
		{"https", "Pod 'web' does not have a named port 'https'"},
		{"dns", "UDP protocol is not supported for dns"},
		{"53", "UDP protocol is not supported for 53"},
		{"80:", "remote port cannot be empty"},
	} {
		out, err := podPortsToNumbers(pod, []string{tc.spec})
		got := strings.Join(out, ",")
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestServicePortsToTarget(t *testing.T) {
	pod := decode(t, `{"metadata":{"name":"web"},"spec":{"containers":[{"name":"a","ports":[{"name":"http","containerPort":8080}]}]}}`)
	svc := decode(t, `{"kind":"Service","metadata":{"name":"front"},"spec":{"ports":[
{"name":"web","port":80,"targetPort":"http","protocol":"TCP"},{"name":"admin","port":9000,"targetPort":9999,"protocol":"TCP"},
{"name":"same","port":7000,"protocol":"TCP"},{"name":"dns","port":53,"targetPort":53,"protocol":"UDP"}]}}`)
	for _, tc := range []struct{ spec, want string }{
		{"80", "80:8080"},
		{"web", "80:8080"}, // a named service port alone: the local port is its number
		{"5000:admin", "5000:9999"},
		{"7000", "7000"},
		{"81", "Service front does not have a service port 81"},
		{"nope", "Service 'front' does not have a named port 'nope'"},
		{"dns", "UDP protocol is not supported for dns"},
	} {
		out, err := servicePortsToTarget(svc, pod, []string{tc.spec})
		got := strings.Join(out, ",")
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestSortMostActive(t *testing.T) {
	pods := []Object{
		decode(t, `{"metadata":{"name":"unassigned"},"status":{"phase":"Pending"}}`),
		decode(t, `{"metadata":{"name":"pending"},"spec":{"nodeName":"n"},"status":{"phase":"Pending"}}`),
		decode(t, `{"metadata":{"name":"running"},"spec":{"nodeName":"n"},"status":{"phase":"Running"}}`),
		decode(t, `{"metadata":{"name":"ready-new"},"spec":{"nodeName":"n"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-02T00:00:00Z"}]}}`),
		decode(t, `{"metadata":{"name":"ready-old-restarted"},"spec":{"nodeName":"n"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}],"containerStatuses":[{"restartCount":2}]}}`),
		decode(t, `{"metadata":{"name":"ready-old","creationTimestamp":"2025-12-01T00:00:00Z"},"spec":{"nodeName":"n"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`),
		decode(t, `{"metadata":{"name":"ready-old-older","creationTimestamp":"2025-11-01T00:00:00Z"},"spec":{"nodeName":"n"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`),
	}
	sortMostActive(pods)
	var names []string
	for _, p := range pods {
		names = append(names, nestedString(p, "metadata", "name"))
	}
	if got, want := strings.Join(names, " "), "ready-old-older ready-old ready-old-restarted ready-new running pending unassigned"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestPodSelector(t *testing.T) {
	for _, tc := range []struct{ obj, want string }{
		{`{"kind":"Deployment","spec":{"selector":{"matchLabels":{"app":"web","tier":"front"}}}}`, "app=web,tier=front"},
		{`{"kind":"Job","spec":{"selector":{"matchExpressions":[{"key":"env","operator":"In","values":["a","b"]},{"key":"x","operator":"Exists"}]}}}`, "env in (a,b),x"},
		{`{"kind":"Service","spec":{"selector":{"app":"web"}}}`, "app=web"},
		{`{"apiVersion":"v1","kind":"ConfigMap"}`, "cannot attach to *v1.ConfigMap: selector for *v1.ConfigMap not implemented"},
	} {
		got, err := podSelector(decode(t, tc.obj))
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.obj, got, tc.want)
		}
	}
}
