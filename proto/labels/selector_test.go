package labels

import (
	"errors"
	"slices"
	"strings"
	"testing"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// Kubernetes' validation messages, spelled out once.
const (
	nameRegexMsg  = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
	valueRegexMsg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
	subdomainMsg  = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
	dnsLabelMsg   = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
	qnameMsg      = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
)

func TestParseString(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"blank", " \t\r\n ", ""},
		{"equals", "x=a", "x=a"},
		{"double equals", "x==a", "x==a"},
		{"not equals", "x!=a", "x!=a"},
		{"empty value", "x=", "x="},
		{"empty value double equals", "x==", "x=="},
		{"whitespace", "  x  =  a  ,  y  ", "x=a,y"},
		{"tabs and newlines", "x=a\t,\ny", "x=a,y"},
		{"in sorted", "x in (b,a)", "x in (a,b)"},
		{"in deduped", "x in (b, a, b)", "x in (a,b)"},
		{"notin", "x notin (a)", "x notin (a)"},
		{"in no space", "x in(a)", "x in (a)"},
		{"in empty set", "x in ()", "x in ()"},
		{"in leading empty", "x in (,a)", "x in (,a)"},
		{"in trailing empty", "x in (a,)", "x in (,a)"},
		{"in double comma", "x in (a,,b)", "x in (,a,b)"},
		{"in triple comma", "x in (,,,)", "x in ()"},
		{"kubernetes doc example", "x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"},
		{"exists", "x", "x"},
		{"does not exist", "!x", "!x"},
		{"does not exist spaced", " ! x ", "!x"},
		{"gt", "x>1", "x>1"},
		{"lt", "x < 10", "x<10"},
		{"gt leading zero", "x>007", "x>007"},
		{"sorted by key", "z=a,y,x in (c),!w", "!w,x in (c),y,z=a"},
		{"duplicate keys keep order", "x=b,x=a", "x=b,x=a"},
		{"prefixed key", "example.com/app=web", "example.com/app=web"},
		{"mixed case key and value", "a.b-c/D_e.f=G-h_i.J", "a.b-c/D_e.f=G-h_i.J"},
		{"keyword keys and values", "in in (notin)", "in in (notin)"},
		{"notin keyword key", "notin notin (in),in=notin", "in=notin,notin notin (in)"},
		{"exists keyword key", "in,!notin", "in,!notin"},
		{"63 char name and value", long63 + "=" + long63, long63 + "=" + long63},
		{"253 char prefix", strings.Repeat("a", 253) + "/x", strings.Repeat("a", 253) + "/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if got := sel.String(); got != tt.want {
				t.Fatalf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			again, err := Parse(sel.String())
			if err != nil {
				t.Fatalf("reparse of %q: %v", sel.String(), err)
			}
			assertSameSelector(t, sel, again)
		})
	}
}

