// Package config reads a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) the
// way kube-scheduler does, for the parts kubelab implements: profiles[].plugins.{filter,
// score, postFilter, reserve, permit, bind}.{enabled,disabled} with weights,
// profiles[].pluginConfig for PodTopologySpread's args, percentageOfNodesToScore, extenders[], leaderElection and clientConnection.kubeconfig.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"kubelab.io/scheduler/internal/framework"
	"kubelab.io/scheduler/internal/plugins"
)

// APIVersion and Kind of the file.
const (
	APIVersion = "kubescheduler.config.k8s.io/v1"
	Kind       = "KubeSchedulerConfiguration"
)

// DefaultSchedulerName is the profile name pods get by default.
const DefaultSchedulerName = "default-scheduler"

// DefaultExtenderTimeout is an extender's HTTP timeout when httpTimeout is unset (as
// kube-scheduler's).
const DefaultExtenderTimeout = 5 * time.Second

// Configuration is the file's content.
type Configuration struct {
	APIVersion               string            `json:"apiVersion"`
	Kind                     string            `json:"kind"`
	PercentageOfNodesToScore *int32            `json:"percentageOfNodesToScore,omitempty"`
	PodInitialBackoffSeconds *int64            `json:"podInitialBackoffSeconds,omitempty"`
	PodMaxBackoffSeconds     *int64            `json:"podMaxBackoffSeconds,omitempty"`
	Profiles                 []Profile         `json:"profiles,omitempty"`
	Extenders                []Extender        `json:"extenders,omitempty"`
	LeaderElection           *LeaderElection   `json:"leaderElection,omitempty"`
	ClientConnection         *ClientConnection `json:"clientConnection,omitempty"`
}

// LeaderElection is the subset of LeaderElectionConfiguration kubelab reads.
type LeaderElection struct {
	LeaderElect       *bool    `json:"leaderElect,omitempty"`
	LeaseDuration     Duration `json:"leaseDuration,omitempty"`
	RenewDeadline     Duration `json:"renewDeadline,omitempty"`
	RetryPeriod       Duration `json:"retryPeriod,omitempty"`
	ResourceName      string   `json:"resourceName,omitempty"`
	ResourceNamespace string   `json:"resourceNamespace,omitempty"`
}

// ClientConnection names the kubeconfig.
type ClientConnection struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// Profile is one scheduling profile.
type Profile struct {
	SchedulerName            string   `json:"schedulerName,omitempty"`
	PercentageOfNodesToScore *int32   `json:"percentageOfNodesToScore,omitempty"`
	Plugins                  *Plugins `json:"plugins,omitempty"`
	// PluginConfig gives plugins their args; kubelab's only configurable plugin is
	// PodTopologySpread (args for any other plugin are refused, not silently ignored).
	PluginConfig []PluginConfig `json:"pluginConfig,omitempty"`
}

// PluginConfig is one plugin's args.
type PluginConfig struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Plugins lists, per extension point, plugins to enable and disable on top of the defaults.
// preFilter and preScore are accepted but folded into filter and score (see
// framework.Profile).
type Plugins struct {
	PreFilter  PluginSet `json:"preFilter,omitempty"`
	Filter     PluginSet `json:"filter,omitempty"`
	PostFilter PluginSet `json:"postFilter,omitempty"`
	PreScore   PluginSet `json:"preScore,omitempty"`
	Score      PluginSet `json:"score,omitempty"`
	Reserve    PluginSet `json:"reserve,omitempty"`
	Permit     PluginSet `json:"permit,omitempty"`
	PreBind    PluginSet `json:"preBind,omitempty"`
	Bind       PluginSet `json:"bind,omitempty"`
	MultiPoint PluginSet `json:"multiPoint,omitempty"`
}

// PluginSet enables and disables plugins; disabling "*" drops every default.
type PluginSet struct {
	Enabled  []Plugin `json:"enabled,omitempty"`
	Disabled []Plugin `json:"disabled,omitempty"`
}

