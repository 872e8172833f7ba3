package cmd

import (
	"context"
	"fmt"
	"io"
	"net/url"
)

// selection is how a verb names its objects: TYPE NAME..., TYPE/NAME..., -f, -l or --all.
type selection struct {
	filenameFlags
	selector      string
	fieldSelector string
	all           bool
	allNamespaces bool
}

// resolve lists the objects selected by args and the flags. Names are not checked to exist.
func (s *selection) resolve(ctx context.Context, f *Factory, in io.Reader, args []string) ([]objectRef, error) {
	ns, _, err := f.Namespace()
	if err != nil {
		return nil, err
	}
	d, err := f.Discovery()
	if err != nil {
		return nil, err
	}
	c, _ := f.Client()
	if len(s.filenames) > 0 {
		ms, err := readManifests(&s.filenameFlags, in, ns, false)
		if err != nil {
			return nil, err
		}
		var out []objectRef
		for _, m := range ms {
			r, err := d.ResourceForKind(ctx, m.APIVersion(), m.Kind())
			if err != nil {
				return nil, err
			}
			mns := m.Namespace()
			if mns == "" {
				mns = ns
			}
			out = append(out, objectRef{res: r, namespace: namespaceFor(r, mns), name: m.Name()})
		}
		return out, nil
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")
	}
	targets, err := parseTargets(ctx, d, args)
	if err != nil {
		return nil, err
	}
	if s.allNamespaces {
		ns = ""
	}
	var out []objectRef
	for _, t := range targets {
		if len(t.names) > 0 {
			if s.selector != "" || s.all {
				return nil, fmt.Errorf("name cannot be provided when a selector is specified")
			}
			for _, n := range t.names {
				out = append(out, objectRef{res: t.res, namespace: namespaceFor(t.res, ns), name: n})
			}
			continue
		}
		if s.selector == "" && s.fieldSelector == "" && !s.all {
			return nil, fmt.Errorf("resource(s) were provided, but no name was specified")
		}
		q := url.Values{}
		if s.selector != "" {
			q.Set("labelSelector", s.selector)
		}
		if s.fieldSelector != "" {
			q.Set("fieldSelector", s.fieldSelector)
		}
		list, err := c.GetObject(ctx, t.res.Path(namespaceFor(t.res, ns), ""), q)
		if err != nil {
			return nil, err
		}
		for _, it := range nestedSlice(list, "items") {
			out = append(out, objectRef{res: t.res, namespace: namespaceFor(t.res, nestedString(it, "metadata", "namespace")),
				name: nestedString(it, "metadata", "name")})
		}
	}
	return out, nil
}

// noResourcesFound prints kubectl's note for an empty selection.
func noResourcesFound(w io.Writer, ns string) {
	if ns != "" {
		fmt.Fprintf(w, "No resources found in %s namespace.\n", ns)
		return
	}
	fmt.Fprintln(w, "No resources found")
}
