package cmd

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

type eventsFlags struct {
	allNamespaces bool
	forObject     string
	types         []string
	noHeaders     bool
	output        string
}

// NewCmdEvents is `kubectl events`.
func NewCmdEvents(f *Factory, streams Streams) *cobra.Command {
	o := &eventsFlags{}
	c := &cobra.Command{
		Use:   "events [(-o|--output=)json|yaml|name|jsonpath=...] [--for TYPE/NAME] [--types=Normal,Warning]",
		Short: "List events",
		Long:  "Display events.\n\n Prints a table of the most important information about events. You can request events for a namespace, for all namespace, or filtered to only those pertaining to a specified resource.",
		Example: `  # List recent events in the default namespace
  kubectl events

  # List recent events in all namespaces
  kubectl events --all-namespaces

  # List recent events for the specified pod
  kubectl events --for pod/web-pod-13je7

  # List recent only events of type 'Warning' or 'Normal'
  kubectl events --types=Warning,Normal`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.run(c.Context(), f, streams)
		},
	}
	c.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces.")
	c.Flags().StringVar(&o.forObject, "for", "", "Filter events to only those pertaining to the specified resource.")
	c.Flags().StringSliceVar(&o.types, "types", nil, "Output only events of given types.")
	c.Flags().BoolVar(&o.noHeaders, "no-headers", false, "When using the default output format, don't print headers.")
	c.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, jsonpath=...).")
	return c
}

// eventTime is when an event last happened: lastTimestamp, else eventTime, else creation.
func eventTime(ev any) string {
	for _, p := range [][]string{{"lastTimestamp"}, {"eventTime"}, {"firstTimestamp"}, {"metadata", "creationTimestamp"}} {
		if s := nestedString(ev, p...); s != "" {
			return s
		}
	}
	return ""
}

func (o *eventsFlags) run(ctx context.Context, f *Factory, streams Streams) error {
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	if o.allNamespaces {
		ns = ""
	}
	d, err := f.Discovery()
	if err != nil {
		return err
	}
	evRes, err := d.Resolve(ctx, "events")
	if err != nil {
		return err
	}
	q := url.Values{}
	if o.forObject != "" {
		typ, name, ok := strings.Cut(o.forObject, "/")
		if !ok {
			return fmt.Errorf("--for must be in resource/name form")
		}
		r, err := d.Resolve(ctx, typ)
		if err != nil {
			return err
		}
		q.Set("fieldSelector", "involvedObject.kind="+r.Kind+",involvedObject.name="+name)
	}
	c, _ := f.Client()
	list, err := c.GetObject(ctx, evRes.Path(ns, ""), q)
	if err != nil {
		return err
	}
	var items []any
	for _, it := range nestedSlice(list, "items") {
		if len(o.types) > 0 {
			keep := false
			for _, t := range o.types {
				keep = keep || strings.EqualFold(t, nestedString(it, "type"))
			}
			if !keep {
				continue
			}
		}
		if m, ok := it.(map[string]any); ok {
			m["apiVersion"], m["kind"] = "v1", "Event"
		}
		items = append(items, it)
	}
	sort.SliceStable(items, func(i, j int) bool { return eventTime(items[i]) < eventTime(items[j]) })
	if o.output != "" {
		return printObject(streams.Out, Object{"apiVersion": "v1", "kind": "List", "items": items, "metadata": map[string]any{"resourceVersion": ""}}, o.output)
	}
	if len(items) == 0 {
		if ns == "" {
			fmt.Fprintln(streams.ErrOut, "No events found.")
		} else {
			fmt.Fprintf(streams.ErrOut, "No events found in %s namespace.\n", ns)
		}
		return nil
	}
	var rows [][]string
	if !o.noHeaders {
		h := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
		if o.allNamespaces {
			h = append([]string{"NAMESPACE"}, h...)
		}
		rows = append(rows, h)
	}
	for _, ev := range items {
		row := []string{age(parseTime(eventTime(ev))), nestedString(ev, "type"), nestedString(ev, "reason"),
			nestedString(ev, "involvedObject", "kind") + "/" + nestedString(ev, "involvedObject", "name"),
			strings.TrimSpace(nestedString(ev, "message"))}
		if o.allNamespaces {
			row = append([]string{nestedString(ev, "metadata", "namespace")}, row...)
		}
		rows = append(rows, row)
	}
	(&textTable{}).write(streams.Out, rows)
	return nil
}
