package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "kubelab.io/proto/api/apps/v1"
	batchv1 "kubelab.io/proto/api/batch/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
	"kubelab.io/proto/validation"
)

// Manifest is one object read from a -f source.
type Manifest struct {
	Source string // the file name as given ("-" for stdin)
	Doc    int    // 1-based index of the YAML document in the source
	Object Object
}

func (m *Manifest) Name() string      { return nestedString(m.Object, "metadata", "name") }
func (m *Manifest) Namespace() string { return nestedString(m.Object, "metadata", "namespace") }
func (m *Manifest) APIVersion() string {
	return nestedString(m.Object, "apiVersion")
}
func (m *Manifest) Kind() string { return nestedString(m.Object, "kind") }

// filenameFlags are -f, -R shared by the verbs that read manifests.
type filenameFlags struct {
	filenames []string
	recursive bool
}

// manifestFiles expands -f: files as given, directories to their .yaml, .yml and .json files
// (recursively with -R), "-" for stdin.
func (o *filenameFlags) files() ([]string, error) {
	var out []string
	for _, f := range o.filenames {
		if f == "-" {
			out = append(out, f)
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("the path %q does not exist", f)
		}
		if !fi.IsDir() {
			out = append(out, f)
			continue
		}
		err = filepath.WalkDir(f, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != f && !o.recursive {
					return filepath.SkipDir
				}
				return nil
			}
			switch filepath.Ext(p) {
			case ".yaml", ".yml", ".json":
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return false })
	return out, nil
}

// ValidationError is a manifest refused before anything was sent.
type ValidationError struct {
	Source string
	Doc    int
	Err    error
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("error validating %q (document %d): %v", e.Source, e.Doc, e.Err)
}

func (e *ValidationError) Unwrap() error { return e.Err }

// readManifests reads and validates every document of the -f sources. It sends nothing: a
// document that fails validation fails the whole command before any request.
func readManifests(o *filenameFlags, stdin io.Reader, defaultNamespace string, validate bool) ([]*Manifest, error) {
	if len(o.filenames) == 0 {
		return nil, errors.New("must specify one of -f and -k")
	}
	files, err := o.files()
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, f := range files {
		var data []byte
		if f == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, err
		}
		for i, doc := range runtime.SplitYAMLDocuments(data) {
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			m, err := decodeManifest(f, i+1, doc, defaultNamespace, validate)
			if err != nil {
				return nil, err
			}
			out = append(out, m...)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no objects passed to apply")
	}
	return out, nil
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func decodeManifest(source string, doc int, yamlDoc []byte, defaultNamespace string, validate bool) ([]*Manifest, error) {
	fail := func(err error) error { return &ValidationError{Source: source, Doc: doc, Err: err} }
	js, err := runtime.YAMLToJSON(yamlDoc)
	if err != nil {
		return nil, fail(fmt.Errorf("error converting YAML to JSON: %v", err))
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var obj Object
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fail(fmt.Errorf("the document is not a JSON or YAML object"))
	}
	if nestedString(obj, "kind") == "List" {
		var out []*Manifest
		for _, it := range nestedSlice(obj, "items") {
			b, _ := json.Marshal(it)
			ms, err := decodeManifest(source, doc, b, defaultNamespace, validate)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
		return out, nil
	}
	if validate {
		if err := validateObject(js, obj, defaultNamespace); err != nil {
			return nil, fail(err)
		}
	}
	return []*Manifest{{Source: source, Doc: doc, Object: obj}}, nil
}

// validateObject runs kubectl's client-side checks: a kind the server serves, no unknown or
// mistyped fields, and the server's own defaulting and validation (metadata, spec rules)
// plus image references that parse.
func validateObject(js []byte, obj Object, defaultNamespace string) error {
	apiVersion, kind := nestedString(obj, "apiVersion"), nestedString(obj, "kind")
	if kind == "" {
		return errors.New("kind: Required value: Object 'Kind' is missing")
	}
	if apiVersion == "" {
		return errors.New("apiVersion: Required value: Object 'apiVersion' is missing")
	}
	group, version, err := runtime.ParseAPIVersion(apiVersion)
	if err != nil {
		return fmt.Errorf("apiVersion: Invalid value: %q: %v", apiVersion, err)
	}
	gvk := runtime.GroupVersionKind{Group: group, Version: version, Kind: kind}
	mapping, ok := scheme.MappingFor(gvk)
	if !ok {
		return fmt.Errorf("no matches for kind %q in version %q", kind, apiVersion)
	}
	decoded, err := scheme.Scheme.DecodeJSON(js)
	if err != nil {
		var de *runtime.DecodeError
		if errors.As(err, &de) && de.Path != "" {
			return fmt.Errorf("%s: %s", de.Path, de.Msg)
		}
		return err
	}
	if len(decoded.Unknown) > 0 {
		return runtime.UnknownFieldsError(decoded.Unknown)
	}
	o := decoded.Object
	meta := runtime.Meta(o)
	if meta == nil {
		return fmt.Errorf("object has no metadata")
	}
	if mapping.Namespaced && meta.GetNamespace() == "" {
		meta.Namespace = defaultNamespace
	}
	defaults.Default(o)
	if job, ok := o.(*batchv1.Job); ok && meta.GetUid() == "" {
		// The apiserver generates a job's selector and labels from its uid on create; judge
		// the job as it will be stored, not as the client sent it.
		meta.Uid = "00000000-0000-0000-0000-000000000000"
		defaults.JobOnCreate(job)
	}
	if svc, ok := o.(*corev1.Service); ok {
		// The apiserver's strategy gives a clusterIP its clusterIPs before validating.
		defaults.ServiceOnCreate(svc)
	}
	errs := validation.ValidateObjectMetaName(meta, mapping.Namespaced, validation.NameFunc(mapping.Kind.Kind), "metadata")
	errs = append(errs, validation.Validate(o)...)
	errs = append(errs, validateImages(o)...)
	return fieldErrors(errs)
}

// validateImages checks every container image reference parses.
func validateImages(o runtime.Object) apierrors.FieldErrors {
	var spec *corev1.PodSpec
	path := "spec"
	switch t := o.(type) {
	case *corev1.Pod:
		spec = t.GetSpec()
	case *appsv1.Deployment:
		spec, path = t.GetSpec().GetTemplate().GetSpec(), "spec.template.spec"
	case *appsv1.ReplicaSet:
		spec, path = t.GetSpec().GetTemplate().GetSpec(), "spec.template.spec"
	case *batchv1.Job:
		spec, path = t.GetSpec().GetTemplate().GetSpec(), "spec.template.spec"
	}
	var errs apierrors.FieldErrors
	check := func(list string, cs []*corev1.Container) {
		for i, c := range cs {
			if c.GetImage() == "" {
				continue // the server's validation reports it
			}
			if err := validation.ValidateImageReference(c.GetImage()); err != nil {
				errs = append(errs, apierrors.Invalid(fmt.Sprintf("%s.%s[%d].image", path, list, i), c.GetImage(), err.Error()))
			}
		}
	}
	check("initContainers", spec.GetInitContainers())
	check("containers", spec.GetContainers())
	return errs
}

// fieldErrors joins field errors as kubectl's aggregate does: one plainly, several in [].
func fieldErrors(errs apierrors.FieldErrors) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return fmt.Errorf("[%s]", strings.Join(parts, ", "))
}
