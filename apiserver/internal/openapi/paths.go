package openapi

import (
	"strings"

	"kubelab.io/apiserver/internal/registry"
)

// Media types the REST front door answers in, and the patch types it accepts.
var (
	responseMedia = []string{"application/json", "application/yaml"}
	// application/strategic-merge-patch+json is accepted too but deliberately not listed:
	// kubectl apply computes its strategic merge patch from the OpenAPI schema when the PATCH
	// operation lists that type, and these schemas carry no patch merge keys
	// (x-kubernetes-patch-merge-key), so it would replace lists such as containers
	// wholesale. Unlisted, kubectl uses the merge keys compiled into it, which are
	// Kubernetes' own.
	patchMedia = []string{"application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"}
)

// The query parameters the REST front door reads, named as Kubernetes documents them.
func queryParam(name, typ, desc string) *Parameter {
	return &Parameter{Name: name, In: "query", Description: desc, Schema: &Schema{Type: typ}}
}

func writeParams() []*Parameter {
	return []*Parameter{
		queryParam("dryRun", "string", "When present (All), the request is admitted and validated but not persisted."),
		queryParam("fieldManager", "string", "A name for the actor making the change."),
		queryParam("fieldValidation", "string", "What to do with unknown or duplicate fields in the body: Ignore drops them, Warn (the default) drops them and sends a warning per field, Strict refuses the request."),
	}
}

func listParams(watch bool) []*Parameter {
	ps := []*Parameter{
		queryParam("continue", "string", "The continue token of the previous page of a paged list."),
		queryParam("fieldSelector", "string", "Restricts the list to objects whose fields match, like spec.nodeName=node-1."),
		queryParam("labelSelector", "string", "Restricts the list to objects whose labels match, like app=nginx."),
		queryParam("limit", "integer", "The most objects to return; the rest are reached with the continue token."),
		queryParam("resourceVersion", "string", "The resourceVersion to list at, or to watch from."),
		queryParam("timeoutSeconds", "integer", "How long a watch may last."),
	}
	if watch {
		ps = append(ps, queryParam("watch", "boolean", "Stream changes (ADDED, MODIFIED, DELETED events) instead of returning a list."))
	}
	return ps
}

func deleteParams() []*Parameter {
	return []*Parameter{
		queryParam("dryRun", "string", "When present (All), the request is admitted and validated but not persisted."),
		queryParam("gracePeriodSeconds", "integer", "How long the object may take to stop; 0 deletes it at once."),
		queryParam("orphanDependents", "boolean", "Deprecated: use propagationPolicy."),
		queryParam("propagationPolicy", "string", "What happens to dependents: Orphan, Background or Foreground."),
	}
}

func pathParam(name, desc string) *Parameter {
	return &Parameter{Name: name, In: "path", Description: desc, Required: true, Schema: &Schema{Type: "string"}}
}

// resourcePaths is what every operation of one resource shares.
type resourcePaths struct {
	gvk  GVK
	tag  string // "apps_v1"
	idGV string // "AppsV1", as operation IDs spell the group version
}

