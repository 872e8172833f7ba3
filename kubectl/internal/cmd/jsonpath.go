package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JSONPath is the subset of kubectl's JSONPath templates kubelab supports: literal text,
// {.field.path}, ['quoted'] keys, [*], [n] (negative from the end), [a:b], [?(@.f=="v")]
// filters, {range EXPR}…{end}, and {"string literals"}. Several results of one expression
// print separated by spaces; maps and lists print as JSON. Missing fields print nothing.
type JSONPath struct {
	nodes []jpNode
}

type jpNode struct {
	text  string   // literal text
	expr  []jpStep // a path
	isLit bool
	rng   *JSONPath // range body
}

type jpStep struct {
	kind   string // "field", "all", "index", "slice", "filter", "recursive"
	name   string
	index  int
	end    int
	hasEnd bool
	filter *jpFilter
}

type jpFilter struct {
	path  []jpStep
	op    string
	value string
}

// ParseJSONPath parses a template such as "{.items[*].metadata.name}".
func ParseJSONPath(tmpl string) (*JSONPath, error) {
	nodes, rest, err := parseNodes(tmpl, false)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected {end}")
	}
	return &JSONPath{nodes: nodes}, nil
}

func parseNodes(s string, inRange bool) ([]jpNode, string, error) {
	var nodes []jpNode
	for s != "" {
		i := strings.Index(s, "{")
		if i < 0 {
			nodes = append(nodes, jpNode{text: s, isLit: true})
			return nodes, "", nil
		}
		if i > 0 {
			nodes = append(nodes, jpNode{text: s[:i], isLit: true})
		}
		j := matchingBrace(s, i)
		if j < 0 {
			return nil, "", fmt.Errorf("unclosed action")
		}
		action := strings.TrimSpace(s[i+1 : j])
		s = s[j+1:]
		switch {
		case action == "end":
			if !inRange {
				return nil, "", fmt.Errorf("not in range, nothing to end")
			}
			return nodes, s, nil
		case strings.HasPrefix(action, "range "):
			steps, err := parsePath(strings.TrimSpace(strings.TrimPrefix(action, "range ")))
			if err != nil {
				return nil, "", err
			}
			body, rest, err := parseNodes(s, true)
			if err != nil {
				return nil, "", err
			}
			nodes = append(nodes, jpNode{expr: steps, rng: &JSONPath{nodes: body}})
			s = rest
		case strings.HasPrefix(action, `"`):
			lit, err := strconv.Unquote(action)
			if err != nil {
				return nil, "", fmt.Errorf("invalid string literal %s", action)
			}
			nodes = append(nodes, jpNode{text: lit, isLit: true})
		default:
			steps, err := parsePath(action)
			if err != nil {
				return nil, "", err
			}
			nodes = append(nodes, jpNode{expr: steps})
		}
	}
	if inRange {
		return nil, "", fmt.Errorf("range without end")
	}
	return nodes, "", nil
}

func matchingBrace(s string, i int) int {
	depth, inStr := 0, byte(0)
	for k := i; k < len(s); k++ {
		c := s[k]
		if inStr != 0 {
			if c == '\\' {
				k++
			} else if c == inStr {
				inStr = 0
			}
			continue
		}
		switch c {
		case '"', '\'':
			inStr = c
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return -1
}

func parsePath(p string) ([]jpStep, error) {
	p = strings.TrimPrefix(p, "$")
	p = strings.TrimPrefix(p, "@")
	var steps []jpStep
	for p != "" {
		switch {
		case strings.HasPrefix(p, ".."):
			p = p[2:]
			n := fieldEnd(p)
			steps = append(steps, jpStep{kind: "recursive", name: fieldName(p, n)})
			p = p[n:]
		case p[0] == '.':
			p = p[1:]
			n := fieldEnd(p)
			if n == 0 {
				continue
			}
			name := fieldName(p, n)
			p = p[n:]
			if name == "*" {
				steps = append(steps, jpStep{kind: "all"})
			} else {
				steps = append(steps, jpStep{kind: "field", name: name})
			}
		case p[0] == '[':
			end := strings.Index(p, "]")
			if strings.HasPrefix(p, "[?(") {
				end = strings.Index(p, ")]") + 1
			}
			if end <= 0 {
				return nil, fmt.Errorf("unterminated array")
			}
			inner := strings.TrimSpace(p[1:end])
			p = p[end+1:]
			st, err := parseBracket(inner)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st)
		default:
			n := fieldEnd(p)
			if n == 0 {
				return nil, fmt.Errorf("unrecognized character in action: %q", p[:1])
			}
			steps = append(steps, jpStep{kind: "field", name: fieldName(p, n)})
			p = p[n:]
		}
	}
	return steps, nil
}

// fieldEnd is where the field name at the start of p ends: at an unescaped '.' or '['. A
// backslash escapes the next character, as in kubectl's
// {.metadata.annotations.kubernetes\.io/change-cause}.
func fieldEnd(p string) int {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '.', '[':
			return i
		}
	}
	return len(p)
}

// fieldName is the field name p[:n] with its escaping backslashes removed.
func fieldName(p string, n int) string { return strings.ReplaceAll(p[:n], "\\", "") }

