package cmd

import (
	"testing"
)

func TestExposeService(t *testing.T) {
	const (
		deployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"spec":{"containers":[{"name":"c","ports":[{"containerPort":8080,"protocol":"TCP"}]}]}}}}`
		// Port 80 twice over, 53 over UDP and TCP, 81 over UDP only.
		pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dup","labels":{"app":"dup"}},"spec":{"containers":[
			{"name":"a","ports":[{"containerPort":80},{"containerPort":53,"protocol":"UDP"}]},
			{"name":"b","ports":[{"containerPort":80},{"containerPort":81,"protocol":"UDP"},{"containerPort":53,"protocol":"TCP"}]}]}}`
		service = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"dns"},"spec":{"selector":{"app":"dns"},"ports":[{"port":53,"protocol":"UDP"},{"port":53,"protocol":"TCP","targetPort":5353},{"port":9153,"protocol":"TCP"}]}}`
		svcMeta = `"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null,`
		status  = `"status":{"loadBalancer":{}}}`
	)
	for _, tc := range []struct {
		name string
		obj  string
		req  exposeRequest
		want string
	}{
		{"deployment: its selector, labels and only port", deployment, exposeRequest{},
			`{` + svcMeta + `"labels":{"app":"web"},"name":"web"},"spec":{"ports":[{"port":8080,"protocol":"TCP","targetPort":8080}],"selector":{"app":"web"}},` + status},
		{"flags", deployment, exposeRequest{name: "w2", port: "80", targetPort: "http", typ: "NodePort", labels: "a=b,c=d", selector: "x=y", clusterIP: "None", sessionAffinity: "ClientIP", externalIP: "1.1.1.1"},
			`{` + svcMeta + `"labels":{"a":"b","c":"d"},"name":"w2"},"spec":{"clusterIP":"None","externalIPs":["1.1.1.1"],"ports":[{"port":80,"protocol":"TCP","targetPort":"http"}],"selector":{"x":"y"},"sessionAffinity":"ClientIP","type":"NodePort"},` + status},
		{"load balancer IP only for LoadBalancer", deployment, exposeRequest{port: "80", targetPort: "8080", typ: "LoadBalancer", loadBalancerIP: "2.2.2.2"},
			`{` + svcMeta + `"labels":{"app":"web"},"name":"web"},"spec":{"loadBalancerIP":"2.2.2.2","ports":[{"port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"web"},"type":"LoadBalancer"},` + status},
		{"pod: each port once, a port per protocol", pod, exposeRequest{},
			`{` + svcMeta + `"labels":{"app":"dup"},"name":"dup"},"spec":{"ports":[{"name":"port-1-tcp","port":80,"protocol":"TCP","targetPort":80},{"name":"port-1-tcp","port":80,"protocol":"TCP","targetPort":80},{"name":"port-2-udp","port":53,"protocol":"UDP","targetPort":53},{"name":"port-2-tcp","port":53,"protocol":"TCP","targetPort":53},{"name":"port-3","port":81,"protocol":"UDP","targetPort":81}],"selector":{"app":"dup"}},` + status},
		{"--protocol overrides the pod's", pod, exposeRequest{protocol: "SCTP"},
			`{` + svcMeta + `"labels":{"app":"dup"},"name":"dup"},"spec":{"ports":[{"name":"port-1","port":80,"protocol":"SCTP","targetPort":80},{"name":"port-2","port":53,"protocol":"SCTP","targetPort":53},{"name":"port-3","port":81,"protocol":"SCTP","targetPort":81}],"selector":{"app":"dup"}},` + status},
		{"--port takes the pod's protocol", pod, exposeRequest{port: "81"},
			`{` + svcMeta + `"labels":{"app":"dup"},"name":"dup"},"spec":{"ports":[{"port":81,"protocol":"UDP","targetPort":81}],"selector":{"app":"dup"}},` + status},
		{"--port of an unknown port is TCP", pod, exposeRequest{port: "99"},
			`{` + svcMeta + `"labels":{"app":"dup"},"name":"dup"},"spec":{"ports":[{"port":99,"protocol":"TCP","targetPort":99}],"selector":{"app":"dup"}},` + status},
		{"service: its ports, targets are the ports", service, exposeRequest{name: "dns2"},
			`{` + svcMeta + `"name":"dns2"},"spec":{"ports":[{"name":"port-1-udp","port":53,"protocol":"UDP","targetPort":53},{"name":"port-1-tcp","port":53,"protocol":"TCP","targetPort":53},{"name":"port-2","port":9153,"protocol":"TCP","targetPort":9153}],"selector":{"app":"dns"}},` + status},
		{"headless needs no port", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c"}]}}`, exposeRequest{clusterIP: "None"},
			`{` + svcMeta + `"labels":{"a":"b"},"name":"p"},"spec":{"clusterIP":"None","selector":{"a":"b"}},` + status},
		{"long names are cut to 63", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p123456789012345678901234567890123456789012345678901234567890123456789","labels":{"a":"b"}}}`, exposeRequest{port: "1"},
			`{` + svcMeta + `"labels":{"a":"b"},"name":"p12345678901234567890123456789012345678901234567890123456789012"},"spec":{"ports":[{"port":1,"protocol":"TCP","targetPort":1}],"selector":{"a":"b"}},` + status},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := tc.req.service(decode(t, tc.obj))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(mustJSON(svc)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestExposeErrors(t *testing.T) {
	for _, tc := range []struct {
		obj  string
		req  exposeRequest
		want string
	}{
		{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, exposeRequest{}, "cannot expose a ConfigMap"},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`, exposeRequest{port: "80"},
			"couldn't retrieve selectors via --selector flag or introspection: the pod has no labels and cannot be exposed"},
		{`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"type":"ExternalName"}}`, exposeRequest{},
			"couldn't retrieve selectors via --selector flag or introspection: the service has no pod selector set"},
		{`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"x"},"spec":{"selector":{"matchLabels":{"a":"b"},"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]}}}`, exposeRequest{},
			`couldn't retrieve selectors via --selector flag or introspection: couldn't convert expressions - "[{Key:tier Operator:In Values:[a b]}]" to map-based selector format`},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","labels":{"a":"b"}}}`, exposeRequest{}, "couldn't find port via --port flag or introspection"},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`, exposeRequest{selector: "a", port: "80"}, "unexpected label spec: a"},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`, exposeRequest{selector: "=b", port: "80"}, "unexpected empty label key"},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","labels":{"a":"b"}}}`, exposeRequest{labels: "a=b=c", port: "80"}, "unexpected label spec: a=b=c"},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","labels":{"a":"b"}}}`, exposeRequest{port: "abc"}, `strconv.Atoi: parsing "abc": invalid syntax`},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","labels":{"a":"b"}}}`, exposeRequest{port: "80", sessionAffinity: "Foo"}, "unknown session affinity: Foo"},
	} {
		_, err := tc.req.service(decode(t, tc.obj))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s %+v: error %v, want %q", tc.obj, tc.req, err, tc.want)
		}
	}
}
