package request

import (
	"net/http"
	"net/url"
	"strings"
)

// ParseInfo reads the API verb and resource coordinates from a REST request, as Kubernetes'
// RequestInfoFactory does:
//
//	/api/v1/namespaces/{namespace}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/{resource}/{name}          (cluster-scoped, or every namespace)
//	/api/v1/namespaces/{name}/status                    (a namespace's own subresources)
//
// Paths outside /api and /apis, and the discovery documents themselves, are non-resource
// requests whose verb is the lower-case HTTP method.
func ParseInfo(method, path string, query url.Values) *Info {
	info := &Info{Path: path, Verb: strings.ToLower(method)}
	parts := splitPath(path)
	if len(parts) < 2 {
		return info
	}
	switch parts[0] {
	case "api":
		info.APIVersion = parts[1]
		parts = parts[2:]
	case "apis":
		if len(parts) < 3 {
			return info
		}
		info.APIGroup, info.APIVersion = parts[1], parts[2]
		parts = parts[3:]
	default:
		return info
	}
	if len(parts) == 0 {
		return info // a group-version discovery document
	}
	info.IsResourceRequest = true

	watchPath := false
	if parts[0] == "watch" { // the deprecated /watch/ prefix
		watchPath = true
		parts = parts[1:]
		if len(parts) == 0 {
			info.IsResourceRequest = false
			return info
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		// /namespaces/{name} and /namespaces/{name}/{status|finalize} address the
		// namespace itself; anything else under it is a namespaced resource.
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		}
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if info.Resource == "namespaces" {
		// The namespace of a namespace request is the namespace itself (for admission and
		// authorization, as in Kubernetes).
		info.Namespace = info.Name
	}

	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchPath || isTrue(query.Get("watch")):
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	}
	if info.Verb == "list" || info.Verb == "watch" {
		info.FieldSelector = query.Get("fieldSelector")
	}
	return info
}

var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

func isTrue(s string) bool { return s == "1" || s == "true" }

func splitPath(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}