func TestParseErrors(t *testing.T) {
	const upr = "unable to parse requirement: "
	tests := []struct {
		name, in, want string
	}{
		{"trailing identifier", "x=a b", "found 'b', expected: ',' or 'end of string'"},
		{"trailing comma", "x,", "found '', expected: identifier after ','"},
		{"comma then operator", "x,=a", "found '=', expected: identifier after ','"},
		{"leading comma", ",x", "found ',', expected: !, identifier, or 'end of string'"},
		{"leading operator", "=a", "found '=', expected: !, identifier, or 'end of string'"},
		{"leading not equals", "!=a", "found '!=', expected: !, identifier, or 'end of string'"},
		{"not with value", "!x=a", "found '=', expected: ',' or 'end of string'"},
		{"lone not", "!", upr + "found '', expected: identifier"},
		{"double not", "!!x", upr + "found '!', expected: identifier"},
		{"missing operator", "x y", upr + "found 'y', expected: in, notin, =, ==, !=, gt, lt"},
		{"bang operator", "x!y", upr + "found '!', expected: in, notin, =, ==, !=, gt, lt"},
		{"in without parens", "x in a", upr + "found 'a' expected: '('"},
		{"in at end", "x in", upr + "found '' expected: '('"},
		{"in unterminated", "x in (a", upr + "found '', expected: ',' or ')'"},
		{"in missing comma", "x in (a b)", upr + "found 'b', expected: ',' or ')'"},
		{"in operator first", "x in (=)", upr + "found '=', expected: ',', ')' or identifier"},
		{"in open at end", "x in (", upr + "found '', expected: ',', ')' or identifier"},
		{"in operator after comma", "x in (a,=)", upr + "found '=', expected: ',', or identifier"},
		{"in comma at end", "x in (a,", upr + "found '', expected: ',', or identifier"},
		{"in a,, quirk", "x in (a,,)", upr + "found ')', expected: ',', or identifier"},
		{"in ,, quirk", "x in (,,)", upr + "found ')', expected: ',', or identifier"},
		{"equals paren", "x=(", upr + "found '(', expected: identifier"},
		{"triple equals", "x===a", upr + "found '=', expected: identifier"},
		{"gt non integer", "x>a", upr + `values[0]: Invalid value: "a": for 'Gt', 'Lt' operators, the value must be an integer`},
		{"gt empty", "x>", upr + `values[0]: Invalid value: "": for 'Gt', 'Lt' operators, the value must be an integer`},
		{"lt overflow", "x<99999999999999999999", upr + `values[0]: Invalid value: "99999999999999999999": for 'Gt', 'Lt' operators, the value must be an integer`},
		{"gt negative is not a label value", "x>-1", upr + `values[0][x]: Invalid value: "-1": ` + valueRegexMsg},
		{"bad value", "x=a@b", upr + `values[0][x]: Invalid value: "a@b": ` + valueRegexMsg},
		{"bad set value", "x in (ok,b@d)", upr + `values[0][x]: Invalid value: "b@d": ` + valueRegexMsg},
		{"long value", "x=" + strings.Repeat("v", 64), upr + `values[0][x]: Invalid value: "` + strings.Repeat("v", 64) + `": must be no more than 63 characters`},
		{"bad key", "app: nginx", upr + `<nil>: Invalid value: "app:": ` + nameRegexMsg},
		{"bad key exists", "*bar", upr + `<nil>: Invalid value: "*bar": ` + nameRegexMsg},
		{"bad key not", "!a@", upr + `<nil>: Invalid value: "a@": ` + nameRegexMsg},
		{"two slashes", "a/b/c=d", upr + `<nil>: Invalid value: "a/b/c": ` + qnameMsg},
		{"empty prefix", "/a", upr + `<nil>: Invalid value: "/a": prefix part must be non-empty`},
		{"empty name", "a/", upr + `<nil>: Invalid value: "a/": name part must be non-empty; ` + nameRegexMsg},
		{"bad prefix", "app.kubernetes_io/name=x", upr + `<nil>: Invalid value: "app.kubernetes_io/name": prefix part ` + subdomainMsg},
		{"long name", strings.Repeat("k", 64), upr + `<nil>: Invalid value: "` + strings.Repeat("k", 64) + `": name part must be no more than 63 characters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want error", tt.in, sel)
			}
			if err.Error() != tt.want {
				t.Fatalf("Parse(%q) error:\n got: %s\nwant: %s", tt.in, err, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	type L = map[string]string
	tests := []struct {
		sel    string
		labels L
		want   bool
	}{
		{"", nil, true},
		{"", L{"a": "b"}, true},
		{"x=a", L{"x": "a"}, true},
		{"x==a", L{"x": "a", "y": "b"}, true},
		{"x=a", L{"x": "b"}, false},
		{"x=a", nil, false},
		{"x=", L{"x": ""}, true},
		{"x=", nil, false},
		{"x!=a", nil, true},
		{"x!=a", L{"x": "a"}, false},
		{"x!=a", L{"x": "b"}, true},
		{"x in (a,b)", L{"x": "b"}, true},
		{"x in (a,b)", L{"x": "c"}, false},
		{"x in (a,b)", nil, false},
		{"x in ()", L{"x": ""}, true},
		{"x in (,a)", L{"x": ""}, true},
		{"x notin (a,b)", nil, true},
		{"x notin (a,b)", L{"x": "a"}, false},
		{"x notin (a,b)", L{"x": "c"}, true},
		{"x", L{"x": ""}, true},
		{"x", L{"y": "x"}, false},
		{"!x", nil, true},
		{"!x", L{"x": ""}, false},
		{"x>5", L{"x": "6"}, true},
		{"x>5", L{"x": "5"}, false},
		{"x>5", L{"x": "abc"}, false},
		{"x>5", nil, false},
		{"x<5", L{"x": "-3"}, true},
		{"x<5", L{"x": "5"}, false},
		{"x>007", L{"x": "8"}, true},
		{"x=a,y", L{"x": "a", "y": ""}, true},
		{"x=a,y", L{"x": "a"}, false},
		{"x=a,x=b", L{"x": "a"}, false},
		{"app=web,tier in (fe,be),!canary", L{"app": "web", "tier": "be"}, true},
		{"app=web,tier in (fe,be),!canary", L{"app": "web", "tier": "be", "canary": "true"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			sel, err := Parse(tt.sel)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.sel, err)
			}
			if got := sel.Matches(tt.labels); got != tt.want {
				t.Fatalf("Parse(%q).Matches(%v) = %v, want %v", tt.sel, tt.labels, got, tt.want)
			}
		})
	}
}

func TestEverythingNothing(t *testing.T) {
	tests := []struct {
		name      string
		sel       Selector
		empty     bool
		matches   bool
		selectble bool
	}{
		{"Everything", Everything(), true, true, true},
		{"Nothing", Nothing(), false, false, false},
		{"Parse empty", mustParse(t, ""), true, true, true},
		{"SelectorFromSet nil", SelectorFromSet(nil), true, true, true},
		{"Parse exists", mustParse(t, "a"), false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sel.Empty(); got != tt.empty {
				t.Errorf("Empty() = %v, want %v", got, tt.empty)
			}
			if got := tt.sel.Matches(map[string]string{"a": "b"}); got != tt.matches {
				t.Errorf("Matches() = %v, want %v", got, tt.matches)
			}
			if _, got := tt.sel.Requirements(); got != tt.selectble {
				t.Errorf("Requirements() selectable = %v, want %v", got, tt.selectble)
			}
			if tt.name == "Nothing" && tt.sel.String() != "" {
				t.Errorf("Nothing().String() = %q", tt.sel.String())
			}
		})
	}
	if got := Nothing().Add(Requirement{key: "a", operator: Exists}); got.Matches(map[string]string{"a": ""}) {
		t.Errorf("Nothing().Add(...) matches")
	}
}

func TestRequirements(t *testing.T) {
	sel := mustParse(t, "b in (y,x,y),a,!c,d>3")
	reqs, ok := sel.Requirements()
	if !ok {
		t.Fatal("not selectable")
	}
	type flat struct {
		key  string
		op   Operator
		vals []string
	}
	// Sorted by key: a, b, c, d.
	want := []flat{{"a", Exists, nil}, {"b", In, []string{"x", "y"}}, {"c", DoesNotExist, nil}, {"d", GreaterThan, []string{"3"}}}
	if len(reqs) != len(want) {
		t.Fatalf("got %d requirements, want %d", len(reqs), len(want))
	}
	for i, w := range want {
		t.Run(w.key, func(t *testing.T) {
			r := reqs[i]
			if r.Key() != w.key || r.Operator() != w.op || !slices.Equal(r.Values(), w.vals) {
				t.Fatalf("got %s %s %v, want %s %s %v", r.Key(), r.Operator(), r.Values(), w.key, w.op, w.vals)
			}
		})
	}
	// The returned slice is a copy.
	reqs[0] = reqs[1]
	if again, _ := sel.Requirements(); again[0].Key() != "a" {
		t.Fatal("Requirements() exposes internal state")
	}
}

func TestRequiresExactMatch(t *testing.T) {
	tests := []struct {
		sel, label, want string
		found            bool
	}{
		{"x=a", "x", "a", true},
		{"x==a", "x", "a", true},
		{"x in (a)", "x", "a", true},
		{"x in (a,b)", "x", "", false},
		{"x!=a", "x", "", false},
		{"x", "x", "", false},
		{"y=a,x=b", "x", "b", true},
		{"y=a", "x", "", false},
		{"", "x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.sel+"/"+tt.label, func(t *testing.T) {
			v, ok := mustParse(t, tt.sel).RequiresExactMatch(tt.label)
			if v != tt.want || ok != tt.found {
				t.Fatalf("got (%q, %v), want (%q, %v)", v, ok, tt.want, tt.found)
			}
		})
	}
}

func TestNewRequirement(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		op      Operator
		vals    []string
		wantStr string
		wantErr string
	}{
		{"in", "x", In, []string{"b", "a"}, "x in (a,b)", ""},
		{"equals", "x", Equals, []string{"a"}, "x=a", ""},
		{"exists", "x", Exists, nil, "x", ""},
		{"lt", "x", LessThan, []string{"4"}, "x<4", ""},
		{"in empty", "x", In, nil, "", "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"},
		{"notin empty slice", "x", NotIn, []string{}, "", "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"},
		{"equals two", "x", Equals, []string{"a", "b"}, "", `values: Invalid value: ["a","b"]: exact-match compatibility requires one single value`},
		{"exists with value", "x", Exists, []string{"a"}, "", `values: Invalid value: ["a"]: values set must be empty for exists and does not exist`},
		{"gt two", "x", GreaterThan, []string{"1", "2"}, "", `values: Invalid value: ["1","2"]: for 'Gt', 'Lt' operators, exactly one value is required`},
		{"bad operator", "x", "~", nil, "", `operator: Unsupported value: "~": supported values: "in", "notin", "=", "==", "!=", "gt", "lt", "exists", "!"`},
		{"bad key", "a b", Exists, nil, "", `key: Invalid value: "a b": ` + nameRegexMsg},
		{"several errors", "a b", In, []string{"ok", "n o"}, "",
			`[key: Invalid value: "a b": ` + nameRegexMsg + `, values[1][a b]: Invalid value: "n o": ` + valueRegexMsg + `]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRequirement(tt.key, tt.op, tt.vals)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n got: %v\nwant: %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tt.wantStr {
				t.Fatalf("String() = %q, want %q", r.String(), tt.wantStr)
			}
		})
	}
	// Aggregated errors expose their parts.
	_, err := NewRequirement("a b", In, nil)
	var parts interface{ Unwrap() []error }
	if !errors.As(err, &parts) || len(parts.Unwrap()) != 2 {
		t.Fatalf("want 2 wrapped errors, got %v", err)
	}
}

