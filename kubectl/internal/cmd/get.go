package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"kubelab.io/proto/apierrors"
)

type getFlags struct {
	filenameFlags
	output         string
	selector       string
	fieldSelector  string
	allNamespaces  bool
	watch          bool
	watchOnly      bool
	showLabels     bool
	sortBy         string
	noHeaders      bool
	ignoreNotFound bool
	labelColumns   []string
	showKind       bool
	raw            string

	watchResourceVersion string
}

// NewCmdGet is `kubectl get`.
func NewCmdGet(f *Factory, streams Streams) *cobra.Command {
	o := &getFlags{}
	c := &cobra.Command{
		Use:   "get [(-o|--output=)json|yaml|name|wide|jsonpath=...] (TYPE[.VERSION][.GROUP] [NAME | -l label] | TYPE[.VERSION][.GROUP]/NAME ...) [flags]",
		Short: "Display one or many resources",
		Long: `Display one or many resources.

 Prints a table of the most important information about the specified resources. You can filter the list using a label selector and the --selector flag. If the desired resource type is namespaced you will only see results in the current namespace unless you pass --all-namespaces.

 By specifying the output as 'template' and providing a Go template as the value of the --template flag, you can filter the attributes of the fetched resources.

Use "kubectl api-resources" for a complete list of supported resources.`,
		Example: `  # List all pods in ps output format
  kubectl get pods

  # List all pods in ps output format with more information (such as node name)
  kubectl get pods -o wide

  # List deployments, replica sets and pods together
  kubectl get deployments,replicasets,pods

  # List a single pod in JSON output format
  kubectl get -o json pod web-pod-13je7

  # Return only the phase value of the specified pod
  kubectl get -o jsonpath='{.status.phase}' pod web-pod-13je7

  # List all pods in all namespaces, sorted by name, with their labels
  kubectl get pods -A --sort-by=.metadata.name --show-labels`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.raw, "raw", "", "Raw URI to request from the server. Uses the transport specified by the kubeconfig file.")
	fl.StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name, wide, jsonpath=..., jsonpath-as-json=...).")
	fl.StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.(e.g. -l key1=value1,key2=value2).")
	fl.StringVar(&o.fieldSelector, "field-selector", "", "Selector (field query) to filter on, supports '=', '==', and '!='.(e.g. --field-selector key1=value1,key2=value2).")
	fl.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces. Namespace in current context is ignored even if specified with --namespace.")
	fl.BoolVarP(&o.watch, "watch", "w", false, "After listing/getting the requested object, watch for changes.")
	fl.BoolVar(&o.watchOnly, "watch-only", false, "Watch for changes to the requested object(s), without listing/getting first.")
	fl.BoolVar(&o.showLabels, "show-labels", false, "When printing, show all labels as the last column (default hide labels column).")
	fl.BoolVar(&o.showKind, "show-kind", false, "If present, list the resource type for the requested object(s).")
	fl.StringVar(&o.sortBy, "sort-by", "", "If non-empty, sort list types using this field specification.  The field specification is expressed as a JSONPath expression (e.g. '{.metadata.name}').")
	fl.BoolVar(&o.noHeaders, "no-headers", false, "When using the default or custom-column output format, don't print headers (default print headers).")
	fl.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "If the requested object does not exist the command will return exit code 0.")
	fl.StringSliceVarP(&o.labelColumns, "label-columns", "L", nil, "Accepts a comma separated list of labels that are going to be presented as columns.")
	fl.StringSliceVarP(&o.filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to get from a server.")
	fl.BoolVarP(&o.recursive, "recursive", "R", false, "Process the directory used in -f, --filename recursively.")
	return c
}

