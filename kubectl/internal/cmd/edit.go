package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

type editFlags struct {
	selection
	validate string
}

// NewCmdEdit is `kubectl edit`: the object in $KUBE_EDITOR or $EDITOR, then an update.
func NewCmdEdit(f *Factory, streams Streams) *cobra.Command {
	o := &editFlags{}
	c := &cobra.Command{
		Use:   "edit (RESOURCE/NAME | -f FILENAME)",
		Short: "Edit a resource on the server",
		Long: `Edit a resource from the default editor.

 The edit command allows you to directly edit any API resource you can retrieve via the command-line tools. It will open the editor defined by your KUBE_EDITOR, or EDITOR environment variables, or fall back to 'vi' for Linux. The edited object is validated client-side before it is sent; if the server refuses it, the error is printed and nothing changes.`,
		Example: `  # Edit the deployment named 'nginx'
  kubectl edit deployment/nginx

  # Use an alternative editor
  KUBE_EDITOR="nano" kubectl edit deploy nginx`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), f, streams, args)
		},
	}
	c.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "Filename, directory, or URL to files to use to edit the resource")
	c.Flags().StringVar(&o.validate, "validate", "strict", "Validate the edited object client-side: strict or ignore.")
	return c
}

func editorCommand() string {
	for _, e := range []string{"KUBE_EDITOR", "EDITOR"} {
		if v := os.Getenv(e); v != "" {
			return v
		}
	}
	return "vi"
}

func (o *editFlags) run(ctx context.Context, f *Factory, streams Streams, args []string) error {
	refs, err := o.resolve(ctx, f, streams.In, args)
	if err != nil {
		return err
	}
	ns, _, _ := f.Namespace()
	c, _ := f.Client()
	for _, ref := range refs {
		obj, err := c.GetObject(ctx, ref.path(), nil)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(mustJSON(obj))
		if err != nil {
			return err
		}
		header := "# Please edit the object below. Lines beginning with a '#' will be ignored,\n# and an empty file will abort the edit. If an error occurs while saving this file will be\n# reopened with the relevant failures.\n#\n"
		dir, err := os.MkdirTemp("", "kubectl-edit-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		file := filepath.Join(dir, strings.ReplaceAll(ref.String(), "/", "-")+".yaml")
		if err := os.WriteFile(file, append([]byte(header), y...), 0o600); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "sh", "-c", editorCommand()+` "$0"`, file)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = streams.In, streams.Out, streams.ErrOut
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("there was a problem with the editor %q", editorCommand())
		}
		edited, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		body := stripComments(edited)
		if len(bytes.TrimSpace(body)) == 0 {
			fmt.Fprintln(streams.Out, "Edit cancelled, no changes made.")
			continue
		}
		js, err := yaml.YAMLToJSON(body)
		if err != nil {
			return fmt.Errorf("error parsing the edited object: %v", err)
		}
		var newObj, oldObj any
		_ = json.Unmarshal(js, &newObj)
		_ = json.Unmarshal(mustJSON(obj), &oldObj)
		if jsonEqual(newObj, oldObj) {
			fmt.Fprintln(streams.Out, "Edit cancelled, no changes made.")
			continue
		}
		if validates(o.validate) {
			m, _ := decodeObject(js)
			stripServerFields(m)
			if err := validateObject(mustJSON(m), m, ns); err != nil {
				return fmt.Errorf("edited object %s is invalid: %v", ref, err)
			}
		}
		if _, err := c.Do(ctx, Request{Method: "PUT", Path: ref.path(), Body: js}); err != nil {
			return err
		}
		fmt.Fprintf(streams.Out, "%s edited\n", ref)
	}
	return nil
}

func jsonEqual(a, b any) bool { return bytes.Equal(mustJSON(a), mustJSON(b)) }

// stripServerFields drops what the server sets, so client-side validation judges only
// what a user writes.
func stripServerFields(o Object) {
	delete(o, "status")
	if md := nestedMap(o, "metadata"); md != nil {
		for _, k := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "ownerReferences", "finalizers"} {
			delete(md, k)
		}
	}
}
