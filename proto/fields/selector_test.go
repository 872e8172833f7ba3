package fields

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		reqs []Requirement
	}{
		{"empty", "", "", nil},
		{"only commas", ",,", "", nil},
		{"equals", "metadata.name=foo", "metadata.name=foo", []Requirement{{"metadata.name", Equals, "foo"}}},
		{"double equals normalised", "metadata.name==foo", "metadata.name=foo", []Requirement{{"metadata.name", Equals, "foo"}}},
		{"not equals", "spec.nodeName!=n1", "spec.nodeName!=n1", []Requirement{{"spec.nodeName", NotEquals, "n1"}}},
		{"empty value", "spec.nodeName=", "spec.nodeName=", []Requirement{{"spec.nodeName", Equals, ""}}},
		{"empty value not equals", "spec.nodeName!=", "spec.nodeName!=", []Requirement{{"spec.nodeName", NotEquals, ""}}},
		{"sorted", "b=2,a=1", "a=1,b=2", []Requirement{{"a", Equals, "1"}, {"b", Equals, "2"}}},
		{"empty terms skipped", "a=1,,b=2,", "a=1,b=2", []Requirement{{"a", Equals, "1"}, {"b", Equals, "2"}}},
		{"escaped comma", `a=x\,y`, `a=x\,y`, []Requirement{{"a", Equals, "x,y"}}},
		{"escaped equals", `a=x\=y`, `a=x\=y`, []Requirement{{"a", Equals, "x=y"}}},
		{"escaped backslash", `a=x\\y`, `a=x\\y`, []Requirement{{"a", Equals, `x\y`}}},
		{"escaped bang", `a!=x\!y`, `a!=x!y`, []Requirement{{"a", NotEquals, "x!y"}}},
		{"plain bang in value", "a=b!c", "a=b!c", []Requirement{{"a", Equals, "b!c"}}},
		{"leading bang in value", "a=!", "a=!", []Requirement{{"a", Equals, "!"}}},
		{"whitespace is significant", " a = b ", " a = b ", []Requirement{{" a ", Equals, " b "}}},
		{"bang in field", "a!!=b", "a!!=b", []Requirement{{"a!", NotEquals, "b"}}},
		{"empty field", "=x", "=x", []Requirement{{"", Equals, "x"}}},
		{"duplicates kept", "a=1,a=1", "a=1,a=1", []Requirement{{"a", Equals, "1"}, {"a", Equals, "1"}}},
		{"unicode", "metadata.name=héllo", "metadata.name=héllo", []Requirement{{"metadata.name", Equals, "héllo"}}},
		{"typical", "metadata.namespace=default,status.phase!=Running", "metadata.namespace=default,status.phase!=Running",
			[]Requirement{{"metadata.namespace", Equals, "default"}, {"status.phase", NotEquals, "Running"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := sel.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			if tt.reqs != nil && !slices.Equal(sel.Requirements(), tt.reqs) {
				t.Fatalf("Requirements() = %+v, want %+v", sel.Requirements(), tt.reqs)
			}
			if sel.Empty() != (len(sel.Requirements()) == 0) {
				t.Fatalf("Empty() = %v with %d requirements", sel.Empty(), len(sel.Requirements()))
			}
			again, err := Parse(sel.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", sel.String(), err)
			}
			if !slices.Equal(again.Requirements(), sel.Requirements()) {
				t.Fatalf("reparse gave %+v, want %+v", again.Requirements(), sel.Requirements())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no operator", "a", "invalid selector: 'a'; can't understand 'a'"},
		{"second term bad", "a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"},
		{"first sorted bad term reported", "z,y=1,b", "invalid selector: 'z,y=1,b'; can't understand 'b'"},
		{"lone bang", "a!b", "invalid selector: 'a!b'; can't understand 'a!b'"},
		{"trailing backslash", `a=b\`, `invalid field selector: invalid escape sequence: \`},
		{"unknown escape", `a=\q`, `invalid field selector: invalid escape sequence: \q`},
		{"unknown escape unicode", `a=\é`, `invalid field selector: invalid escape sequence: \é`},
		{"unescaped equals", "a=b=c", "invalid field selector: unescaped character in value: 61"},
		{"triple equals", "a===b", "invalid field selector: unescaped character in value: 61"},
		{"escaped comma joins terms", `a=b\,c=d`, "invalid field selector: unescaped character in value: 61"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want error", tt.in, sel)
			}
			if err.Error() != tt.want {
				t.Fatalf("error:\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	pod := Fields{"metadata.name": "web-0", "metadata.namespace": "default", "spec.nodeName": "n1"}
	pending := Fields{"metadata.name": "web-1", "metadata.namespace": "default"}
	tests := []struct {
		sel    string
		fields Fields
		want   bool
	}{
		{"", nil, true},
		{"", pod, true},
		{"metadata.name=web-0", pod, true},
		{"metadata.name==web-0", pod, true},
		{"metadata.name=web-1", pod, false},
		{"metadata.name!=web-1", pod, true},
		{"metadata.name!=web-0", pod, false},
		{"spec.nodeName=", pending, true},
		{"spec.nodeName=", pod, false},
		{"spec.nodeName!=", pending, false},
		{"spec.nodeName!=", pod, true},
		{"spec.nodeName=n1", nil, false},
		{"spec.nodeName!=n1", nil, true},
		{"metadata.namespace=default,spec.nodeName=n1", pod, true},
		{"metadata.namespace=default,spec.nodeName=n1", pending, false},
		{"metadata.namespace=default,metadata.name!=web-0", pending, true},
		{`metadata.name=a\,b`, Fields{"metadata.name": "a,b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			sel, err := Parse(tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Matches(tt.fields); got != tt.want {
				t.Fatalf("Matches(%v) = %v, want %v", tt.fields, got, tt.want)
			}
		})
	}
}

func TestRequiresExactMatch(t *testing.T) {
	tests := []struct {
		name  string
		sel   Selector
		field string
		want  string
		found bool
	}{
		{"equals", mustParse(t, "metadata.name=foo"), "metadata.name", "foo", true},
		{"double equals", mustParse(t, "metadata.name==foo"), "metadata.name", "foo", true},
		{"empty value", mustParse(t, "spec.nodeName="), "spec.nodeName", "", true},
		{"other field", mustParse(t, "metadata.name=foo"), "metadata.namespace", "", false},
		{"conjunction", mustParse(t, "metadata.namespace=ns,metadata.name=foo"), "metadata.name", "foo", true},
		{"not equals", mustParse(t, "metadata.name!=foo"), "metadata.name", "", false},
		{"not equals then equals", mustParse(t, "a!=x,a=y"), "a", "y", true},
		{"escaped", mustParse(t, `metadata.name=a\,b`), "metadata.name", "a,b", true},
		{"everything", Everything(), "metadata.name", "", false},
		{"nothing", Nothing(), "metadata.name", "", false},
		{"one term", OneTermEqualSelector("metadata.name", "x"), "metadata.name", "x", true},
		{"one term not equal", OneTermNotEqualSelector("metadata.name", "x"), "metadata.name", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := tt.sel.RequiresExactMatch(tt.field)
			if v != tt.want || ok != tt.found {
				t.Fatalf("got (%q, %v), want (%q, %v)", v, ok, tt.want, tt.found)
			}
		})
	}
}

func TestConstructors(t *testing.T) {
	tests := []struct {
		name    string
		sel     Selector
		str     string
		empty   bool
		match   Fields
		matches bool
	}{
		{"Everything", Everything(), "", true, Fields{"a": "b"}, true},
		{"Nothing", Nothing(), "", false, Fields{"a": "b"}, false},
		{"OneTermEqualSelector", OneTermEqualSelector("metadata.name", "a,b=c"), `metadata.name=a\,b\=c`, false, Fields{"metadata.name": "a,b=c"}, true},
		{"OneTermEqualSelector mismatch", OneTermEqualSelector("metadata.name", "x"), "metadata.name=x", false, Fields{"metadata.name": "y"}, false},
		{"OneTermNotEqualSelector", OneTermNotEqualSelector("spec.nodeName", ""), "spec.nodeName!=", false, Fields{"spec.nodeName": "n"}, true},
		{"SelectorFromSet", SelectorFromSet(map[string]string{"b": "2", "a": "1"}), "a=1,b=2", false, Fields{"a": "1", "b": "2"}, true},
		{"SelectorFromSet nil", SelectorFromSet(nil), "", true, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sel.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := tt.sel.Empty(); got != tt.empty {
				t.Errorf("Empty() = %v, want %v", got, tt.empty)
			}
			if got := tt.sel.Matches(tt.match); got != tt.matches {
				t.Errorf("Matches(%v) = %v, want %v", tt.match, got, tt.matches)
			}
			if tt.name != "Nothing" {
				again, err := Parse(tt.sel.String())
				if err != nil || !slices.Equal(again.Requirements(), tt.sel.Requirements()) {
					t.Errorf("Parse(String()) = %v, %v; want %+v", again, err, tt.sel.Requirements())
				}
			}
		})
	}
	if Nothing().Requirements() != nil {
		t.Error("Nothing().Requirements() != nil")
	}
	// Requirements returns a copy.
	sel := mustParse(t, "a=1")
	sel.Requirements()[0].Value = "changed"
	if sel.String() != "a=1" {
		t.Error("Requirements() exposes internal state")
	}
}

func TestEscaping(t *testing.T) {
	tests := []struct {
		name, raw, escaped string
	}{
		{"plain", "abc", "abc"},
		{"empty", "", ""},
		{"comma", "a,b", `a\,b`},
		{"equals", "a=b", `a\=b`},
		{"backslash", `a\b`, `a\\b`},
		{"bang not escaped", "a!b", "a!b"},
		{"all", `\,=!`, `\\\,\=!`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EscapeValue(tt.raw); got != tt.escaped {
				t.Fatalf("EscapeValue(%q) = %q, want %q", tt.raw, got, tt.escaped)
			}
			got, err := UnescapeValue(tt.escaped)
			if err != nil || got != tt.raw {
				t.Fatalf("UnescapeValue(%q) = %q, %v; want %q", tt.escaped, got, err, tt.raw)
			}
		})
	}
	if got, err := UnescapeValue(`\!`); err != nil || got != "!" {
		t.Fatalf(`UnescapeValue("\!") = %q, %v`, got, err)
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
