package main

import "testing"

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{" type is Recreate or RollingUpdate.\n", "type is Recreate or RollingUpdate."},
		{" one\n two\n", "one two"},
		{" first paragraph\n\n   second\n paragraph \n", "first paragraph\n\nsecond paragraph"},
		{"\n \n", ""},
	} {
		if got := normalize(tc.in); got != tc.want {
			t.Errorf("normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