func (o *getFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	if o.raw != "" {
		if len(args) > 0 {
			return fmt.Errorf("arguments may not be passed when --raw is specified")
		}
		return getRaw(ctx, f, streams, o.raw)
	}
	if !validOutput(o.output) {
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,jsonpath,jsonpath-as-json,name,wide,yaml", o.output)
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	d, err := f.Discovery()
	if err != nil {
		return err
	}
	c, _ := f.Client()
	var targets []target
	if len(o.filenames) > 0 {
		ms, err := readManifests(&o.filenameFlags, streams.In, ns, false)
		if err != nil {
			return err
		}
		for _, m := range ms {
			r, err := d.ResourceForKind(ctx, m.APIVersion(), m.Kind())
			if err != nil {
				return err
			}
			targets = append(targets, target{res: r, names: []string{m.Name()}})
		}
	} else {
		if len(args) == 0 {
			fmt.Fprint(streams.ErrOut, `You must specify the type of resource to get. Use "kubectl api-resources" for a complete list of supported resources.

`)
			return usageError("kubectl get", "Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).")
		}
		if targets, err = parseTargets(ctx, d, args); err != nil {
			return err
		}
	}
	if o.allNamespaces {
		ns = ""
	}
	if (o.watch || o.watchOnly) && len(targets) > 1 {
		return errors.New("you may only specify a single resource type")
	}

	switch o.output {
	case "", "wide":
		return o.printTables(ctx, c, streams, targets, ns)
	}
	return o.printObjects(ctx, c, streams, targets, ns)
}

func (o *getFlags) listQuery() url.Values {
	q := url.Values{}
	if o.selector != "" {
		q.Set("labelSelector", o.selector)
	}
	if o.fieldSelector != "" {
		q.Set("fieldSelector", o.fieldSelector)
	}
	q.Set("limit", "500")
	return q
}

// fetchTables gets the server-side Table of each target; NotFound names are reported on
// errOut (unless ignored) and make the command fail at the end.
func (o *getFlags) fetchTable(ctx context.Context, c *Client, t target, ns string, errOut io.Writer) (*Table, error) {
	q := url.Values{}
	if o.sortBy != "" {
		q.Set("includeObject", "Object")
	}
	if len(t.names) == 0 {
		for k, v := range o.listQuery() {
			q[k] = v
		}
		data, err := c.Do(ctx, Request{Path: t.res.Path(namespaceFor(t.res, ns), ""), Query: q, Accept: acceptTable})
		if err != nil {
			return nil, err
		}
		return decodeTable(data)
	}
	var out *Table
	var firstErr error
	for _, name := range t.names {
		data, err := c.Do(ctx, Request{Path: t.res.Path(namespaceFor(t.res, ns), name), Query: q, Accept: acceptTable})
		if err != nil {
			if apierrors.IsNotFound(err) && o.ignoreNotFound {
				continue
			}
			fmt.Fprintln(errOut, errorMessage(err))
			if firstErr == nil {
				firstErr = &exitError{err: err}
			}
			continue
		}
		tbl, err := decodeTable(data)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = tbl
		} else {
			out.Rows = append(out.Rows, tbl.Rows...)
		}
	}
	if out == nil {
		out = &Table{}
	}
	return out, firstErr
}

func (o *getFlags) tableOptions(t target, multi bool) tableOptions {
	to := tableOptions{wide: o.output == "wide", noHeaders: o.noHeaders, showLabels: o.showLabels,
		withNamespace: o.allNamespaces && t.res.Namespaced, labelColumns: o.labelColumns}
	if multi || o.showKind {
		to.kindPrefix = t.res.KindRef() + "/"
	}
	return to
}

func (o *getFlags) printTables(ctx context.Context, c *Client, streams Streams, targets []target, ns string) error {
	var failed error
	printed := false
	multi := len(targets) > 1
	anyNamespaced := false
	var tw *textTable
	for _, t := range targets {
		anyNamespaced = anyNamespaced || t.res.Namespaced
		if o.watchOnly {
			continue
		}
		tbl, err := o.fetchTable(ctx, c, t, ns, streams.ErrOut)
		if err != nil {
			var ee *exitError
			if !errors.As(err, &ee) {
				return err
			}
			failed = err
		}
		if o.sortBy != "" {
			if err := sortRows(tbl, o.sortBy); err != nil {
				return err
			}
		}
		if len(tbl.Rows) == 0 {
			if o.watch {
				tw = &textTable{}
			}
			continue
		}
		if printed {
			fmt.Fprintln(streams.Out)
		}
		tw = &textTable{}
		tw.write(streams.Out, tableRows(tbl, o.tableOptions(t, multi)))
		printed = true
		if o.watch {
			o.watchResourceVersion = fmt.Sprint(tbl.Metadata["resourceVersion"])
		}
	}
	if !printed && failed == nil && !o.watchOnly && (len(targets) == 0 || len(targets[0].names) == 0) {
		if anyNamespaced && ns != "" {
			fmt.Fprintf(streams.ErrOut, "No resources found in %s namespace.\n", ns)
		} else {
			fmt.Fprintln(streams.ErrOut, "No resources found")
		}
	}
	if o.watch || o.watchOnly {
		if tw == nil {
			tw = &textTable{}
		}
		return o.watchTable(ctx, c, streams, targets[0], ns, tw, !printed)
	}
	return failed
}