// addResource adds the paths of r as Kubernetes lays them out: its collection and items
// (under /namespaces/{namespace} when namespaced), the list across namespaces, and the
// status subresource when r has one.
func addResource(paths map[string]*PathItem, gv registry.GroupVersion, r *registry.Resource, kind, list *Schema, common commonRefs) {
	prefix := "/" + Key(gv)
	p := resourcePaths{gvk: GVK{Group: r.Kind.Group, Kind: r.Kind.Kind, Version: r.Kind.Version}, tag: tagOf(gv), idGV: pascalGV(gv)}
	scope := ""
	var params []*Parameter
	collection := prefix + "/" + r.Plural
	if r.Namespaced {
		scope = "Namespaced"
		params = []*Parameter{pathParam("namespace", "The object's namespace.")}
		collection = prefix + "/namespaces/{namespace}/" + r.Plural
	}
	k := r.Kind.Kind
	// itemParams are the parameters of a path that names one object.
	itemParams := func() []*Parameter {
		return append(append([]*Parameter{}, params...), pathParam("name", "The name of the "+k+"."))
	}

	if r.Virtual { // answered, never stored: create is the only verb
		paths[collection] = &PathItem{
			Post: p.op("post", "create"+p.idGV+scope+k, "create a "+k, writeParams(), bodyOf(kind, true), created(kind)),
		}
		return
	}

	paths[collection] = &PathItem{
		Parameters: params,
		Get:        p.op("list", "list"+p.idGV+scope+k, "list or watch objects of kind "+k, listParams(true), nil, ok(list, responseMedia)),
		Post:       p.op("post", "create"+p.idGV+scope+k, "create a "+k, writeParams(), bodyOf(kind, true), created(kind)),
		Delete: p.op("deletecollection", "delete"+p.idGV+"Collection"+scope+k, "delete a collection of "+k,
			append(deleteParams(), listParams(false)...), bodyOf(common.deleteOptions, false), ok(common.status, responseMedia)),
	}
	item := collection + "/{name}"
	paths[item] = &PathItem{
		Parameters: itemParams(),
		Get:        p.op("get", "read"+p.idGV+scope+k, "read the specified "+k, nil, nil, ok(kind, responseMedia)),
		Put:        p.op("put", "replace"+p.idGV+scope+k, "replace the specified "+k, writeParams(), bodyOf(kind, true), replaced(kind)),
		Patch:      p.op("patch", "patch"+p.idGV+scope+k, "partially update the specified "+k, writeParams(), patchBody(common.patch), replaced(kind)),
		Delete: p.op("delete", "delete"+p.idGV+scope+k, "delete a "+k, deleteParams(), bodyOf(common.deleteOptions, false),
			map[string]*Response{"200": {Description: "OK", Content: content(common.status, responseMedia)}, "202": {Description: "Accepted", Content: content(common.status, responseMedia)}, "401": unauthorized()}),
	}
	if r.Namespaced {
		paths[prefix+"/"+r.Plural] = &PathItem{
			Get: p.op("list", "list"+p.idGV+k+"ForAllNamespaces", "list or watch objects of kind "+k+" in every namespace", listParams(true), nil, ok(list, responseMedia)),
		}
	}
	if r.StatusSubresource {
		paths[item+"/status"] = &PathItem{
			Parameters: itemParams(),
			Get:        p.op("get", "read"+p.idGV+scope+k+"Status", "read status of the specified "+k, nil, nil, ok(kind, responseMedia)),
			Put:        p.op("put", "replace"+p.idGV+scope+k+"Status", "replace status of the specified "+k, writeParams(), bodyOf(kind, true), replaced(kind)),
			Patch:      p.op("patch", "patch"+p.idGV+scope+k+"Status", "partially update status of the specified "+k, writeParams(), patchBody(common.patch), replaced(kind)),
		}
	}
}

func (p *resourcePaths) op(action, id, desc string, params []*Parameter, body *RequestBody, responses map[string]*Response) *Operation {
	return &Operation{
		Tags: []string{p.tag}, Description: desc, OperationID: id, Parameters: params, RequestBody: body,
		Responses: responses, Action: action, GVK: p.gvk,
	}
}

func content(s *Schema, media []string) map[string]*MediaType {
	out := make(map[string]*MediaType, len(media))
	for _, m := range media {
		out[m] = &MediaType{Schema: s}
	}
	return out
}

func bodyOf(s *Schema, required bool) *RequestBody {
	return &RequestBody{Content: content(s, []string{"*/*"}), Required: required}
}

func patchBody(s *Schema) *RequestBody {
	return &RequestBody{Content: content(s, patchMedia), Required: true}
}

func unauthorized() *Response { return &Response{Description: "Unauthorized"} }

func ok(s *Schema, media []string) map[string]*Response {
	return map[string]*Response{"200": {Description: "OK", Content: content(s, media)}, "401": unauthorized()}
}

func created(s *Schema) map[string]*Response {
	return map[string]*Response{
		"200": {Description: "OK", Content: content(s, responseMedia)},
		"201": {Description: "Created", Content: content(s, responseMedia)},
		"202": {Description: "Accepted", Content: content(s, responseMedia)},
		"401": unauthorized(),
	}
}

func replaced(s *Schema) map[string]*Response {
	return map[string]*Response{
		"200": {Description: "OK", Content: content(s, responseMedia)},
		"201": {Description: "Created", Content: content(s, responseMedia)},
		"401": unauthorized(),
	}
}

// tagOf is Kubernetes' operation tag of a group version: "core_v1", "apps_v1",
// "rbacAuthorization_v1".
func tagOf(gv registry.GroupVersion) string {
	if gv.Group == "" {
		return "core_" + gv.Version
	}
	parts := strings.Split(strings.TrimSuffix(gv.Group, ".k8s.io"), ".")
	for i := 1; i < len(parts); i++ {
		parts[i] = upperFirst(parts[i])
	}
	return strings.Join(parts, "") + "_" + gv.Version
}

// pascalGV is the group version as operation IDs spell it: "CoreV1", "AppsV1",
// "RbacAuthorizationV1".
func pascalGV(gv registry.GroupVersion) string {
	group := "core"
	if gv.Group != "" {
		group = strings.TrimSuffix(gv.Group, ".k8s.io")
	}
	var b strings.Builder
	for _, part := range strings.Split(group, ".") {
		b.WriteString(upperFirst(part))
	}
	b.WriteString(upperFirst(gv.Version))
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
