package server

import (
	"encoding/base64"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
)

const (
	configmaps = "/api/v1/namespaces/default/configmaps"
	secrets    = "/api/v1/namespaces/default/secrets"
)

func TestConfigMapsAndSecrets(t *testing.T) {
	s := testServer(t)
	c := adminClient(t, s)

	// ConfigMap: create, get, list, update, delete; binaryData is base64 both ways.
	cm := c.post(configmaps, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"1","game.properties":"lives=3\n"},"binaryData":{"bin":"+/8A"}}`).
		must(t, http.StatusCreated).json(t)
	if dig(cm, "data", "a") != "1" || dig(cm, "binaryData", "bin") != "+/8A" || dig(cm, "metadata", "generation") != nil {
		t.Errorf("created configmap = %v", cm)
	}
	rv := str(dig(cm, "metadata", "resourceVersion"))
	c.get(configmaps+"/cfg").must(t, http.StatusOK)
	if items := c.get("/api/v1/configmaps").must(t, http.StatusOK).json(t)["items"].([]any); len(items) != 1 {
		t.Errorf("list = %v", items)
	}
	upd := c.put(configmaps+"/cfg", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","resourceVersion":"`+rv+`"},"data":{"a":"2"},"immutable":true}`).
		must(t, http.StatusOK).json(t)
	if dig(upd, "data", "a") != "2" || dig(upd, "binaryData") != nil || dig(upd, "immutable") != true {
		t.Errorf("updated configmap = %v", upd)
	}
	// Immutable now: data may not change, immutable may not be unset; labels still may.
	rv = str(dig(upd, "metadata", "resourceVersion"))
	st := c.put(configmaps+"/cfg", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","resourceVersion":"`+rv+`"},"data":{"a":"3"}}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if msg := str(st["message"]); !strings.Contains(msg, "immutable: Forbidden: field is immutable when `immutable` is set") ||
		!strings.Contains(msg, "data: Forbidden: field is immutable when `immutable` is set") {
		t.Errorf("immutable update: %s", msg)
	}
	c.do("PATCH", configmaps+"/cfg", "application/merge-patch+json", `{"metadata":{"labels":{"x":"y"}}}`).must(t, http.StatusOK)
	c.del(configmaps+"/cfg").must(t, http.StatusOK)
	c.get(configmaps+"/cfg").must(t, http.StatusNotFound)

	// Invalid keys: 422 naming the field.
	st = c.post(configmaps, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bad"},"data":{"a/b":"x"}}`).must(t, http.StatusUnprocessableEntity).json(t)
	if dig(st, "details", "causes", 0, "field") != "data[a/b]" || !strings.Contains(str(st["message"]), "a valid config key must consist of alphanumeric characters") {
		t.Errorf("bad key: %v", st)
	}
	st = c.post(secrets, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"bad"},"stringData":{"..":"x"}}`).must(t, http.StatusUnprocessableEntity).json(t)
	if dig(st, "details", "causes", 0, "field") != "data[..]" {
		t.Errorf("bad secret key: %v", st)
	}

	// Secret: data is base64 of any bytes; stringData is merged over data and never returned.
	raw := []byte{0, 1, 0xfe, 0xff, 'x'}
	sec := c.post(secrets, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"raw":"`+base64.StdEncoding.EncodeToString(raw)+`","p":"b2xk"},"stringData":{"p":"new","u":"admin"}}`).
		must(t, http.StatusCreated).json(t)
	want := map[string]any{"raw": "AAH+/3g=", "p": base64.StdEncoding.EncodeToString([]byte("new")), "u": "YWRtaW4="}
	for _, got := range []map[string]any{sec, c.get(secrets+"/s").must(t, http.StatusOK).json(t)} {
		if !reflect.DeepEqual(got["data"], want) || got["type"] != "Opaque" || got["stringData"] != nil {
			t.Errorf("secret = %v", got)
		}
	}
	// type cannot change; once immutable, data cannot either (through stringData too).
	rv = str(dig(sec, "metadata", "resourceVersion"))
	st = c.put(secrets+"/s", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","resourceVersion":"`+rv+`"},"type":"kubernetes.io/tls"}`).
		must(t, http.StatusUnprocessableEntity).json(t)
	if dig(st, "details", "causes", 0, "field") != "type" || !strings.Contains(str(st["message"]), "field is immutable") {
		t.Errorf("type change: %v", st)
	}
	c.do("PATCH", secrets+"/s", "application/merge-patch+json", `{"immutable":true}`).must(t, http.StatusOK)
	st = c.do("PATCH", secrets+"/s", "application/merge-patch+json", `{"stringData":{"p":"again"}}`).must(t, http.StatusUnprocessableEntity).json(t)
	if !strings.Contains(str(st["message"]), "data: Forbidden: field is immutable when `immutable` is set") {
		t.Errorf("immutable secret: %v", st["message"])
	}

	// The controller-manager (namespace controller, garbage collector) may list and delete
	// them: it walks every kind of scheme.Mappings when a namespace goes.
	kcm := userClient(t, s, "system:kube-controller-manager")
	kcm.get("/api/v1/secrets").must(t, http.StatusOK)
	kcm.do("DELETE", secrets, "", "").must(t, http.StatusOK)
	c.get(secrets+"/s").must(t, http.StatusNotFound)
	c.post(secrets, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"a":"1","b":"2","c":"3"}}`).must(t, http.StatusCreated)

	// Tables with kubectl's columns.
	c.post(configmaps, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"},"data":{"a":"1"},"binaryData":{"b":"AA=="}}`).must(t, http.StatusCreated)
	for _, tc := range []struct {
		path    string
		columns []string
		cells   []any
	}{
		{configmaps, []string{"Name", "Data", "Age"}, []any{"t", float64(2)}},
		{secrets, []string{"Name", "Type", "Data", "Age"}, []any{"s", "Opaque", float64(3)}},
	} {
		tbl := c.getAccept(tc.path, tableAccept).must(t, http.StatusOK).json(t)
		var cols []string
		for _, col := range tbl["columnDefinitions"].([]any) {
			cols = append(cols, str(dig(col, "name")))
		}
		cells := dig(tbl, "rows", 0, "cells").([]any)
		if !reflect.DeepEqual(cols, tc.columns) || !reflect.DeepEqual(cells[:len(tc.cells)], tc.cells) {
			t.Errorf("%s table: columns %v cells %v", tc.path, cols, cells)
		}
	}
}

