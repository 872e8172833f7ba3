package cmd

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// target is one resource type with the names asked for (none: the whole collection).
type target struct {
	res   Resource
	names []string
}

// parseTargets reads kubectl's resource arguments: "TYPE[,TYPE...] [NAME...]" or
// "TYPE/NAME [TYPE/NAME...]". "all" expands to the resources of the category "all".
func parseTargets(ctx context.Context, d *Discovery, args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("you must specify the type of resource to get")
	}
	if strings.Contains(args[0], "/") {
		var out []target
		for _, a := range args {
			typ, name, ok := strings.Cut(a, "/")
			if !ok || name == "" {
				return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'")
			}
			r, err := d.Resolve(ctx, typ)
			if err != nil {
				return nil, err
			}
			merged := false
			for i := range out {
				if out[i].res.GroupResource() == r.GroupResource() {
					out[i].names = append(out[i].names, name)
					merged = true
				}
			}
			if !merged {
				out = append(out, target{res: r, names: []string{name}})
			}
		}
		return out, nil
	}
	for _, a := range args[1:] {
		if strings.Contains(a, "/") {
			return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'")
		}
	}
	var out []target
	for _, typ := range strings.Split(args[0], ",") {
		if typ == "" {
			continue
		}
		if typ == "all" {
			all, err := d.Resources(ctx)
			if err != nil {
				return nil, err
			}
			for _, r := range all {
				for _, c := range r.Categories {
					if c == "all" {
						out = append(out, target{res: r, names: args[1:]})
					}
				}
			}
			continue
		}
		r, err := d.Resolve(ctx, typ)
		if err != nil {
			return nil, err
		}
		out = append(out, target{res: r, names: args[1:]})
	}
	return out, nil
}

// objectRef is one object: its resource, namespace and name.
type objectRef struct {
	res       Resource
	namespace string
	name      string
}

func (r objectRef) path(sub ...string) string { return r.res.Path(r.namespace, r.name, sub...) }

// String is "deployment.apps/x".
func (r objectRef) String() string { return r.res.KindRef() + "/" + r.name }

// notFound is the server's NotFound, worded for a resource kubectl could not find.
func namespaceFor(r Resource, ns string) string {
	if !r.Namespaced {
		return ""
	}
	return ns
}

// listIn is the objects of resource in namespace ns that query selects.
func listIn(ctx context.Context, c *Client, d *Discovery, resource, ns string, query url.Values) ([]any, error) {
	res, err := d.Resolve(ctx, resource)
	if err != nil {
		return nil, err
	}
	list, err := c.GetObject(ctx, res.Path(ns, ""), query)
	if err != nil {
		return nil, err
	}
	return nestedSlice(list, "items"), nil
}