// Plugin names a plugin, with a weight for score plugins.
type Plugin struct {
	Name   string `json:"name"`
	Weight *int32 `json:"weight,omitempty"`
}

// Extender is kube-scheduler's ExtenderConfig.
type Extender struct {
	URLPrefix        string             `json:"urlPrefix"`
	FilterVerb       string             `json:"filterVerb,omitempty"`
	PrioritizeVerb   string             `json:"prioritizeVerb,omitempty"`
	PreemptVerb      string             `json:"preemptVerb,omitempty"`
	BindVerb         string             `json:"bindVerb,omitempty"`
	Weight           int64              `json:"weight,omitempty"`
	EnableHTTPS      bool               `json:"enableHTTPS,omitempty"`
	TLSConfig        *ExtenderTLSConfig `json:"tlsConfig,omitempty"`
	HTTPTimeout      Duration           `json:"httpTimeout,omitempty"`
	NodeCacheCapable bool               `json:"nodeCacheCapable,omitempty"`
	Ignorable        bool               `json:"ignorable,omitempty"`
	ManagedResources []struct {
		Name               string `json:"name"`
		IgnoredByScheduler bool   `json:"ignoredByScheduler,omitempty"`
	} `json:"managedResources,omitempty"`
}

// ExtenderTLSConfig is the TLS material for an HTTPS extender.
type ExtenderTLSConfig struct {
	Insecure   bool   `json:"insecure,omitempty"`
	ServerName string `json:"serverName,omitempty"`
	CertFile   string `json:"certFile,omitempty"`
	KeyFile    string `json:"keyFile,omitempty"`
	CAFile     string `json:"caFile,omitempty"`
}

// Duration is a metav1.Duration: "5s" in YAML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		d.Duration = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %s: %w", b, err)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// Default plugin sets: filters in kube-scheduler's order (cheap, decisive checks first, so
// the first failure reported per node is the one kube-scheduler would report), and score
// plugins with kube-scheduler's default weights.
var (
	DefaultFilter = []string{
		plugins.NodeUnschedulableName, plugins.NodeNameName, plugins.TaintTolerationName,
		plugins.NodeAffinityName, plugins.NodePortsName, plugins.NodeResourcesFitName,
		plugins.VolumeBindingName, plugins.PodTopologySpreadName, plugins.InterPodAffinityName,
	}
	DefaultScore = []framework.WeightedPlugin{
		{Name: plugins.TaintTolerationName, Weight: 3},
		{Name: plugins.NodeAffinityName, Weight: 2},
		{Name: plugins.PodTopologySpreadName, Weight: 2},
		{Name: plugins.InterPodAffinityName, Weight: 2},
		{Name: plugins.NodeResourcesLeastAllocatedName, Weight: 1},
		{Name: plugins.NodeResourcesBalancedAllocationName, Weight: 1},
		{Name: plugins.ImageLocalityName, Weight: 1},
	}
	DefaultPostFilter = []string{plugins.DefaultPreemptionName}
	// VolumeBinding is kube-scheduler's only default Reserve and PreBind plugin.
	DefaultReserve = []string{plugins.VolumeBindingName}
	DefaultPreBind = []string{plugins.VolumeBindingName}
	DefaultBind    = []string{plugins.DefaultBinderName}
)

// Load reads and resolves the file at path ("" gives the defaults).
func Load(path string) (*Configuration, error) {
	if path == "" {
		c := &Configuration{APIVersion: APIVersion, Kind: Kind}
		return c, c.complete()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scheduler config: %w", err)
	}
	return Parse(data)
}

// Parse decodes a configuration strictly (unknown fields are errors, as kube-scheduler's
// strict decoding reports them) and fills defaults.
func Parse(data []byte) (*Configuration, error) {
	var c Configuration
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("decode scheduler config: %w", err)
	}
	if c.APIVersion != APIVersion || c.Kind != Kind {
		return nil, fmt.Errorf("scheduler config: want apiVersion %s kind %s, got %q %q", APIVersion, Kind, c.APIVersion, c.Kind)
	}
	return &c, c.complete()
}