// watchTable prints the rows of watch events (Tables) as they arrive, until the watch ends
// or --request-timeout passes.
func (o *getFlags) watchTable(ctx context.Context, c *Client, streams Streams, t target, ns string, tw *textTable, headers bool) error {
	q := o.listQuery()
	q.Del("limit")
	q.Set("watch", "true")
	if o.watchResourceVersion != "" && !o.watchOnly {
		q.Set("resourceVersion", o.watchResourceVersion)
	}
	if len(t.names) == 1 {
		q.Set("fieldSelector", "metadata.name="+t.names[0])
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	body, err := c.Stream(ctx, Request{Path: t.res.Path(namespaceFor(t.res, ns), ""), Query: q, Accept: acceptTable})
	if err != nil {
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(bufio.NewReader(body))
	dec.UseNumber()
	opts := o.tableOptions(t, false)
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if ev.Type == "ERROR" {
			return statusError(500, ev.Object)
		}
		tbl, err := decodeTable(ev.Object)
		if err != nil {
			return err
		}
		opts.noHeaders = o.noHeaders || !headers || len(tbl.ColumnDefinitions) == 0
		if !opts.noHeaders {
			headers = false
		}
		tw.write(streams.Out, tableRows(tbl, opts))
	}
}

// fetchObjects gets the objects of each target as JSON, apiVersion and kind filled in.
func (o *getFlags) fetchObjects(ctx context.Context, c *Client, t target, ns string, errOut io.Writer) ([]Object, error) {
	fill := func(obj Object) Object {
		obj["apiVersion"], obj["kind"] = t.res.GroupVersion(), t.res.Kind
		return obj
	}
	if len(t.names) == 0 {
		list, err := c.GetObject(ctx, t.res.Path(namespaceFor(t.res, ns), ""), o.listQuery())
		if err != nil {
			return nil, err
		}
		var out []Object
		for _, it := range nestedSlice(list, "items") {
			if m, ok := it.(map[string]any); ok {
				out = append(out, fill(m))
			}
		}
		return out, nil
	}
	var out []Object
	var failed error
	for _, name := range t.names {
		obj, err := c.GetObject(ctx, t.res.Path(namespaceFor(t.res, ns), name), nil)
		if err != nil {
			if apierrors.IsNotFound(err) && o.ignoreNotFound {
				continue
			}
			fmt.Fprintln(errOut, errorMessage(err))
			failed = &exitError{err: err}
			continue
		}
		out = append(out, fill(obj))
	}
	return out, failed
}

func (o *getFlags) printObjects(ctx context.Context, c *Client, streams Streams, targets []target, ns string) error {
	var all []Object
	var kinds []Resource
	var failed error
	single := len(targets) == 1 && len(targets[0].names) == 1
	for _, t := range targets {
		objs, err := o.fetchObjects(ctx, c, t, ns, streams.ErrOut)
		if err != nil {
			var ee *exitError
			if !errors.As(err, &ee) {
				return err
			}
			failed = err
		}
		for _, obj := range objs {
			all = append(all, obj)
			kinds = append(kinds, t.res)
		}
	}
	if o.sortBy != "" {
		jp, err := ParseJSONPath(fixSortExpr(o.sortBy))
		if err != nil {
			return err
		}
		keys := make([]any, len(all))
		for i, obj := range all {
			if v, _ := jp.Values(obj); len(v) > 0 {
				keys[i] = v[0]
			}
		}
		idx := sortIndex(len(all), func(a, b int) bool { return lessValue(keys[a], keys[b]) })
		all, kinds = permute(all, idx), permute(kinds, idx)
	}
	if o.output == "name" {
		for i, obj := range all {
			fmt.Fprintf(streams.Out, "%s/%s\n", kinds[i].KindRef(), nestedString(obj, "metadata", "name"))
		}
		return failed
	}
	if single {
		if len(all) == 1 {
			if err := printObject(streams.Out, all[0], o.output); err != nil {
				return err
			}
		}
		return failed
	}
	items := make([]any, len(all))
	for i, obj := range all {
		items[i] = obj
	}
	list := Object{"apiVersion": "v1", "kind": "List", "items": items, "metadata": map[string]any{"resourceVersion": ""}}
	if err := printObject(streams.Out, list, o.output); err != nil {
		return err
	}
	if strings.HasPrefix(o.output, "jsonpath") {
		// kubectl ends jsonpath output without a newline.
	}
	return failed
}

// getRaw is `kubectl get --raw URI`: the body of GET URI, printed as the server sent it.
func getRaw(ctx context.Context, f *Factory, streams Streams, uri string) error {
	u, err := url.Parse(uri)
	if err != nil || !strings.HasPrefix(u.Path, "/") {
		return fmt.Errorf("--raw must be an absolute path, got %q", uri)
	}
	c, err := f.Client()
	if err != nil {
		return err
	}
	body, err := c.Do(ctx, Request{Path: u.Path, Query: u.Query(), Accept: "application/json, */*"})
	if err != nil {
		return err
	}
	_, err = streams.Out.Write(body)
	return err
}
