package labels

import "testing"

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "x", "!x", "x=a", "x==a", "x!=a", "x=", "x>1", "x<-1", "x>007",
		"x in (a,b)", "x notin ()", "x in (,a)", "x in (a,)", "x in (a,,b)", "x in (,,,)", "x in (a,,)",
		"in in (notin)", "notin notin (in),in=notin", "z=a,y,x in (c),!w", "x=b,x=a",
		"example.com/app=web", "a/b/c", "/a", "a/", "app: nginx", " x = a , y ", "x=a\t,\ny",
		"x,", ",x", "!", "!!x", "x y", "x in", "x in (", "x=(", "x===a", "x=a@b", "x\x00=a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
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
		assertSameSelector(t, sel, again)

		// Exercise the other methods; none may panic, and a selector must
		// behave the same after the round trip.
		reqs, _ := sel.Requirements()
		labels := map[string]string{}
		for _, r := range reqs {
			if vs := r.Values(); len(vs) > 0 {
				labels[r.Key()] = vs[0]
			} else {
				labels[r.Key()] = ""
			}
			sel.RequiresExactMatch(r.Key())
		}
		for _, l := range []map[string]string{nil, labels} {
			if sel.Matches(l) != again.Matches(l) {
				t.Fatalf("%q and %q disagree on %v", s, str, l)
			}
		}
		_ = sel.Empty()
	})
}
