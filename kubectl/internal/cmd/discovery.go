package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Discovery documents, field for field (and in field order) as apimachinery's meta/v1 types
// serialize them, so the files in the cache are the ones stock kubectl writes and reads.
type APIGroupList struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Groups     []APIGroup `json:"groups"`
}

type APIGroup struct {
	Name             string                     `json:"name"`
	Versions         []GroupVersionForDiscovery `json:"versions"`
	PreferredVersion GroupVersionForDiscovery   `json:"preferredVersion,omitempty"`
}

type GroupVersionForDiscovery struct {
	GroupVersion string `json:"groupVersion"`
	Version      string `json:"version"`
}

type APIVersions struct {
	Kind     string   `json:"kind"`
	Versions []string `json:"versions"`
}

type APIResourceList struct {
	Kind         string        `json:"kind"`
	APIVersion   string        `json:"apiVersion"`
	GroupVersion string        `json:"groupVersion"`
	Resources    []APIResource `json:"resources"`
}

type APIResource struct {
	Name               string   `json:"name"`
	SingularName       string   `json:"singularName"`
	Namespaced         bool     `json:"namespaced"`
	Group              string   `json:"group,omitempty"`
	Version            string   `json:"version,omitempty"`
	Kind               string   `json:"kind"`
	Verbs              []string `json:"verbs"`
	ShortNames         []string `json:"shortNames,omitempty"`
	Categories         []string `json:"categories,omitempty"`
	StorageVersionHash string   `json:"storageVersionHash,omitempty"`
}

// Resource is a resolved REST resource: where its objects live and what they are.
type Resource struct {
	Group, Version, Name, SingularName, Kind string
	Namespaced                               bool
	ShortNames, Verbs, Categories            []string
}

// GroupVersion is "v1" or "apps/v1".
func (r Resource) GroupVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// GroupResource is "pods" or "deployments.apps", as messages name it.
func (r Resource) GroupResource() string {
	if r.Group == "" {
		return r.Name
	}
	return r.Name + "." + r.Group
}

// KindRef is "pod" or "deployment.apps", the prefix of kubectl's "-o name" output.
func (r Resource) KindRef() string {
	k := strings.ToLower(r.Kind)
	if r.Group == "" {
		return k
	}
	return k + "." + r.Group
}

// Path is the REST path of the collection (name == "") or of one object, in namespace ns
// (all namespaces when empty) for namespaced resources.
func (r Resource) Path(ns, name string, sub ...string) string {
	var b strings.Builder
	if r.Group == "" {
		b.WriteString("/api/" + r.Version)
	} else {
		b.WriteString("/apis/" + r.Group + "/" + r.Version)
	}
	if r.Namespaced && ns != "" {
		b.WriteString("/namespaces/" + url.PathEscape(ns))
	}
	b.WriteString("/" + r.Name)
	if name != "" {
		b.WriteString("/" + url.PathEscape(name))
	}
	for _, s := range sub {
		b.WriteString("/" + s)
	}
	return b.String()
}

// DiscoveryTTL is how long cached discovery documents are trusted, as kubectl's default.
const DiscoveryTTL = 6 * time.Hour

// Discovery finds the server's groups and resources through kubectl's on-disk cache:
// <cache-dir>/discovery/<host_port>/servergroups.json and
// <cache-dir>/discovery/<host_port>/<group>/<version>/serverresources.json, trusted for
// DiscoveryTTL after they were written (their mtime). Stale or missing files are fetched and
// rewritten. A failure to write the cache is not an error.
type Discovery struct {
	client *Client
	dir    string
	now    func() time.Time

	groups    *APIGroupList
	resources []Resource
	// cached is set once a document came from the disk cache rather than the server: only
	// then can a miss be the cache's fault. bypassCache makes every read go to the server.
	cached, bypassCache bool
}

var illegalCacheChars = regexp.MustCompile(`[^(\w/.)]`)

