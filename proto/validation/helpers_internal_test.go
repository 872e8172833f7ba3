package validation

import (
	"regexp"
	"testing"
)

// TestEnvVarNameMatcher checks matchesEnvVarName against envVarNameFmt compiled as a regexp,
// on every string of up to 5 characters over the characters the format treats differently.
func TestEnvVarNameMatcher(t *testing.T) {
	re := regexp.MustCompile("^" + envVarNameFmt + "$")
	var check func(s string)
	check = func(s string) {
		if got, want := matchesEnvVarName(s), re.MatchString(s); got != want {
			t.Fatalf("%q matched %v, want %v", s, got, want)
		}
		if len(s) == 5 {
			return
		}
		for _, c := range "aZ0-._/ " {
			check(s + string(c))
		}
	}
	check("")
}
