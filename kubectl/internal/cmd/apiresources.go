package cmd

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

type apiResourcesFlags struct {
	output     string
	namespaced bool
	nsSet      bool
	apiGroup   string
	noHeaders  bool
	verbs      []string
	sortBy     string
	cached     bool
}

// NewCmdAPIResources is `kubectl api-resources`.
func NewCmdAPIResources(f *Factory, streams Streams) *cobra.Command {
	o := &apiResourcesFlags{}
	c := &cobra.Command{
		Use:   "api-resources",
		Short: "Print the supported API resources on the server",
		Long:  "Print the supported API resources on the server.",
		Example: `  # Print the supported API resources
  kubectl api-resources

  # Print the supported API resources with more information
  kubectl api-resources -o wide

  # Print the supported namespaced resources
  kubectl api-resources --namespaced=true

  # Print the supported API resources with a specific APIGroup
  kubectl api-resources --api-group=apps`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.nsSet = c.Flags().Changed("namespaced")
			return o.run(c.Context(), f, streams)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&o.output, "output", "o", "", "Output format. One of: (wide, name).")
	fl.BoolVar(&o.namespaced, "namespaced", true, "If false, non-namespaced resources will be returned, otherwise returning namespaced resources by default.")
	fl.StringVar(&o.apiGroup, "api-group", "", "Limit to resources in the specified API group.")
	fl.BoolVar(&o.noHeaders, "no-headers", false, "When using the default or custom-column output format, don't print headers (default print headers).")
	fl.StringSliceVar(&o.verbs, "verbs", nil, "Limit to resources that support the specified verbs.")
	fl.StringVar(&o.sortBy, "sort-by", "", "If non-empty, sort list of resources using specified field. The field can be either 'name' or 'kind'.")
	fl.BoolVar(&o.cached, "cached", false, "Use the cached list of resources if available.")
	return c
}

func (o *apiResourcesFlags) run(ctx context.Context, f *Factory, streams Streams) error {
	switch o.output {
	case "", "wide", "name":
	default:
		return fmt.Errorf("--output %v is not available", o.output)
	}
	if o.sortBy != "" && o.sortBy != "name" && o.sortBy != "kind" {
		return fmt.Errorf("--sort-by accepts only name or kind")
	}
	d, err := f.Discovery()
	if err != nil {
		return err
	}
	all, err := d.Resources(ctx)
	if err != nil {
		return err
	}
	var rs []Resource
	for _, r := range all {
		if o.apiGroup != "" && r.Group != o.apiGroup {
			continue
		}
		if o.nsSet && r.Namespaced != o.namespaced {
			continue
		}
		if !hasVerbs(r, o.verbs) {
			continue
		}
		rs = append(rs, r)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		switch o.sortBy {
		case "name":
			return rs[i].Name < rs[j].Name
		case "kind":
			return rs[i].Kind < rs[j].Kind
		}
		if rs[i].Group != rs[j].Group {
			return rs[i].Group < rs[j].Group
		}
		return rs[i].Name < rs[j].Name
	})
	if o.output == "name" {
		for _, r := range rs {
			fmt.Fprintln(streams.Out, r.GroupResource())
		}
		return nil
	}
	var rows [][]string
	if !o.noHeaders {
		h := []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}
		if o.output == "wide" {
			h = append(h, "VERBS", "CATEGORIES")
		}
		rows = append(rows, h)
	}
	for _, r := range rs {
		row := []string{r.Name, strings.Join(r.ShortNames, ","), r.GroupVersion(), fmt.Sprint(r.Namespaced), r.Kind}
		if o.output == "wide" {
			row = append(row, "["+strings.Join(r.Verbs, " ")+"]", strings.Join(r.Categories, ","))
		}
		rows = append(rows, row)
	}
	(&textTable{}).write(streams.Out, rows)
	return nil
}

func hasVerbs(r Resource, verbs []string) bool {
	for _, v := range verbs {
		found := false
		for _, rv := range r.Verbs {
			found = found || rv == v
		}
		if !found {
			return false
		}
	}
	return true
}

// NewCmdAPIVersions is `kubectl api-versions`.
func NewCmdAPIVersions(f *Factory, streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:     "api-versions",
		Short:   "Print the supported API versions on the server, in the form of \"group/version\"",
		Example: "  # Print the supported API versions\n  kubectl api-versions",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := f.Discovery()
			if err != nil {
				return err
			}
			groups, err := d.ServerGroups(c.Context())
			if err != nil {
				return err
			}
			var gvs []string
			for _, g := range groups.Groups {
				for _, v := range g.Versions {
					gvs = append(gvs, v.GroupVersion)
				}
			}
			sort.Strings(gvs)
			for _, gv := range gvs {
				fmt.Fprintln(streams.Out, gv)
			}
			return nil
		},
	}
}
