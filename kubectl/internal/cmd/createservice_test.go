package cmd

import (
	"testing"
)

func TestCreateServiceObject(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  serviceRequest
		want string
	}{
		{"clusterip ports named after --tcp", serviceRequest{typ: "ClusterIP", name: "web", tcp: []string{"80:8080", "443", "8443:https"}},
			`{"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null,"labels":{"app":"web"},"name":"web"},"spec":{"ports":[{"name":"80-8080","port":80,"protocol":"TCP","targetPort":8080},{"name":"443","port":443,"protocol":"TCP","targetPort":443},{"name":"8443-https","port":8443,"protocol":"TCP","targetPort":"https"}],"selector":{"app":"web"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}`},
		{"headless", serviceRequest{typ: "ClusterIP", name: "hl", clusterIP: "None"},
			`{"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null,"labels":{"app":"hl"},"name":"hl"},"spec":{"clusterIP":"None","selector":{"app":"hl"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}`},
		{"nodeport on every port, namespace when -n named it", serviceRequest{typ: "NodePort", name: "np", namespace: "x", tcp: []string{"80", "81"}, nodePort: 30080},
			`{"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null,"labels":{"app":"np"},"name":"np","namespace":"x"},"spec":{"ports":[{"name":"80","nodePort":30080,"port":80,"protocol":"TCP","targetPort":80},{"name":"81","nodePort":30080,"port":81,"protocol":"TCP","targetPort":81}],"selector":{"app":"np"},"type":"NodePort"},"status":{"loadBalancer":{}}}`},
		{"externalname", serviceRequest{typ: "ExternalName", name: "ex", externalName: "example.com"},
			`{"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null,"labels":{"app":"ex"},"name":"ex"},"spec":{"externalName":"example.com","selector":{"app":"ex"},"type":"ExternalName"},"status":{"loadBalancer":{}}}`},
		{"a third part is ignored", serviceRequest{typ: "LoadBalancer", name: "lb", tcp: []string{"80:8080:9"}},
			`{"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null,"labels":{"app":"lb"},"name":"lb"},"spec":{"ports":[{"name":"80-8080-9","port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"lb"},"type":"LoadBalancer"},"status":{"loadBalancer":{}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.req.validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			obj, err := tc.req.build()
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			if got := string(mustJSON(obj)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCreateServiceErrors(t *testing.T) {
	for _, tc := range []struct {
		req  serviceRequest
		want string
	}{
		{serviceRequest{typ: "NodePort", clusterIP: "None"}, "ClusterIP=None can only be used with ClusterIP service type"},
		{serviceRequest{typ: "ClusterIP"}, "at least one tcp port specifier must be provided"},
		{serviceRequest{typ: "LoadBalancer"}, "at least one tcp port specifier must be provided"},
		{serviceRequest{typ: "ExternalName", externalName: "Bad_Name"}, "invalid service external name Bad_Name"},
		{serviceRequest{typ: "ExternalName"}, "invalid service external name "},
		{serviceRequest{typ: "ClusterIP", tcp: []string{"abc"}}, `strconv.ParseUint: parsing "abc": invalid syntax`},
		{serviceRequest{typ: "ClusterIP", tcp: []string{"70000"}}, `strconv.ParseUint: parsing "70000": value out of range`},
		{serviceRequest{typ: "ClusterIP", tcp: []string{"80:70000"}}, "must be between 1 and 65535, inclusive"},
		{serviceRequest{typ: "ClusterIP", tcp: []string{"80:0"}}, "must be between 1 and 65535, inclusive"},
		{serviceRequest{typ: "ClusterIP", tcp: []string{"80:Bad_Name"}}, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"},
		{serviceRequest{typ: "ClusterIP", tcp: []string{"80:a-very-long-port-name"}}, "must be no more than 15 characters"},
	} {
		err := tc.req.validate()
		if err == nil {
			_, err = tc.req.build()
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: error %v, want %q", tc.req, err, tc.want)
		}
	}
}