func (c *Configuration) complete() error {
	var errs []error
	if p := c.PercentageOfNodesToScore; p != nil && (*p < 0 || *p > 100) {
		errs = append(errs, fmt.Errorf("percentageOfNodesToScore: must be in [0, 100], got %d", *p))
	}
	if len(c.Profiles) == 0 {
		c.Profiles = []Profile{{SchedulerName: DefaultSchedulerName}}
	}
	seen := map[string]bool{}
	for i := range c.Profiles {
		p := &c.Profiles[i]
		if p.SchedulerName == "" {
			p.SchedulerName = DefaultSchedulerName
		}
		if seen[p.SchedulerName] {
			errs = append(errs, fmt.Errorf("profiles[%d].schedulerName: duplicate %q", i, p.SchedulerName))
		}
		seen[p.SchedulerName] = true
		if _, err := p.Resolve(); err != nil {
			errs = append(errs, fmt.Errorf("profiles[%d]: %w", i, err))
		}
	}
	for i := range c.Extenders {
		e := &c.Extenders[i]
		if e.URLPrefix == "" {
			errs = append(errs, fmt.Errorf("extenders[%d].urlPrefix: required", i))
		}
		if e.PrioritizeVerb != "" && e.Weight <= 0 {
			errs = append(errs, fmt.Errorf("extenders[%d].weight: must be positive when prioritizeVerb is set", i))
		}
		if e.HTTPTimeout.Duration == 0 {
			e.HTTPTimeout.Duration = DefaultExtenderTimeout
		}
	}
	return errors.Join(errs...)
}

// Resolve applies the profile's enabled/disabled lists to the defaults, as kube-scheduler
// merges them: defaults minus disabled (or none when "*" is disabled), then the enabled
// ones appended (an enabled default is moved to its listed place with the given weight).
func (p Profile) Resolve() (framework.Profile, error) {
	out := framework.Profile{SchedulerName: p.SchedulerName, PercentageOfNodesToScore: p.PercentageOfNodesToScore}
	var pl Plugins
	if p.Plugins != nil {
		pl = *p.Plugins
	}
	registry := plugins.Registry()
	var errs []error
	check := func(point string, set PluginSet) {
		for _, e := range set.Enabled {
			if _, ok := registry[e.Name]; !ok {
				errs = append(errs, fmt.Errorf("plugins.%s.enabled: unknown plugin %q", point, e.Name))
			}
		}
	}
	for point, set := range map[string]PluginSet{"filter": pl.Filter, "score": pl.Score, "postFilter": pl.PostFilter,
		"reserve": pl.Reserve, "permit": pl.Permit, "preBind": pl.PreBind, "bind": pl.Bind, "preFilter": pl.PreFilter, "preScore": pl.PreScore, "multiPoint": pl.MultiPoint} {
		check(point, set)
	}
	toWeighted := func(ns []string) []framework.WeightedPlugin {
		ws := make([]framework.WeightedPlugin, len(ns))
		for i, n := range ns {
			ws[i] = framework.WeightedPlugin{Name: n, Weight: 1}
		}
		return ws
	}
	fromWeighted := func(ws []framework.WeightedPlugin) []string {
		ns := make([]string, len(ws))
		for i, w := range ws {
			ns[i] = w.Name
		}
		return ns
	}
	args, err := pluginArgs(p.PluginConfig)
	if err != nil {
		errs = append(errs, err)
	}
	out.PluginArgs = args
	filter := merge(toWeighted(DefaultFilter), pl.Filter, pl.MultiPoint, false)
	score := merge(DefaultScore, pl.Score, pl.MultiPoint, true)
	out.Filter = fromWeighted(filter)
	out.Score = score
	out.PostFilter = fromWeighted(merge(toWeighted(DefaultPostFilter), pl.PostFilter, PluginSet{}, false))
	out.Reserve = fromWeighted(merge(toWeighted(DefaultReserve), pl.Reserve, PluginSet{}, false))
	out.Permit = fromWeighted(merge(nil, pl.Permit, PluginSet{}, false))
	out.PreBind = fromWeighted(merge(toWeighted(DefaultPreBind), pl.PreBind, PluginSet{}, false))
	out.Bind = fromWeighted(merge(toWeighted(DefaultBind), pl.Bind, PluginSet{}, false))
	// multiPoint enables a plugin at every point it implements; only filter and score
	// are resolved from it (the other points have no in-tree plugins but the binder).
	if len(out.Bind) == 0 {
		errs = append(errs, errors.New("plugins.bind: at least one bind plugin is required"))
	}
	return out, errors.Join(errs...)
}