// DiscoveryCacheDir is client-go's computeDiscoverCacheDir: the host without its scheme,
// with every character but word characters, '/', '.', '(' and ')' turned into '_'.
func DiscoveryCacheDir(cacheDir, host string) string {
	h := strings.Replace(strings.Replace(host, "https://", "", 1), "http://", "", 1)
	return filepath.Join(cacheDir, "discovery", illegalCacheChars.ReplaceAllString(h, "_"))
}

func NewDiscovery(c *Client, cacheDir string) *Discovery {
	d := &Discovery{client: c, now: time.Now}
	if cacheDir != "" {
		d.dir = DiscoveryCacheDir(cacheDir, c.Host())
	}
	return d
}

// readCache decodes a fresh cached file into v; false when missing, stale or unreadable.
func (d *Discovery) readCache(name string, v any) bool {
	if d.dir == "" || d.bypassCache {
		return false
	}
	p := filepath.Join(d.dir, name)
	fi, err := os.Stat(p)
	if err != nil || d.now().After(fi.ModTime().Add(DiscoveryTTL)) {
		return false
	}
	data, err := os.ReadFile(p)
	if err != nil || json.Unmarshal(data, v) != nil {
		return false
	}
	d.cached = true
	return true
}

// refreshOnMiss forgets what was read from the disk cache so the next lookup asks the
// server (and rewrites the cache), as kubectl's deferred REST mapper resets itself on a
// miss: a resource the server gained since the cache was written is then found. It reports
// whether there was anything to refresh; it refreshes once per command.
func (d *Discovery) refreshOnMiss() bool {
	if !d.cached || d.bypassCache {
		return false
	}
	d.bypassCache, d.groups, d.resources = true, nil, nil
	return true
}

// writeCache stores v as kubectl does: directories 0750, files 0660, written atomically.
func (d *Discovery) writeCache(name string, v any) {
	if d.dir == "" {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	data = append(data, '\n')
	p := filepath.Join(d.dir, name)
	if os.MkdirAll(filepath.Dir(p), 0o750) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Chmod(tmp.Name(), 0o660) != nil || os.Rename(tmp.Name(), p) != nil {
		_ = os.Remove(tmp.Name())
	}
}

// ServerGroups is the APIGroupList with the legacy core group ("") first, as kubectl's
// discovery client builds it from /api and /apis.
func (d *Discovery) ServerGroups(ctx context.Context) (*APIGroupList, error) {
	if d.groups != nil {
		return d.groups, nil
	}
	var cached APIGroupList
	if d.readCache("servergroups.json", &cached) {
		d.groups = &cached
		return d.groups, nil
	}
	list := &APIGroupList{Kind: "APIGroupList", APIVersion: "v1"}
	data, err := d.client.Do(ctx, Request{Path: "/api"})
	if err != nil {
		return nil, err
	}
	var legacy APIVersions
	if err := json.Unmarshal(data, &legacy); err != nil {
		return nil, fmt.Errorf("decode /api: %w", err)
	}
	if len(legacy.Versions) > 0 {
		g := APIGroup{Name: ""}
		for _, v := range legacy.Versions {
			g.Versions = append(g.Versions, GroupVersionForDiscovery{GroupVersion: v, Version: v})
		}
		g.PreferredVersion = g.Versions[0]
		list.Groups = append(list.Groups, g)
	}
	data, err = d.client.Do(ctx, Request{Path: "/apis"})
	if err != nil {
		return nil, err
	}
	var groups APIGroupList
	if err := json.Unmarshal(data, &groups); err != nil {
		return nil, fmt.Errorf("decode /apis: %w", err)
	}
	list.Groups = append(list.Groups, groups.Groups...)
	d.writeCache("servergroups.json", list)
	d.groups = list
	return list, nil
}

// ServerResources is the APIResourceList of one group version ("v1", "apps/v1").
func (d *Discovery) ServerResources(ctx context.Context, gv string) (*APIResourceList, error) {
	name := filepath.Join(filepath.FromSlash(gv), "serverresources.json")
	var cached APIResourceList
	if d.readCache(name, &cached) {
		return &cached, nil
	}
	path := "/apis/" + gv
	if !strings.Contains(gv, "/") {
		path = "/api/" + gv
	}
	data, err := d.client.Do(ctx, Request{Path: path})
	if err != nil {
		return nil, err
	}
	var list APIResourceList
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	d.writeCache(name, &list)
	return &list, nil
}

// Resources lists the resources of every group's preferred version, subresources left out,
// in discovery order.
func (d *Discovery) Resources(ctx context.Context) ([]Resource, error) {
	if d.resources != nil {
		return d.resources, nil
	}
	groups, err := d.ServerGroups(ctx)
	if err != nil {
		return nil, err
	}
	var out []Resource
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			list, err := d.ServerResources(ctx, v.GroupVersion)
			if err != nil {
				return nil, err
			}
			if v.GroupVersion != g.PreferredVersion.GroupVersion {
				continue
			}
			for _, r := range list.Resources {
				if strings.Contains(r.Name, "/") {
					continue
				}
				out = append(out, Resource{Group: g.Name, Version: v.Version, Name: r.Name, SingularName: r.SingularName,
					Kind: r.Kind, Namespaced: r.Namespaced, ShortNames: r.ShortNames, Verbs: r.Verbs, Categories: r.Categories})
			}
		}
	}
	d.resources = out
	return out, nil
}

