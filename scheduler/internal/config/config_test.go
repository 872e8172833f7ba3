package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"kubelab.io/scheduler/internal/framework"
	"kubelab.io/scheduler/internal/plugins"
)

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Profiles[0].Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if p.SchedulerName != "default-scheduler" || !slices.Equal(p.Filter, DefaultFilter) || !slices.Equal(p.Score, DefaultScore) || !slices.Equal(p.Bind, DefaultBind) ||
		!slices.Equal(p.PostFilter, []string{"DefaultPreemption"}) {
		t.Errorf("profile %+v", p)
	}
	// Preemption can be turned off, as in kube-scheduler.
	off := Profile{SchedulerName: "no-preemption", Plugins: &Plugins{PostFilter: PluginSet{Disabled: []Plugin{{Name: "DefaultPreemption"}}}}}
	if p, err := off.Resolve(); err != nil || len(p.PostFilter) != 0 {
		t.Errorf("disabled DefaultPreemption: %v %v", p.PostFilter, err)
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name       string
		plugins    string
		wantFilter []string
		wantScore  []framework.WeightedPlugin
		wantErr    string
	}{
		{
			name:       "disable one score plugin, reweight another",
			plugins:    "score: {disabled: [{name: ImageLocality}], enabled: [{name: NodeAffinity, weight: 7}]}",
			wantFilter: DefaultFilter,
			wantScore: []framework.WeightedPlugin{{Name: "TaintToleration", Weight: 3}, {Name: "PodTopologySpread", Weight: 2}, {Name: "InterPodAffinity", Weight: 2},
				{Name: "NodeResourcesLeastAllocated", Weight: 1},
				{Name: "NodeResourcesBalancedAllocation", Weight: 1}, {Name: "NodeAffinity", Weight: 7}},
		},
		{
			name:       "disable all and pick",
			plugins:    "filter: {disabled: [{name: '*'}], enabled: [{name: NodeResourcesFit}]}\n    score: {disabled: [{name: '*'}], enabled: [{name: NodeResourcesLeastAllocated, weight: 2}]}",
			wantFilter: []string{"NodeResourcesFit"},
			wantScore:  []framework.WeightedPlugin{{Name: "NodeResourcesLeastAllocated", Weight: 2}},
		},
		{
			name:    "unknown plugin",
			plugins: "filter: {enabled: [{name: NoSuchPlugin}]}",
			wantErr: `unknown plugin "NoSuchPlugin"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := fmt.Sprintf("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- plugins:\n    %s\n", tc.plugins)
			c, err := Parse([]byte(doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, _ := c.Profiles[0].Resolve()
			if !slices.Equal(p.Filter, tc.wantFilter) || !slices.Equal(p.Score, tc.wantScore) {
				t.Errorf("filter %v score %v", p.Filter, p.Score)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	doc := `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
leaderElection:
  leaderElect: true
  resourceNamespace: kube-system
  resourceName: kube-scheduler
profiles:
- schedulerName: default-scheduler
- schedulerName: other-scheduler
  percentageOfNodesToScore: 70
extenders:
- urlPrefix: http://127.0.0.1:8888/
  filterVerb: filter
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if *c.PercentageOfNodesToScore != 30 || len(c.Profiles) != 2 || *c.Profiles[1].PercentageOfNodesToScore != 70 ||
		c.Extenders[0].HTTPTimeout.Duration != DefaultExtenderTimeout || c.LeaderElection.ResourceName != "kube-scheduler" {
		t.Errorf("config %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	cases := map[string]string{
		"wrong kind":           "apiVersion: kubescheduler.config.k8s.io/v1\nkind: Pod\n",
		"unknown field":        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nbogus: 1\n",
		"percentage":           "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npercentageOfNodesToScore: 101\n",
		"duplicate profile":    "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles: [{schedulerName: a}, {schedulerName: a}]\n",
		"extender without url": "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nextenders: [{filterVerb: f}]\n",
		"bad duration":         "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nextenders: [{urlPrefix: x, httpTimeout: soon}]\n",
	}
	for name, doc := range cases {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// PodTopologySpread's args reach the plugin's factory; other plugins' args are refused.
func TestPluginConfig(t *testing.T) {
	const head = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- pluginConfig:\n"
	c, err := Parse([]byte(head + `  - name: PodTopologySpread
    args:
      apiVersion: kubescheduler.config.k8s.io/v1
      kind: PodTopologySpreadArgs
      defaultingType: List
      defaultConstraints:
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: ScheduleAnyway
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Profiles[0].Resolve()
	if err != nil {
		t.Fatal(err)
	}
	a, ok := p.PluginArgs[plugins.PodTopologySpreadName].(*plugins.PodTopologySpreadArgs)
	if !ok || a.DefaultingType != "List" || len(a.DefaultConstraints) != 1 || a.DefaultConstraints[0].TopologyKey != "topology.kubernetes.io/zone" {
		t.Fatalf("args %#v", p.PluginArgs)
	}
	for name, tc := range map[string]struct{ doc, want string }{
		"System with constraints": {"  - name: PodTopologySpread\n    args: {defaultConstraints: [{maxSkew: 1, topologyKey: k, whenUnsatisfiable: ScheduleAnyway}]}\n", `"System", .defaultConstraints must be empty`},
		"unknown arg":             {"  - name: PodTopologySpread\n    args: {defaultingType: List, spread: true}\n", "unknown field"},
		"other plugin's args":     {"  - name: InterPodAffinity\n    args: {hardPodAffinityWeight: 1}\n", "takes no args"},
		"unknown plugin":          {"  - name: Nope\n", `unknown plugin "Nope"`},
		"duplicate":               {"  - name: PodTopologySpread\n  - name: PodTopologySpread\n", "Duplicate value"},
	} {
		if _, err := Parse([]byte(head + tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}
