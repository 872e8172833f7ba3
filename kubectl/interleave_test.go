package kubectl_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// Golden-file markers of cmp-interleaved: between {{interleave}} and {{end}}, sequences
// separated by {{with}}.
const (
	markInterleave = "{{interleave}}"
	markWith       = "{{with}}"
	markEnd        = "{{end}}"
)

// cmpInterleaved is the script command `cmp-interleaved stdout|stderr|FILE GOLDEN`: like cmp,
// for output that concurrent goroutines write. Lines outside an {{interleave}} block must
// match in order, as with cmp. A block stands for several sequences of lines, separated by
// {{with}}: the output must hold, at that place, exactly those lines, each sequence in its
// own order, the sequences interleaved in any way. So
//
//	{{interleave}}
//	evicting pod default/a
//	pod/a evicted
//	{{with}}
//	evicting pod default/b
//	pod/b evicted
//	{{end}}
//
// accepts any order in which a's lines keep theirs and b's theirs, and nothing else.
func cmpInterleaved(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmp-interleaved stdout|stderr|FILE GOLDEN")
	}
	got := ts.ReadFile(args[0]) // stdout and stderr are the last command's
	if err := matchInterleaved(ts.ReadFile(args[1]), got); err != nil {
		ts.Fatalf("%s does not match %s: %v\n%s", args[0], args[1], err, got)
	}
}

// matchInterleaved checks got against golden as cmp-interleaved describes.
func matchInterleaved(golden, got string) error {
	lines := splitLines(got)
	pos := 0
	var block [][]string // the sequences of the open block; nil outside one
	for i, g := range splitLines(golden) {
		switch {
		case g == markInterleave:
			if block != nil {
				return fmt.Errorf("golden line %d: %s inside a block", i+1, markInterleave)
			}
			block = [][]string{{}}
		case g == markWith && block != nil:
			block = append(block, []string{})
		case g == markEnd && block != nil:
			n := 0
			for _, s := range block {
				n += len(s)
			}
			if pos+n > len(lines) || !isInterleaving(lines[pos:pos+n], block) {
				end := min(pos+n, len(lines))
				return fmt.Errorf("lines %d-%d %q are not an interleaving of %q", pos+1, end, lines[pos:end], block)
			}
			pos += n
			block = nil
		case g == markWith || g == markEnd:
			return fmt.Errorf("golden line %d: %s outside a block", i+1, g)
		case block != nil:
			block[len(block)-1] = append(block[len(block)-1], g)
		default:
			if pos >= len(lines) {
				return fmt.Errorf("line %d: missing, want %q", pos+1, g)
			}
			if lines[pos] != g {
				return fmt.Errorf("line %d: %q, want %q", pos+1, lines[pos], g)
			}
			pos++
		}
	}
	if block != nil {
		return fmt.Errorf("golden: %s without %s", markInterleave, markEnd)
	}
	if pos < len(lines) {
		return fmt.Errorf("line %d: %q, want no more", pos+1, lines[pos])
	}
	return nil
}

// isInterleaving reports whether lines is a merge of seqs that keeps each one's order. It
// tries every sequence whose next line matches, since sequences may share lines.
func isInterleaving(lines []string, seqs [][]string) bool {
	next := make([]int, len(seqs))
	var try func(i int) bool
	try = func(i int) bool {
		if i == len(lines) {
			return true
		}
		for s, seq := range seqs {
			if next[s] < len(seq) && seq[next[s]] == lines[i] {
				next[s]++
				ok := try(i + 1)
				next[s]--
				if ok {
					return true
				}
			}
		}
		return false
	}
	return try(0)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestMatchInterleaved(t *testing.T) {
	golden := "first\n{{interleave}}\nevict a\na evicted\n{{with}}\nevict b\nb evicted\n{{end}}\nlast\n"
	for _, tc := range []struct {
		got  string
		want bool
	}{
		{"first\nevict a\na evicted\nevict b\nb evicted\nlast\n", true},
		{"first\nevict a\nevict b\nb evicted\na evicted\nlast\n", true},
		{"first\nevict b\nevict a\na evicted\nb evicted\nlast\n", true},
		{"first\na evicted\nevict a\nevict b\nb evicted\nlast\n", false},    // a's order broken
		{"first\nevict a\nevict b\nb evicted\nlast\na evicted\n", false},    // a line left the block
		{"first\nevict a\na evicted\nevict b\nlast\n", false},               // a line missing
		{"first\nevict a\na evicted\nevict b\nb evicted\n", false},          // the last line missing
		{"first\nevict a\na evicted\nevict b\nb evicted\nlast\nx\n", false}, // a line too many
		{"evict a\nfirst\na evicted\nevict b\nb evicted\nlast\n", false},    // outside lines keep order
		{"first\nevict a\na evicted\nevict b\nb evicted\nevict a\nlast\n", false},
	} {
		if err := matchInterleaved(golden, tc.got); (err == nil) != tc.want {
			t.Errorf("matchInterleaved(%q) = %v, want match: %v", tc.got, err, tc.want)
		}
	}
	// Shared lines need backtracking: the first "x" must go to the second sequence here.
	if err := matchInterleaved("{{interleave}}\nx\ny\n{{with}}\nx\n{{end}}\n", "x\nx\ny\n"); err != nil {
		t.Errorf("shared lines: %v", err)
	}
	if err := matchInterleaved("{{interleave}}\nx\n{{with}}\nx\ny\n{{end}}\n", "x\ny\nx\n"); err != nil {
		t.Errorf("shared lines, second sequence first: %v", err)
	}
	for _, bad := range []string{"{{interleave}}\nx\n", "x\n{{end}}\n", "{{with}}\n", "{{interleave}}\n{{interleave}}\n{{end}}\n"} {
		if err := matchInterleaved(bad, "x\n"); err == nil {
			t.Errorf("golden %q accepted", bad)
		}
	}
}
