package validation

import (
	"testing"

	"kubelab.io/proto/resource"
)

func TestParseQuantity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // the same value in plain decimal, "" for a syntax error
	}{
		{"0", "0"},
		{"1", "1"},
		{"100m", "0.1"},
		{"1.5", "1500m"},
		{".5", "500m"},
		{"5.", "5"},
		{"+2k", "2000"},
		{"-1", "-1"},
		{"1Ki", "1024"},
		{"1.5Gi", "1610612736"},
		{"128Mi", "134217728"},
		{"1M", "1000000"},
		{"2E", "2000000000000000000"},
		{"1e3", "1000"},
		{"1E3", "1000"},
		{"1e-3", "0.001"},
		{"250u", "0.00025"},
		{"3n", "0.000000003"},
		{"", ""},
		{"abc", ""},
		{"1 Gi", ""},
		{"1.2.3", ""},
		{".", "0"},     // as in Kubernetes
		{"0.1n", "1n"}, // finer than nano rounds up, as in Kubernetes
		{"1Qi", ""},
		{"1e", ""},
		{"1Kii", ""},
		{"1mi", ""},
		{"1-", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			q, msg := parseQuantity(tc.in)
			if tc.want == "" {
				if msg == "" {
					t.Fatalf("parseQuantity(%q) = %v, want an error", tc.in, q.value)
				}
				return
			}
			if msg != "" {
				t.Fatalf("parseQuantity(%q): %s", tc.in, msg)
			}
			want := resource.MustParse(tc.want)
			if q.value.Cmp(want) != 0 {
				t.Errorf("parseQuantity(%q) = %v, want %v", tc.in, q.value, want)
			}
		})
	}
}

func TestQuantityOrder(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1", "1000m", 0},
		{"1Gi", "1073741824", 0},
		{"1Gi", "1G", 1},
		{"500m", "0.5", 0},
		{"1e3", "1k", 0},
		{"2", "1", 1},
		{"100Mi", "1Gi", -1},
	} {
		a, _ := parseQuantity(tc.a)
		b, _ := parseQuantity(tc.b)
		if got := a.cmp(b); got != tc.want {
			t.Errorf("cmp(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
