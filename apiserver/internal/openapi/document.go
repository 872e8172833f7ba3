// Package openapi generates the OpenAPI v3 documents the apiserver publishes at /openapi/v3:
// an index naming one document per served group version, and each group version's document,
// with the paths and operations the REST front door answers and a schema per kind.
//
// Stock clients read them to learn what the server supports: kubectl's default
// --validate=strict looks for a PATCH operation carrying the object's
// x-kubernetes-group-version-kind and a fieldValidation query parameter, and when it finds one
// it leaves field validation to the server; kubectl explain walks components.schemas.
//
// Nothing here is written per kind: paths come from the registry's resources and schemas from
// the proto descriptors of the scheme's Go types, so adding a kind adds its documentation.
package openapi

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"kubelab.io/apiserver/internal/registry"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

// Document is an OpenAPI 3.0 document, with only the parts kubelab fills.
type Document struct {
	OpenAPI    string               `json:"openapi"`
	Info       Info                 `json:"info"`
	Paths      map[string]*PathItem `json:"paths"`
	Components Components           `json:"components"`
}

type Info struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

type Components struct {
	Schemas map[string]*Schema `json:"schemas"`
}

// PathItem is one URL path. Parameters shared by all its operations (the path's own
// segments) sit here; kubectl looks for query parameters such as fieldValidation on the
// operation itself, so those are never hoisted to the path.
type PathItem struct {
	Get        *Operation   `json:"get,omitempty"`
	Put        *Operation   `json:"put,omitempty"`
	Post       *Operation   `json:"post,omitempty"`
	Delete     *Operation   `json:"delete,omitempty"`
	Patch      *Operation   `json:"patch,omitempty"`
	Parameters []*Parameter `json:"parameters,omitempty"`
}

type Operation struct {
	Tags        []string             `json:"tags,omitempty"`
	Description string               `json:"description,omitempty"`
	OperationID string               `json:"operationId"`
	Parameters  []*Parameter         `json:"parameters,omitempty"`
	RequestBody *RequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*Response `json:"responses"`
	Action      string               `json:"x-kubernetes-action"`
	GVK         GVK                  `json:"x-kubernetes-group-version-kind"`
}

// GVK is the value of x-kubernetes-group-version-kind. group is always written, empty for
// the core group: kubectl explain compares the operation's and the schema's values as maps.
type GVK struct {
	Group   string `json:"group"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
}

// Parameter is always written inline: kubectl's query parameter check reads only inline
// parameters' names, never resolves a $ref.
type Parameter struct {
	Name        string  `json:"name"`
	In          string  `json:"in"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Schema      *Schema `json:"schema"`
}

type RequestBody struct {
	Content  map[string]*MediaType `json:"content"`
	Required bool                  `json:"required,omitempty"`
}

type MediaType struct {
	Schema *Schema `json:"schema"`
}

type Response struct {
	Description string                `json:"description"`
	Content     map[string]*MediaType `json:"content,omitempty"`
}

// Schema is an OpenAPI 3.0 schema object.
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Description          string             `json:"description,omitempty"`
	Type                 string             `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	AdditionalProperties *Schema            `json:"additionalProperties,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	OneOf                []*Schema          `json:"oneOf,omitempty"`
	IntOrString          bool               `json:"x-kubernetes-int-or-string,omitempty"`
	// GVKs marks the schema of a kind (a list, as Kubernetes writes it on schemas).
	GVKs []GVK `json:"x-kubernetes-group-version-kind,omitempty"`
}

// Published holds the documents as served: serialized once, each with the content hash
// clients cache it by.
type Published struct {
	// Index is /openapi/v3: {"paths": {"apis/apps/v1": {"serverRelativeURL": …}}}.
	Index Served
	docs  map[string]Served // by index key: "api/v1", "apis/apps/v1"
}

// indexDoc is /openapi/v3, as kube-openapi's handler3.OpenAPIV3Discovery.
type indexDoc struct {
	Paths map[string]indexEntry `json:"paths"`
}

type indexEntry struct {
	ServerRelativeURL string `json:"serverRelativeURL"`
}

// Served is one serialized document and its hash.
type Served struct {
	Body []byte
	Hash string
}

// Lookup returns the document of a group version by its index key ("apis/apps/v1").
func (p *Published) Lookup(key string) (Served, bool) {
	d, ok := p.docs[key]
	return d, ok
}

