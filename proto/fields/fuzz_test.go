package fields

import (
	"slices"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", ",", "a", "a=b", "a==b", "a!=b", "a=", "a!=", "=x", "a!!=b", "b=2,a=1", " a = b ",
		`a=x\,y`, `a=x\=y`, `a=x\\y`, `a!=x\!y`, `a=b\`, `a=\q`, "a=b=c", "a===b", `a=b\,c=d`,
		`x\=\,`, `x\,y=1`, "metadata.name=héllo", "a=\xff", "a==z,a=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Escaping round-trips any string.
		if got, err := UnescapeValue(EscapeValue(s)); err != nil || got != s {
			t.Fatalf("UnescapeValue(EscapeValue(%q)) = %q, %v", s, got, err)
		}

		sel, err := Parse(s)
		if err != nil {
			if sel != nil {
				t.Fatalf("Parse(%q) returned a selector and an error", s)
			}
			return
		}
		str := sel.String()
		again, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse of its String() %q failed: %v", s, str, err)
		}
		if !slices.Equal(sel.Requirements(), again.Requirements()) {
			t.Fatalf("round trip of %q via %q: %+v != %+v", s, str, sel.Requirements(), again.Requirements())
		}
		if again.String() != str {
			t.Fatalf("String() not a fixed point: %q -> %q", str, again.String())
		}

		// Exercise the other methods; none may panic, and both selectors
		// must agree.
		fields := Fields{}
		for _, r := range sel.Requirements() {
			fields[r.Field] = r.Value
			v1, ok1 := sel.RequiresExactMatch(r.Field)
			v2, ok2 := again.RequiresExactMatch(r.Field)
			if v1 != v2 || ok1 != ok2 {
				t.Fatalf("RequiresExactMatch(%q) differs after round trip", r.Field)
			}
		}
		for _, fs := range []Fields{nil, fields} {
			if sel.Matches(fs) != again.Matches(fs) {
				t.Fatalf("%q and %q disagree on %v", s, str, fs)
			}
		}
		if sel.Empty() != again.Empty() {
			t.Fatalf("Empty() differs after round trip")
		}
	})
}