// pluginArgs decodes pluginConfig strictly into each plugin's args type and validates
// them, as kube-scheduler does when it loads the file.
func pluginArgs(pcs []PluginConfig) (map[string]any, error) {
	var errs []error
	out := map[string]any{}
	for i, pc := range pcs {
		path := fmt.Sprintf("pluginConfig[%d]", i)
		if _, dup := out[pc.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: Duplicate value: %q", path, pc.Name))
			continue
		}
		switch pc.Name {
		case plugins.PodTopologySpreadName:
			a := &plugins.PodTopologySpreadArgs{}
			if len(pc.Args) > 0 {
				dec := json.NewDecoder(bytes.NewReader(pc.Args))
				dec.DisallowUnknownFields()
				if err := dec.Decode(a); err != nil {
					errs = append(errs, fmt.Errorf("%s.args: %w", path, err))
					continue
				}
			}
			if err := a.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s.args: %w", path, err))
				continue
			}
			out[pc.Name] = a
		default:
			if _, ok := plugins.Registry()[pc.Name]; !ok {
				errs = append(errs, fmt.Errorf("%s.name: unknown plugin %q", path, pc.Name))
			} else {
				errs = append(errs, fmt.Errorf("%s: plugin %q takes no args in kubelab", path, pc.Name))
			}
		}
	}
	return out, errors.Join(errs...)
}

// merge resolves one extension point. multi contributes its enabled plugins that
// implement the point (filter or score); the caller filters by interface later, so only
// names known to fit are taken from it.
func merge(defaults []framework.WeightedPlugin, set, multi PluginSet, weighted bool) []framework.WeightedPlugin {
	disabled := map[string]bool{}
	all := false
	for _, d := range append(slices.Clone(set.Disabled), multi.Disabled...) {
		if d.Name == "*" {
			all = true
		}
		disabled[d.Name] = true
	}
	var out []framework.WeightedPlugin
	if !all {
		for _, d := range defaults {
			if !disabled[d.Name] {
				out = append(out, d)
			}
		}
	}
	enable := func(e Plugin, dflt int64) {
		w := dflt
		if weighted && e.Weight != nil && *e.Weight != 0 {
			w = int64(*e.Weight)
		}
		if i := slices.IndexFunc(out, func(x framework.WeightedPlugin) bool { return x.Name == e.Name }); i >= 0 {
			if e.Weight == nil {
				w = out[i].Weight
			}
			out = slices.Delete(out, i, i+1)
		}
		out = append(out, framework.WeightedPlugin{Name: e.Name, Weight: w})
	}
	for _, e := range set.Enabled {
		enable(e, 1)
	}
	for _, e := range multi.Enabled {
		if implementsPoint(e.Name, weighted) && !slices.ContainsFunc(set.Enabled, func(x Plugin) bool { return x.Name == e.Name }) {
			enable(e, 1)
		}
	}
	return out
}

func implementsPoint(name string, score bool) bool {
	f, ok := plugins.Registry()[name]
	if !ok || name == plugins.DefaultBinderName {
		return false
	}
	p, err := f(framework.Handle{})
	if err != nil {
		return false
	}
	if score {
		_, ok = p.(framework.ScorePlugin)
	} else {
		_, ok = p.(framework.FilterPlugin)
	}
	return ok
}
