package request

import (
	"net/url"
	"testing"
)

func TestParseInfo(t *testing.T) {
	cases := []struct {
		method, path, query string
		want                Info
	}{
		{"GET", "/api/v1/namespaces/default/pods", "", Info{IsResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "default", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/default/pods/x", "", Info{IsResourceRequest: true, Verb: "get", APIVersion: "v1", Namespace: "default", Resource: "pods", Name: "x"}},
		{"GET", "/api/v1/namespaces/default/pods", "watch=1", Info{IsResourceRequest: true, Verb: "watch", APIVersion: "v1", Namespace: "default", Resource: "pods"}},
		{"GET", "/api/v1/watch/namespaces/default/pods", "", Info{IsResourceRequest: true, Verb: "watch", APIVersion: "v1", Namespace: "default", Resource: "pods"}},
		{"POST", "/api/v1/namespaces/default/pods/x/binding", "", Info{IsResourceRequest: true, Verb: "create", APIVersion: "v1", Namespace: "default", Resource: "pods", Name: "x", Subresource: "binding"}},
		{"PUT", "/apis/apps/v1/namespaces/ns/deployments/d/status", "", Info{IsResourceRequest: true, Verb: "update", APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Resource: "deployments", Name: "d", Subresource: "status"}},
		{"GET", "/apis/apps/v1/deployments", "", Info{IsResourceRequest: true, Verb: "list", APIGroup: "apps", APIVersion: "v1", Resource: "deployments"}},
		{"GET", "/api/v1/namespaces", "", Info{IsResourceRequest: true, Verb: "list", APIVersion: "v1", Resource: "namespaces"}},
		{"GET", "/api/v1/namespaces/kube-system", "", Info{IsResourceRequest: true, Verb: "get", APIVersion: "v1", Namespace: "kube-system", Resource: "namespaces", Name: "kube-system"}},
		{"PUT", "/api/v1/namespaces/foo/finalize", "", Info{IsResourceRequest: true, Verb: "update", APIVersion: "v1", Namespace: "foo", Resource: "namespaces", Name: "foo", Subresource: "finalize"}},
		{"DELETE", "/api/v1/namespaces/default/pods", "", Info{IsResourceRequest: true, Verb: "deletecollection", APIVersion: "v1", Namespace: "default", Resource: "pods"}},
		{"DELETE", "/api/v1/nodes/n1", "", Info{IsResourceRequest: true, Verb: "delete", APIVersion: "v1", Resource: "nodes", Name: "n1"}},
		{"GET", "/api", "", Info{Verb: "get"}},
		{"GET", "/apis/apps/v1", "", Info{Verb: "get", APIGroup: "apps", APIVersion: "v1"}},
		{"GET", "/healthz", "", Info{Verb: "get"}},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			q, _ := url.ParseQuery(c.query)
			got := ParseInfo(c.method, c.path, q)
			c.want.Path = c.path
			if *got != c.want {
				t.Errorf("got  %+v\nwant %+v", *got, c.want)
			}
		})
	}
}