func parseBracket(inner string) (jpStep, error) {
	switch {
	case inner == "*":
		return jpStep{kind: "all"}, nil
	case strings.HasPrefix(inner, "'") || strings.HasPrefix(inner, `"`):
		return jpStep{kind: "field", name: strings.Trim(inner, `'"`)}, nil
	case strings.HasPrefix(inner, "?(") && strings.HasSuffix(inner, ")"):
		cond := strings.TrimSpace(inner[2 : len(inner)-1])
		for _, op := range []string{"==", "!="} {
			if i := strings.Index(cond, op); i > 0 {
				path, err := parsePath(strings.TrimSpace(cond[:i]))
				if err != nil {
					return jpStep{}, err
				}
				v := strings.TrimSpace(cond[i+2:])
				v = strings.Trim(v, `'"`)
				return jpStep{kind: "filter", filter: &jpFilter{path: path, op: op, value: v}}, nil
			}
		}
		path, err := parsePath(cond)
		if err != nil {
			return jpStep{}, err
		}
		return jpStep{kind: "filter", filter: &jpFilter{path: path}}, nil
	case strings.Contains(inner, ":"):
		parts := strings.SplitN(inner, ":", 2)
		st := jpStep{kind: "slice"}
		if parts[0] != "" {
			n, err := strconv.Atoi(parts[0])
			if err != nil {
				return jpStep{}, fmt.Errorf("invalid array index %q", inner)
			}
			st.index = n
		}
		if parts[1] != "" {
			n, err := strconv.Atoi(parts[1])
			if err != nil {
				return jpStep{}, fmt.Errorf("invalid array index %q", inner)
			}
			st.end, st.hasEnd = n, true
		}
		return st, nil
	}
	n, err := strconv.Atoi(inner)
	if err != nil {
		return jpStep{}, fmt.Errorf("invalid array index %q", inner)
	}
	return jpStep{kind: "index", index: n}, nil
}

func evalPath(steps []jpStep, in []any) []any {
	cur := in
	for _, st := range steps {
		var next []any
		for _, v := range cur {
			switch st.kind {
			case "field":
				if m, ok := v.(map[string]any); ok {
					if x, ok := m[st.name]; ok {
						next = append(next, x)
					}
				}
			case "all":
				switch t := v.(type) {
				case []any:
					next = append(next, t...)
				case map[string]any:
					for _, k := range sortedKeys(t) {
						next = append(next, t[k])
					}
				}
			case "index":
				if s, ok := v.([]any); ok {
					i := st.index
					if i < 0 {
						i += len(s)
					}
					if i >= 0 && i < len(s) {
						next = append(next, s[i])
					}
				}
			case "slice":
				if s, ok := v.([]any); ok {
					a, b := st.index, len(s)
					if st.hasEnd {
						b = st.end
					}
					if a < 0 {
						a += len(s)
					}
					if b < 0 {
						b += len(s)
					}
					a, b = max(0, min(a, len(s))), max(0, min(b, len(s)))
					if a < b {
						next = append(next, s[a:b]...)
					}
				}
			case "filter":
				if s, ok := v.([]any); ok {
					for _, item := range s {
						if st.filter.match(item) {
							next = append(next, item)
						}
					}
				}
			case "recursive":
				next = append(next, recursive(v, st.name)...)
			}
		}
		cur = next
	}
	return cur
}

func recursive(v any, name string) []any {
	var out []any
	switch t := v.(type) {
	case map[string]any:
		if x, ok := t[name]; ok {
			out = append(out, x)
		}
		for _, k := range sortedKeys(t) {
			out = append(out, recursive(t[k], name)...)
		}
	case []any:
		for _, x := range t {
			out = append(out, recursive(x, name)...)
		}
	}
	return out
}

func (f *jpFilter) match(item any) bool {
	vals := evalPath(f.path, []any{item})
	if f.op == "" {
		return len(vals) > 0
	}
	eq := len(vals) > 0 && scalarString(vals[0]) == f.value
	if f.op == "==" {
		return eq
	}
	return !eq
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	case map[string]any, []any:
		b, _ := json.Marshal(t)
		return string(b)
	}
	return fmt.Sprint(v)
}

// Values evaluates the template's expressions (outside ranges) on data.
func (jp *JSONPath) Values(data any) ([]any, error) {
	var out []any
	for _, n := range jp.nodes {
		if n.expr != nil && n.rng == nil {
			out = append(out, evalPath(n.expr, []any{data})...)
		}
	}
	return out, nil
}

// Execute writes the template applied to data.
func (jp *JSONPath) Execute(w io.Writer, data any) error {
	var b strings.Builder
	jp.exec(&b, data)
	_, err := io.WriteString(w, b.String())
	return err
}

func (jp *JSONPath) exec(b *strings.Builder, data any) {
	for _, n := range jp.nodes {
		switch {
		case n.isLit:
			b.WriteString(n.text)
		case n.rng != nil:
			for _, v := range evalPath(n.expr, []any{data}) {
				items := []any{v}
				if s, ok := v.([]any); ok && (len(n.expr) == 0 || n.expr[len(n.expr)-1].kind != "all") {
					items = s
				}
				for _, it := range items {
					n.rng.exec(b, it)
				}
			}
		default:
			vals := evalPath(n.expr, []any{data})
			for i, v := range vals {
				if i > 0 {
					b.WriteString(" ")
				}
				b.WriteString(scalarString(v))
			}
		}
	}
}