func TestAdd(t *testing.T) {
	r1, _ := NewRequirement("b", Exists, nil)
	r2, _ := NewRequirement("a", Equals, []string{"1"})
	base := Everything()
	sel := base.Add(*r1, *r2)
	if got := sel.String(); got != "a=1,b" {
		t.Fatalf("Add: String() = %q", got)
	}
	if !base.Empty() {
		t.Fatal("Add mutated the receiver")
	}
}

func TestSelectorFromSet(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		want  string
		match map[string]string
	}{
		{"nil", nil, "", nil},
		{"empty", map[string]string{}, "", nil},
		{"sorted", map[string]string{"b": "2", "a": "1"}, "a=1,b=2", map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"empty value", map[string]string{"a": ""}, "a=", map[string]string{"a": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel := SelectorFromSet(tt.set)
			if sel.String() != tt.want {
				t.Fatalf("String() = %q, want %q", sel.String(), tt.want)
			}
			if !sel.Matches(tt.match) {
				t.Fatalf("does not match %v", tt.match)
			}
			vsel, err := ValidatedSelectorFromSet(tt.set)
			if err != nil || vsel.String() != tt.want {
				t.Fatalf("ValidatedSelectorFromSet = %v, %v", vsel, err)
			}
		})
	}
	if _, err := ValidatedSelectorFromSet(map[string]string{"ok": "a b"}); err == nil ||
		err.Error() != `values[0][ok]: Invalid value: "a b": `+valueRegexMsg {
		t.Fatalf("ValidatedSelectorFromSet error = %v", err)
	}
	if sel := SelectorFromSet(map[string]string{"a": "1"}); sel.Matches(map[string]string{"a": "2"}) {
		t.Fatal("matched a wrong value")
	}
}

