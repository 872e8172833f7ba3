package rest

import (
	"encoding/json"
	"net/http"
	goruntime "runtime"
	"sort"

	"kubelab.io/apiserver/internal/registry"
)

// Discovery documents, as Kubernetes' meta/v1 discovery types serialize.
type apiVersions struct {
	Kind                       string                    `json:"kind"`
	Versions                   []string                  `json:"versions"`
	ServerAddressByClientCIDRs []serverAddressByClientIP `json:"serverAddressByClientCIDRs"`
}

type serverAddressByClientIP struct {
	ClientCIDR    string `json:"clientCIDR"`
	ServerAddress string `json:"serverAddress"`
}

type groupVersionForDiscovery struct {
	GroupVersion string `json:"groupVersion"`
	Version      string `json:"version"`
}

type apiGroup struct {
	Name             string                     `json:"name"`
	Versions         []groupVersionForDiscovery `json:"versions"`
	PreferredVersion groupVersionForDiscovery   `json:"preferredVersion"`
}

type apiGroupList struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Groups     []apiGroup `json:"groups"`
}

type apiResource struct {
	Name         string   `json:"name"`
	SingularName string   `json:"singularName"`
	Namespaced   bool     `json:"namespaced"`
	Group        string   `json:"group,omitempty"`
	Version      string   `json:"version,omitempty"`
	Kind         string   `json:"kind"`
	Verbs        []string `json:"verbs"`
	ShortNames   []string `json:"shortNames,omitempty"`
	Categories   []string `json:"categories,omitempty"`
}

type apiResourceList struct {
	Kind         string        `json:"kind"`
	APIVersion   string        `json:"apiVersion"`
	GroupVersion string        `json:"groupVersion"`
	Resources    []apiResource `json:"resources"`
}

// VersionInfo is /version. kubelab reports the Kubernetes minor version whose API it serves.
type VersionInfo struct {
	Major        string `json:"major"`
	Minor        string `json:"minor"`
	GitVersion   string `json:"gitVersion"`
	GitCommit    string `json:"gitCommit"`
	GitTreeState string `json:"gitTreeState"`
	BuildDate    string `json:"buildDate"`
	GoVersion    string `json:"goVersion"`
	Compiler     string `json:"compiler"`
	Platform     string `json:"platform"`
}

// DefaultVersion is what /version says when the binary was built without -ldflags.
var DefaultVersion = VersionInfo{
	Major: "1", Minor: "32", GitVersion: "v1.32.0-kubelab", GitCommit: "unknown", GitTreeState: "clean",
	BuildDate: "1970-01-01T00:00:00Z", GoVersion: goruntime.Version(), Compiler: goruntime.Compiler,
	Platform: goruntime.GOOS + "/" + goruntime.GOARCH,
}

var mainVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

func (s *Server) serveAPIVersions(w http.ResponseWriter, r *http.Request) {
	b, _ := json.Marshal(apiVersions{
		Kind: "APIVersions", Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []serverAddressByClientIP{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
	})
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) serveAPIGroupList(w http.ResponseWriter, _ *http.Request) {
	list := apiGroupList{Kind: "APIGroupList", APIVersion: "v1", Groups: []apiGroup{}}
	for _, gv := range s.registry.GroupVersions() {
		if gv.Group == "" {
			continue
		}
		v := groupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		list.Groups = append(list.Groups, apiGroup{Name: gv.Group, Versions: []groupVersionForDiscovery{v}, PreferredVersion: v})
	}
	b, _ := json.Marshal(list)
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) serveAPIGroup(w http.ResponseWriter, group string) bool {
	for _, gv := range s.registry.GroupVersions() {
		if gv.Group == group && group != "" {
			v := groupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			b, _ := json.Marshal(struct {
				Kind       string `json:"kind"`
				APIVersion string `json:"apiVersion"`
				apiGroup
			}{"APIGroup", "v1", apiGroup{Name: group, Versions: []groupVersionForDiscovery{v}, PreferredVersion: v}})
			writeJSON(w, http.StatusOK, b)
			return true
		}
	}
	return false
}

// serveResourceList writes /api/v1 or /apis/{group}/{version}; false when not served.
func (s *Server) serveResourceList(w http.ResponseWriter, gv registry.GroupVersion) bool {
	resources := s.registry.InGroupVersion(gv)
	if len(resources) == 0 {
		return false
	}
	list := apiResourceList{Kind: "APIResourceList", APIVersion: "v1", GroupVersion: gv.String()}
	for _, r := range resources {
		verbs := mainVerbs
		if r.Virtual {
			verbs = []string{"create"}
		}
		list.Resources = append(list.Resources, apiResource{
			Name: r.Plural, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind.Kind,
			Verbs: verbs, ShortNames: r.ShortNames, Categories: r.Categories,
		})
		if r.StatusSubresource {
			list.Resources = append(list.Resources, apiResource{
				Name: r.Plural + "/status", Namespaced: r.Namespaced, Kind: r.Kind.Kind, Verbs: []string{"get", "patch", "update"},
			})
		}
		switch r.Plural {
		case "pods":
			list.Resources = append(list.Resources,
				apiResource{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
				apiResource{Name: "pods/binding", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
				// kubectl drain finds the eviction API by this entry's group and version.
				apiResource{Name: "pods/eviction", Namespaced: true, Group: "policy", Version: "v1", Kind: "Eviction", Verbs: []string{"create"}},
				apiResource{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
				apiResource{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: []string{"get"}},
				apiResource{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}})
		case "deployments", "replicasets", "statefulsets":
			list.Resources = append(list.Resources, apiResource{
				Name: r.Plural + "/scale", Namespaced: true, Group: "autoscaling", Version: "v1", Kind: "Scale",
				Verbs: []string{"get", "patch", "update"},
			})
		case "namespaces":
			list.Resources = append(list.Resources, apiResource{Name: "namespaces/finalize", Kind: "Namespace", Verbs: []string{"update"}})
		case "serviceaccounts":
			list.Resources = append(list.Resources, apiResource{
				Name: "serviceaccounts/token", Namespaced: true, Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest",
				Verbs: []string{"create"},
			})
		}
	}
	sort.SliceStable(list.Resources, func(i, j int) bool { return list.Resources[i].Name < list.Resources[j].Name })
	b, _ := json.Marshal(list)
	writeJSON(w, http.StatusOK, b)
	return true
}

func (s *Server) serveVersion(w http.ResponseWriter, _ *http.Request) {
	b, _ := json.MarshalIndent(s.version, "", "  ")
	writeJSON(w, http.StatusOK, b)
}