// TestNodeAuthorizerConfigMapsAndSecrets: a kubelet may get (or list and watch one by one)
// the ConfigMaps and Secrets its own pods reference (volumes, projected volumes' sources,
// env, imagePullSecrets), and nothing else of theirs.
func TestNodeAuthorizerConfigMapsAndSecrets(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	for _, n := range []string{"node-1", "node-2"} {
		admin.post("/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"`+n+`"}}`).must(t, 201)
	}
	for _, name := range []string{"vol", "env", "envfrom", "other", "init", "projected"} {
		admin.post(configmaps, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"`+name+`"}}`).must(t, 201)
		admin.post(secrets, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"`+name+`"}}`).must(t, 201)
	}
	admin.post(secrets, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"pull"}}`).must(t, 201)
	admin.post(pods, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1"},"spec":{"nodeName":"node-1",
		"imagePullSecrets":[{"name":"pull"}],
		"volumes":[{"name":"a","configMap":{"name":"vol"}},{"name":"b","secret":{"secretName":"vol"}},
			{"name":"p","projected":{"sources":[{"configMap":{"name":"projected"}},{"secret":{"name":"projected"}}]}}],
		"initContainers":[{"name":"i","image":"busybox","envFrom":[{"configMapRef":{"name":"init"}},{"secretRef":{"name":"init"}}]}],
		"containers":[{"name":"c","image":"nginx:1.14.2",
			"env":[{"name":"A","valueFrom":{"configMapKeyRef":{"name":"env","key":"k"}}},{"name":"B","valueFrom":{"secretKeyRef":{"name":"env","key":"k"}}}],
			"envFrom":[{"configMapRef":{"name":"envfrom"}},{"secretRef":{"name":"envfrom"}}]}]}}`).must(t, 201)
	// A pod on node-2 references "other": node-1 may still not read it.
	admin.post(pods, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p2"},"spec":{"nodeName":"node-2",
		"volumes":[{"name":"a","configMap":{"name":"other"}},{"name":"b","secret":{"secretName":"other"}}],
		"containers":[{"name":"c","image":"nginx:1.14.2"}]}}`).must(t, 201)

	node1 := userClient(t, s, "system:node:node-1", "system:nodes")
	node2 := userClient(t, s, "system:node:node-2", "system:nodes")
	for _, name := range []string{"vol", "env", "envfrom", "init", "projected"} {
		node1.get(configmaps+"/"+name).must(t, http.StatusOK)
		node1.get(secrets+"/"+name).must(t, http.StatusOK)
		node2.get(configmaps+"/"+name).must(t, http.StatusForbidden)
		node2.get(secrets+"/"+name).must(t, http.StatusForbidden)
	}
	node1.get(secrets+"/pull").must(t, http.StatusOK)
	node1.get(configmaps+"/pull").must(t, http.StatusForbidden) // imagePullSecrets are secrets
	node2.get(configmaps+"/other").must(t, http.StatusOK)
	st := node1.get(configmaps+"/other").must(t, http.StatusForbidden).json(t)
	if msg := str(st["message"]); !strings.Contains(msg, `no relationship found between node 'node-1' and this object`) {
		t.Errorf("403 message: %s", msg)
	}
	node1.get(secrets+"/other").must(t, http.StatusForbidden)
	// One referenced object alone may be listed and watched (field selector metadata.name):
	// the kubelet watches each object its pods use so. A namespace or all of them, never.
	list := node1.get(configmaps+"?fieldSelector=metadata.name%3Dvol").must(t, http.StatusOK).json(t)
	if items := list["items"].([]any); len(items) != 1 || str(dig(items[0], "metadata", "name")) != "vol" {
		t.Errorf("list by name: %v", list["items"])
	}
	node1.get(secrets+"?fieldSelector=metadata.name%3Dvol&watch=1&timeoutSeconds=1").must(t, http.StatusOK)
	node1.get(configmaps+"?fieldSelector=metadata.name%3Dother&watch=1&timeoutSeconds=1").must(t, http.StatusForbidden)
	node1.get("/api/v1/configmaps?fieldSelector=metadata.name%3Dvol").must(t, http.StatusForbidden)
	// Never lists or watches many, nor writes.
	node1.get(configmaps).must(t, http.StatusForbidden)
	node1.get("/api/v1/secrets").must(t, http.StatusForbidden)
	node1.put(configmaps+"/vol", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"vol"}}`).must(t, http.StatusForbidden)
	node1.del(secrets+"/vol").must(t, http.StatusForbidden)
	// Once the pod is gone, so is the relationship.
	admin.do("DELETE", pods+"/p1", "application/json", `{"gracePeriodSeconds":0}`).must(t, http.StatusOK)
	eventually(t, "p1 gone from the cache", func() bool {
		return node1.get(configmaps+"/vol").code == http.StatusForbidden
	})
}

func TestStockKubectlConfigMapsAndSecrets(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s := testServer(t)
	if out := kubectl(t, s, "create", "configmap", "x", "--from-literal=a=b", "--from-literal=c=d"); strings.TrimSpace(out) != "configmap/x created" {
		t.Errorf("create configmap: %q", out)
	}
	if out := kubectl(t, s, "create", "secret", "generic", "s", "--from-literal=p=q"); strings.TrimSpace(out) != "secret/s created" {
		t.Errorf("create secret: %q", out)
	}
	out := kubectl(t, s, "get", "cm,secret")
	for _, want := range []string{"NAME", "DATA", "AGE", "configmap/x", "TYPE", "secret/s", "Opaque"} {
		if !strings.Contains(out, want) {
			t.Errorf("get cm,secret lacks %q:\n%s", want, out)
		}
	}
	if out := kubectl(t, s, "get", "secret", "s", "-o", "jsonpath={.data.p}"); out != "cQ==" {
		t.Errorf("secret data = %q, want cQ==", out)
	}
	if out := kubectl(t, s, "get", "configmap", "x", "-o", "jsonpath={.data.c}"); out != "d" {
		t.Errorf("configmap data = %q", out)
	}
}
