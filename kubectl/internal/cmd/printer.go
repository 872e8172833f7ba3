package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"kubelab.io/proto/printers"
)

// testAgeEnv, when set, replaces every age and timestamp kubectl prints with its value, so
// golden outputs do not depend on the clock. It is for tests only.
const testAgeEnv = "KUBELAB_KUBECTL_TEST_AGE"

// age renders the time since t as kubectl does ("5s", "3m2s", "4d"); <unknown> for zero.
func age(t time.Time) string {
	if v := os.Getenv(testAgeEnv); v != "" {
		return v
	}
	if t.IsZero() {
		return "<unknown>"
	}
	return printers.HumanDuration(time.Since(t))
}

// timestamp renders t as describe does (RFC1123Z).
func timestamp(t time.Time) string {
	if v := os.Getenv(testAgeEnv); v != "" {
		return "<" + v + ">"
	}
	return t.Format(time.RFC1123Z)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// printObject writes v as yaml, json or jsonpath=/jsonpath-as-json=; name is printNames'.
func printObject(w io.Writer, v any, format string) error {
	switch {
	case format == "yaml":
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	case format == "json":
		data, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	case strings.HasPrefix(format, "jsonpath="), strings.HasPrefix(format, "jsonpath-as-json="):
		tmpl := format[strings.Index(format, "=")+1:]
		jp, err := ParseJSONPath(tmpl)
		if err != nil {
			return fmt.Errorf("error parsing jsonpath %s, %v", tmpl, err)
		}
		if strings.HasPrefix(format, "jsonpath-as-json=") {
			vals, err := jp.Values(v)
			if err != nil {
				return err
			}
			data, _ := json.MarshalIndent(vals, "", "    ")
			_, err = fmt.Fprintf(w, "%s\n", data)
			return err
		}
		return jp.Execute(w, v)
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,jsonpath,jsonpath-as-json,name,wide,yaml", format)
}

// newTabWriter aligns columns as kubectl's table printers do (its printers.GetNewTabWriter).
func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 10, 4, 3, ' ', 0)
}

// validOutput reports whether get knows output format o.
func validOutput(o string) bool {
	switch o {
	case "", "wide", "yaml", "json", "name":
		return true
	}
	return strings.HasPrefix(o, "jsonpath=") || strings.HasPrefix(o, "jsonpath-as-json=")
}

// Table is a meta.k8s.io/v1 Table as received from the server.
type Table struct {
	Kind              string            `json:"kind"`
	APIVersion        string            `json:"apiVersion"`
	Metadata          map[string]any    `json:"metadata"`
	ColumnDefinitions []printers.Column `json:"columnDefinitions"`
	Rows              []TableRow        `json:"rows"`
}

type TableRow struct {
	Cells  []any          `json:"cells"`
	Object map[string]any `json:"object,omitempty"`
}

func decodeTable(data []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t := &Table{}
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("decode table: %w", err)
	}
	if t.Kind != "Table" {
		return nil, fmt.Errorf("the server did not answer with a Table but a %q", t.Kind)
	}
	return t, nil
}

// tableOptions say how a Table becomes text.
type tableOptions struct {
	wide          bool
	noHeaders     bool
	withNamespace bool
	showLabels    bool
	kindPrefix    string // "deployment.apps/" when several kinds are printed
	labelColumns  []string
}

// textTable is rows of cells padded like kubectl's tabwriter (min width 6, padding 3). Widths
// are remembered across writes, as kubectl's watch output does.
type textTable struct {
	widths []int
}

func (t *textTable) write(w io.Writer, rows [][]string) {
	for _, r := range rows {
		for i, c := range r {
			if i >= len(t.widths) {
				t.widths = append(t.widths, 0)
			}
			if n := utf8.RuneCountInString(c) + 3; n > t.widths[i] {
				t.widths[i] = max(n, 6)
			}
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteString("\n")
	}
	_, _ = io.WriteString(w, b.String())
}

// tableRows renders t's header (unless noHeaders) and rows as cells.
func tableRows(t *Table, o tableOptions) [][]string {
	var cols []int
	ageCols := map[int]bool{}
	for i, c := range t.ColumnDefinitions {
		if c.Priority == 0 || o.wide {
			cols = append(cols, i)
		}
		switch c.Name {
		case "Age", "Last Seen", "First Seen":
			ageCols[i] = true
		}
	}
	var out [][]string
	if !o.noHeaders {
		var h []string
		if o.withNamespace {
			h = append(h, "NAMESPACE")
		}
		for _, i := range cols {
			h = append(h, strings.ToUpper(t.ColumnDefinitions[i].Name))
		}
		for _, l := range o.labelColumns {
			h = append(h, strings.ToUpper(l[strings.LastIndex(l, "/")+1:]))
		}
		if o.showLabels {
			h = append(h, "LABELS")
		}
		out = append(out, h)
	}
	fake := os.Getenv(testAgeEnv)
	for _, r := range t.Rows {
		var line []string
		if o.withNamespace {
			line = append(line, nestedString(r.Object, "metadata", "namespace"))
		}
		for _, i := range cols {
			var s string
			if i < len(r.Cells) {
				s = cellString(r.Cells[i])
			}
			if ageCols[i] && fake != "" && s != "<unknown>" {
				s = fake
			}
			if t.ColumnDefinitions[i].Format == "name" && o.kindPrefix != "" {
				s = o.kindPrefix + s
			}
			line = append(line, s)
		}
		labels := nestedStringMap(r.Object, "metadata", "labels")
		for _, l := range o.labelColumns {
			line = append(line, labels[l])
		}
		if o.showLabels {
			line = append(line, labelsString(labels))
		}
		out = append(out, line)
	}
	return out
}

func cellString(c any) string {
	switch v := c.(type) {
	case nil:
		return "<none>"
	case string:
		return v
	}
	return fmt.Sprint(c)
}

// sortRows orders a Table's rows by a jsonpath on each row's object.
func sortRows(t *Table, expr string) error {
	jp, err := ParseJSONPath(fixSortExpr(expr))
	if err != nil {
		return fmt.Errorf("couldn't parse sort-by %q: %v", expr, err)
	}
	keys := make([]any, len(t.Rows))
	for i, r := range t.Rows {
		vals, _ := jp.Values(r.Object)
		if len(vals) > 0 {
			keys[i] = vals[0]
		}
	}
	idx := make([]int, len(t.Rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return lessValue(keys[idx[a]], keys[idx[b]]) })
	rows := make([]TableRow, len(t.Rows))
	for i, j := range idx {
		rows[i] = t.Rows[j]
	}
	t.Rows = rows
	return nil
}

// fixSortExpr accepts ".spec.replicas", "spec.replicas" and "{.spec.replicas}".
func fixSortExpr(e string) string {
	if strings.HasPrefix(e, "{") {
		return e
	}
	if !strings.HasPrefix(e, ".") {
		e = "." + e
	}
	return "{" + e + "}"
}

func lessValue(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b != nil
	}
	an, aok := a.(json.Number)
	bn, bok := b.(json.Number)
	if aok && bok {
		af, _ := an.Float64()
		bf, _ := bn.Float64()
		return af < bf
	}
	return fmt.Sprint(a) < fmt.Sprint(b)
}