func TestFromLabelSelector(t *testing.T) {
	type L = map[string]string
	req := func(key, op string, vals ...string) *metav1.LabelSelectorRequirement {
		return &metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: vals}
	}
	tests := []struct {
		name    string
		in      *metav1.LabelSelector
		want    string
		wantErr string
		empty   bool
		match   []L
		noMatch []L
	}{
		{name: "nil selects nothing", in: nil, want: "", noMatch: []L{nil, {"a": "b"}}},
		{name: "empty selects everything", in: &metav1.LabelSelector{}, want: "", empty: true, match: []L{nil, {"a": "b"}}},
		{name: "empty map and slice", in: &metav1.LabelSelector{MatchLabels: L{}, MatchExpressions: []*metav1.LabelSelectorRequirement{}}, want: "", empty: true, match: []L{nil}},
		{
			name:    "match labels",
			in:      &metav1.LabelSelector{MatchLabels: L{"b": "2", "a": "1"}},
			want:    "a=1,b=2",
			match:   []L{{"a": "1", "b": "2", "c": "3"}},
			noMatch: []L{{"a": "1"}, nil},
		},
		{
			name: "all operators",
			in: &metav1.LabelSelector{
				MatchLabels: L{"app": "web"},
				MatchExpressions: []*metav1.LabelSelectorRequirement{
					req("tier", "In", "fe", "be"),
					req("env", "NotIn", "prod"),
					req("release", "Exists"),
					req("canary", "DoesNotExist"),
				},
			},
			want:    "app=web,!canary,env notin (prod),release,tier in (be,fe)",
			match:   []L{{"app": "web", "tier": "fe", "release": "1"}, {"app": "web", "tier": "be", "release": "", "env": "dev"}},
			noMatch: []L{{"app": "web", "tier": "fe"}, {"app": "web", "tier": "fe", "release": "1", "canary": "y"}, {"app": "web", "tier": "fe", "release": "1", "env": "prod"}},
		},
		{
			name:  "expressions only",
			in:    &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{req("a", "Exists")}},
			want:  "a",
			match: []L{{"a": ""}},
		},
		{
			name:    "in without values",
			in:      &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{req("a", "In")}},
			wantErr: "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
		},
		{
			name:    "notin without values",
			in:      &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "a", Operator: "NotIn", Values: []string{}}}},
			wantErr: "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
		},
		{
			name:    "exists with values",
			in:      &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{req("a", "Exists", "x")}},
			wantErr: `values: Invalid value: ["x"]: values set must be empty for exists and does not exist`,
		},
		{
			name:    "does not exist with values",
			in:      &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{req("a", "DoesNotExist", "x", "y")}},
			wantErr: `values: Invalid value: ["x","y"]: values set must be empty for exists and does not exist`,
		},
		{
			name:    "unknown operator",
			in:      &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{req("a", "Gt", "1")}},
			wantErr: `"Gt" is not a valid label selector operator`,
		},
		{
			name:    "lower-case operator",
			in:      &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{req("a", "in", "1")}},
			wantErr: `"in" is not a valid label selector operator`,
		},
		{
			name:    "nil expression",
			in:      &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{nil}},
			wantErr: `"" is not a valid label selector operator`,
		},
		{
			name:    "bad expression key",
			in:      &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{req("a b", "Exists")}},
			wantErr: `key: Invalid value: "a b": ` + nameRegexMsg,
		},
		{
			name:    "bad match label value",
			in:      &metav1.LabelSelector{MatchLabels: L{"app": "a b"}},
			wantErr: `values[0][app]: Invalid value: "a b": ` + valueRegexMsg,
		},
		{
			name:    "bad match label key, first in key order",
			in:      &metav1.LabelSelector{MatchLabels: L{"z@": "1", "b@": "1"}},
			wantErr: `key: Invalid value: "b@": ` + nameRegexMsg,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := FromLabelSelector(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n got: %v\nwant: %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sel.String() != tt.want {
				t.Fatalf("String() = %q, want %q", sel.String(), tt.want)
			}
			if sel.Empty() != tt.empty {
				t.Fatalf("Empty() = %v, want %v", sel.Empty(), tt.empty)
			}
			for _, l := range tt.match {
				if !sel.Matches(l) {
					t.Errorf("does not match %v", l)
				}
			}
			for _, l := range tt.noMatch {
				if sel.Matches(l) {
					t.Errorf("matches %v", l)
				}
			}
			if tt.in != nil {
				// The string form parses back to the same selector.
				again, err := Parse(sel.String())
				if err != nil {
					t.Fatalf("Parse(%q): %v", sel.String(), err)
				}
				if again.String() != sel.String() {
					t.Fatalf("reparse String() = %q, want %q", again.String(), sel.String())
				}
			}
		})
	}
	// A nil selector is not selectable at all.
	sel, _ := FromLabelSelector(nil)
	if _, ok := sel.Requirements(); ok {
		t.Fatal("nil selector is selectable")
	}
}

func mustParse(t *testing.T, s string) Selector {
	t.Helper()
	sel, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return sel
}

// assertSameSelector checks that two selectors have identical requirements
// in identical order and the same string form.
func assertSameSelector(t testing.TB, a, b Selector) {
	t.Helper()
	ra, oka := a.Requirements()
	rb, okb := b.Requirements()
	if oka != okb || len(ra) != len(rb) {
		t.Fatalf("selectors differ: %q (%d reqs) vs %q (%d reqs)", a, len(ra), b, len(rb))
	}
	for i := range ra {
		if !ra[i].Equal(rb[i]) {
			t.Fatalf("requirement %d differs: %q vs %q (in %q vs %q)", i, ra[i].String(), rb[i].String(), a, b)
		}
	}
	if a.String() != b.String() {
		t.Fatalf("String() differs: %q vs %q", a, b)
	}
}
