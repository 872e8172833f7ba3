package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestOpenAPIServing checks /openapi/v3 as HTTP: any authenticated user may read it (as
// system:discovery grants in Kubernetes), documents are JSON, cached for good under their
// content hash, redirected when the hash is stale, and revalidated by Etag.
func TestOpenAPIServing(t *testing.T) {
	s := testServer(t)
	alice := userClient(t, s, "alice") // no roles beyond the bootstrap ones every user has
	noFollow := *alice.http
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string, header ...string) response {
		t.Helper()
		req, err := http.NewRequest("GET", alice.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{code: resp.StatusCode, body: b, header: resp.Header}
	}

	index := get("/openapi/v3").must(t, 200)
	if index.header.Get("Etag") == "" || index.header.Get("Content-Type") != "application/json" {
		t.Errorf("index headers: %v", index.header)
	}
	var idx struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(index.body, &idx); err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1"} {
		if !strings.HasPrefix(idx.Paths[gv].ServerRelativeURL, "/openapi/v3/"+gv+"?hash=") {
			t.Errorf("index entry for %s: %q", gv, idx.Paths[gv].ServerRelativeURL)
		}
	}
	get("/openapi/v3", "If-None-Match", index.header.Get("Etag")).must(t, 304)

	url := idx.Paths["apis/apps/v1"].ServerRelativeURL
	hash := url[strings.Index(url, "hash=")+len("hash="):]
	doc := get(url, "Accept", "application/json").must(t, 200)
	for h, want := range map[string]string{
		"Content-Type": "application/json", "Cache-Control": "public, immutable", "Etag": strconv.Quote(hash), "Vary": "Accept",
	} {
		if got := doc.header.Get(h); got != want {
			t.Errorf("%s: %s = %q, want %q", url, h, got, want)
		}
	}
	if v := doc.json(t); v["openapi"] != "3.0.0" || dig(v, "paths", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch", "x-kubernetes-group-version-kind", "kind") != "Deployment" {
		t.Errorf("apps/v1 document: openapi %v, paths lack the deployment PATCH", v["openapi"])
	}
	get(url, "If-None-Match", strconv.Quote(hash)).must(t, 304)

	// Without a hash the document is served but not marked immutable.
	if plain := get("/openapi/v3/apis/apps/v1").must(t, 200); plain.header.Get("Cache-Control") != "" {
		t.Errorf("unhashed URL is cacheable: %v", plain.header)
	}
	// A stale hash (a client's cached index from an older server) is sent to the current one.
	if moved := get("/openapi/v3/apis/apps/v1?hash=0123").must(t, 301); moved.header.Get("Location") != url {
		t.Errorf("stale hash redirected to %q, want %q", moved.header.Get("Location"), url)
	}
	// Only JSON is served; kube-openapi's protobuf form is refused like Kubernetes refuses an
	// unknown media type.
	get(url, "Accept", "application/com.github.proto-openapi.spec.v3.v1.0+protobuf").must(t, 406)
	get("/openapi/v3/apis/nope.example.com/v1").must(t, 404)
	get("/openapi/v2").must(t, 404)
	// Reading is all system:discovery grants; nobody may write.
	alice.do("POST", "/openapi/v3", "application/json", "{}").must(t, 403)
	adminClient(t, s).do("POST", "/openapi/v3", "application/json", "{}").must(t, 405)
	anonymousClient(t, s).get("/openapi/v3").must(t, 401)
}
