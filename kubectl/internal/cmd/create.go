package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

type createFlags struct {
	filenameFlags
	validate   string
	dryRun     string
	output     string
	saveConfig bool
}

// NewCmdCreate is `kubectl create -f` and its generators (deployment, namespace, configmap,
// secret generic, poddisruptionbudget, serviceaccount, job, cronjob, service) and create token.
func NewCmdCreate(f *Factory, streams Streams) *cobra.Command {
	o := &createFlags{}
	c := &cobra.Command{
		Use:   "create -f FILENAME",
		Short: "Create a resource from a file or from stdin",
		Long:  "Create a resource from a file or from stdin.\n\n JSON and YAML formats are accepted.",
		Example: `  # Create a pod using the data in pod.json
  kubectl create -f ./pod.json

  # Create a pod based on the JSON passed into stdin
  cat pod.json | kubectl create -f -`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(o.filenames) == 0 {
				return usageError("kubectl create", "must specify one of -f and -k")
			}
			return o.run(c.Context(), f, streams)
		},
	}
	addManifestFlags(c, &o.filenameFlags, &o.validate, "that contain the configuration to create")
	addDryRunFlag(c, &o.dryRun)
	c.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	c.Flags().BoolVar(&o.saveConfig, "save-config", false, "If true, the configuration of current object will be saved in its annotation.")
	secret := newCmdCreateSecret()
	secret.AddCommand(newCmdCreateSecretGeneric(f, streams))
	c.AddCommand(newCmdCreateDeployment(f, streams), newCmdCreateNamespace(f, streams), newCmdCreateConfigMap(f, streams), secret,
		newCmdCreatePodDisruptionBudget(f, streams), newCmdCreateServiceAccount(f, streams), newCmdCreateToken(f, streams),
		newCmdCreateJob(f, streams), newCmdCreateCronJob(f, streams), newCmdCreateService(f, streams))
	return c
}

func (o *createFlags) run(ctx context.Context, f *Factory, streams Streams) error {
	dryRun, err := parseDryRun(o.dryRun, streams.ErrOut)
	if err != nil {
		return err
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	ms, err := readManifests(&o.filenameFlags, streams.In, ns, validates(o.validate))
	if err != nil {
		return err
	}
	d, err := f.Discovery()
	if err != nil {
		return err
	}
	c, _ := f.Client()
	var failed error
	for _, m := range ms {
		obj := m.Object
		if o.saveConfig {
			obj = deepCopy(obj).(map[string]any)
			setNested(obj, string(mustJSON(m.Object))+"\n", "metadata", "annotations", lastAppliedAnnotation)
		}
		if err := createObject(ctx, c, d, streams, obj, ns, m.Source, o.output, dryRun); err != nil {
			fmt.Fprintln(streams.ErrOut, errorMessage(err))
			failed = &exitError{err: err}
		}
	}
	return failed
}

// createObject POSTs obj (with dryRun=All for a server dry run; not at all for a client one)
// and prints "kind.group/name created".
func createObject(ctx context.Context, c *Client, d *Discovery, streams Streams, obj Object, ns, source, output string, dryRun dryRunStrategy) error {
	return createObjectAs(ctx, c, d, streams, obj, ns, source, output, dryRun, "created")
}

// createObjectAs is createObject for a verb that words its success otherwise ("exposed").
func createObjectAs(ctx context.Context, c *Client, d *Discovery, streams Streams, obj Object, ns, source, output string, dryRun dryRunStrategy, verb string) error {
	res, err := d.ResourceForKind(ctx, nestedString(obj, "apiVersion"), nestedString(obj, "kind"))
	if err != nil {
		return err
	}
	objNs := nestedString(obj, "metadata", "namespace")
	if objNs == "" {
		objNs = ns
	}
	ref := objectRef{res: res, namespace: namespaceFor(res, objNs), name: nestedString(obj, "metadata", "name")}
	if dryRun == dryRunClient {
		return printResult(streams, ref, verb, obj, output, dryRun)
	}
	created, err := c.SendObject(ctx, "POST", res.Path(ref.namespace, ""), mustJSON(obj), "", dryRun.query())
	if err != nil {
		if source != "" {
			return prefixStatus(err, fmt.Sprintf("error when creating %q: ", source))
		}
		return err
	}
	ref.name = nestedString(created, "metadata", "name")
	return printResult(streams, ref, verb, created, output, dryRun)
}

type createDeploymentFlags struct {
	images   []string
	replicas int32
	port     int32
	dryRun   string
	output   string
}

func newCmdCreateDeployment(f *Factory, streams Streams) *cobra.Command {
	o := &createDeploymentFlags{}
	c := &cobra.Command{
		Use:     "deployment NAME --image=image -- [COMMAND] [args...]",
		Aliases: []string{"deploy"},
		Short:   "Create a deployment with the specified name",
		Example: `  # Create a deployment named my-dep that runs the busybox image
  kubectl create deployment my-dep --image=busybox

  # Create a deployment named my-dep that runs the nginx image with 3 replicas
  kubectl create deployment my-dep --image=nginx --replicas=3

  # Create a deployment named my-dep that runs the busybox image and expose port 5701
  kubectl create deployment my-dep --image=busybox --port=5701`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("kubectl create deployment", "NAME is required")
			}
			if len(o.images) == 0 {
				return fmt.Errorf("required flag(s) \"image\" not set")
			}
			return o.run(c.Context(), f, streams, args[0], args[1:])
		},
	}
	c.Flags().StringSliceVar(&o.images, "image", nil, "Image names to run. A deployment can have multiple images set for multi-container pod.")
	c.Flags().Int32Var(&o.replicas, "replicas", 1, "Number of replicas to create. Default is 1.")
	c.Flags().Int32Var(&o.port, "port", -1, "The containerPort that this deployment exposes.")
	addDryRunFlag(c, &o.dryRun)
	c.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}

var nonNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// containerName is kubectl's: the image's last path element without tag or digest.
func containerName(image string) string {
	n := path.Base(image)
	if i := strings.IndexAny(n, ":@"); i >= 0 {
		n = n[:i]
	}
	n = strings.Trim(nonNameChars.ReplaceAllString(strings.ToLower(n), "-"), "-")
	if n == "" {
		n = "container"
	}
	return n
}

func (o *createDeploymentFlags) run(ctx context.Context, f *Factory, streams Streams, name string, command []string) error {
	dryRun, err := parseDryRun(o.dryRun, streams.ErrOut)
	if err != nil {
		return err
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	labels := map[string]any{"app": name}
	var containers []any
	for _, img := range o.images {
		ctr := map[string]any{"name": containerName(img), "image": img, "resources": map[string]any{}}
		if len(command) > 0 && len(o.images) == 1 {
			cmd := make([]any, len(command))
			for i, a := range command {
				cmd[i] = a
			}
			ctr["command"] = cmd
		}
		if o.port >= 0 {
			ctr["ports"] = []any{map[string]any{"containerPort": json.Number(fmt.Sprint(o.port))}}
		}
		containers = append(containers, ctr)
	}
	obj := Object{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "labels": deepCopy(labels)},
		"spec": map[string]any{
			"replicas": json.Number(fmt.Sprint(o.replicas)),
			"selector": map[string]any{"matchLabels": deepCopy(labels)},
			"strategy": map[string]any{},
			"template": map[string]any{
				"metadata": map[string]any{"labels": deepCopy(labels)},
				"spec":     map[string]any{"containers": containers},
			},
		},
		"status": map[string]any{},
	}
	return createGenerated(ctx, f, streams, obj, ns, o.output, dryRun)
}

// generatorTarget is what a generator reads before it builds: the --dry-run strategy (with
// its warnings) and the namespace to create in.
func generatorTarget(f *Factory, streams Streams, dryRunFlag string) (dryRunStrategy, string, error) {
	dryRun, err := parseDryRun(dryRunFlag, streams.ErrOut)
	if err != nil {
		return dryRun, "", err
	}
	ns, _, err := f.Namespace()
	return dryRun, ns, err
}

// createGenerated checks an object a generator built, as client-side validation would a
// manifest, and creates it.
func createGenerated(ctx context.Context, f *Factory, streams Streams, obj Object, ns, output string, dryRun dryRunStrategy) error {
	if err := validateObject(mustJSON(obj), obj, ns); err != nil {
		return err
	}
	d, err := f.Discovery()
	if err != nil {
		return err
	}
	c, _ := f.Client()
	return createObject(ctx, c, d, streams, obj, ns, "", output, dryRun)
}

func newCmdCreateNamespace(f *Factory, streams Streams) *cobra.Command {
	var dryRunFlag, output string
	c := &cobra.Command{
		Use:     "namespace NAME [--dry-run=server|client|none]",
		Aliases: []string{"ns"},
		Short:   "Create a namespace with the specified name",
		Example: "  # Create a new namespace named my-namespace\n  kubectl create namespace my-namespace",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("kubectl create namespace", "exactly one NAME is required, got %d", len(args))
			}
			dryRun, err := parseDryRun(dryRunFlag, streams.ErrOut)
			if err != nil {
				return err
			}
			obj := Object{"apiVersion": "v1", "kind": "Namespace",
				"metadata": map[string]any{"name": args[0]}, "spec": map[string]any{}, "status": map[string]any{}}
			return createGenerated(c.Context(), f, streams, obj, "", output, dryRun)
		},
	}
	addDryRunFlag(c, &dryRunFlag)
	c.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	return c
}