// errNoResourceType is kubectl's answer to a resource type discovery does not know.
func errNoResourceType(arg string) error {
	return fmt.Errorf("the server doesn't have a resource type %q", arg)
}

// Resolve maps what a user types (pods, pod, po, Pod, deployments.apps, deploy.v1.apps) to a
// Resource, the way kubectl's RESTMapper does: plural, singular, short name or kind, with an
// optional ".group" or ".version.group" suffix.
func (d *Discovery) Resolve(ctx context.Context, arg string) (Resource, error) {
	all, err := d.Resources(ctx)
	if err != nil {
		return Resource{}, err
	}
	if r, ok := resolveIn(all, arg); ok {
		return r, nil
	}
	if d.refreshOnMiss() {
		return d.Resolve(ctx, arg)
	}
	return Resource{}, errNoResourceType(arg)
}

func resolveIn(all []Resource, arg string) (Resource, bool) {
	lower := strings.ToLower(arg)
	name, group, version := lower, "", ""
	if i := strings.Index(lower, "."); i >= 0 {
		name, group = lower[:i], lower[i+1:]
		// deployments.v1.apps
		if j := strings.Index(group, "."); j >= 0 {
			for _, r := range all {
				if r.Version == group[:j] && r.Group == group[j+1:] {
					version, group = group[:j], group[j+1:]
					break
				}
			}
		}
	}
	matches := func(r Resource) bool {
		if strings.Contains(lower, ".") && r.Group != group {
			return false
		}
		if version != "" && r.Version != version {
			return false
		}
		if r.Name == name || r.SingularName == name || strings.ToLower(r.Kind) == name {
			return true
		}
		for _, s := range r.ShortNames {
			if s == name {
				return true
			}
		}
		return false
	}
	for _, r := range all {
		if matches(r) {
			return r, true
		}
	}
	return Resource{}, false
}

// ResourceForKind finds the resource serving apiVersion/kind.
func (d *Discovery) ResourceForKind(ctx context.Context, apiVersion, kind string) (Resource, error) {
	all, err := d.Resources(ctx)
	if err != nil {
		return Resource{}, err
	}
	group, version := "", apiVersion
	if i := strings.Index(apiVersion, "/"); i >= 0 {
		group, version = apiVersion[:i], apiVersion[i+1:]
	}
	for _, r := range all {
		if r.Group == group && r.Version == version && r.Kind == kind {
			return r, nil
		}
	}
	if d.refreshOnMiss() {
		return d.ResourceForKind(ctx, apiVersion, kind)
	}
	return Resource{}, fmt.Errorf("resource mapping not found for kind %q in version %q", kind, apiVersion)
}

var errNoServer = errors.New("no server")