// Publish builds and serializes the document of every group version reg serves, and the
// index that names them; version is the server's (info.version). The output depends only on
// the registry, the scheme and the version, so the hashes are stable across restarts of the
// same binary.
func Publish(reg *registry.Registry, scheme *runtime.Scheme, version string) (*Published, error) {
	p := &Published{docs: map[string]Served{}}
	index := indexDoc{Paths: map[string]indexEntry{}}
	for _, gv := range reg.GroupVersions() {
		doc, err := GroupVersionDocument(gv, reg.InGroupVersion(gv), scheme)
		if err != nil {
			return nil, err
		}
		doc.Info.Version = version
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("openapi document of %s: %w", gv, err)
		}
		key := Key(gv)
		d := Served{Body: b, Hash: hash(b)}
		p.docs[key] = d
		index.Paths[key] = indexEntry{ServerRelativeURL: RelativeURL(key, d.Hash)}
	}
	b, err := json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("openapi index: %w", err)
	}
	p.Index = Served{Body: b, Hash: hash(b)}
	return p, nil
}

// Key is a group version's name in the index and in its URL: "api/v1", "apis/apps/v1".
func Key(gv registry.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// RelativeURL is where the index sends clients for a document: its path, with the hash of
// the content so the URL changes whenever the content does and can be cached for good.
func RelativeURL(key, hash string) string {
	return "/openapi/v3/" + key + "?" + url.Values{"hash": {hash}}.Encode()
}

// hash is Kubernetes' content hash of an OpenAPI document: SHA-512, upper-case hex.
func hash(b []byte) string {
	sum := sha512.Sum512(b)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// GroupVersionDocument describes every resource of one group version.
func GroupVersionDocument(gv registry.GroupVersion, resources []*registry.Resource, scheme *runtime.Scheme) (*Document, error) {
	g := newSchemaGen()
	doc := &Document{
		OpenAPI: "3.0.0",
		Info:    Info{Title: "Kubernetes", Version: "unversioned"},
		Paths:   map[string]*PathItem{},
	}
	common := commonRefs{
		status:        g.ref((&metav1.Status{}).ProtoReflect().Descriptor()),
		deleteOptions: g.ref((&metav1.DeleteOptions{}).ProtoReflect().Descriptor()),
		patch:         g.named(patchSchemaName, &Schema{Type: "object", Description: "A patch: a JSON patch, a JSON merge patch or a server-side apply configuration."}),
	}
	for _, r := range resources {
		obj, err := scheme.New(r.Kind)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", r.Kind, err)
		}
		kind := g.kind(obj.ProtoReflect().Descriptor(), r.Kind)
		var list *Schema
		if !r.Virtual {
			l, err := scheme.NewList(r.Kind)
			if err != nil {
				return nil, fmt.Errorf("openapi: %s list: %w", r.Kind, err)
			}
			listGVK := r.Kind
			listGVK.Kind += "List"
			list = g.kind(l.ProtoReflect().Descriptor(), listGVK)
		}
		addResource(doc.Paths, gv, r, kind, list, common)
	}
	doc.Components.Schemas = g.schemas
	return doc, nil
}

// patchSchemaName is Kubernetes' name for the body of a PATCH, whose shape depends on the
// patch type.
const patchSchemaName = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"

type commonRefs struct {
	status, deleteOptions, patch *Schema
}

// schemaName is Kubernetes' name of a message's schema: kubelab's proto packages mirror
// Kubernetes' Go packages (kubelab.api.apps.v1.Deployment is io.k8s.api.apps.v1.Deployment,
// kubelab.api.meta.v1.ObjectMeta is io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta).
func schemaName(md protoreflect.MessageDescriptor) string {
	switch md.FullName() {
	case intOrStringName:
		return "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	case quantityName:
		return "io.k8s.apimachinery.pkg.api.resource.Quantity"
	case rawExtensionName:
		return "io.k8s.apimachinery.pkg.runtime.RawExtension"
	}
	name := strings.TrimPrefix(string(md.FullName()), "kubelab.api.")
	if strings.HasPrefix(name, "meta.") {
		return "io.k8s.apimachinery.pkg.apis." + name
	}
	return "io.k8s.api." + name
}
