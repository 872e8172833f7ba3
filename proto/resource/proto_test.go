package resource

import (
	"errors"
	"strings"
	"testing"

	metav1 "kubelab.io/proto/api/meta/v1"
)

func TestProto(t *testing.T) {
	tests := []struct{ in, want string }{
		{"100m", "100m"},
		{"0.5", "500m"},
		{"1024Mi", "1Gi"},
		{"1.5Gi", "1536Mi"},
		{"1e3", "1e3"},
		{"-2", "-2"},
		{"0", "0"},
	}
	for _, tc := range tests {
		q, err := FromProto(&metav1.Quantity{String_: tc.in})
		if err != nil {
			t.Errorf("FromProto(%q): %v", tc.in, err)
			continue
		}
		if q.Cmp(MustParse(tc.in)) != 0 {
			t.Errorf("FromProto(%q) = %s", tc.in, q)
		}
		if got := q.Proto().GetString_(); got != tc.want {
			t.Errorf("FromProto(%q).Proto() = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, p := range []*metav1.Quantity{nil, {}, {String_: "1 "}} {
		if _, err := FromProto(p); !errors.Is(err, ErrFormatWrong) {
			t.Errorf("FromProto(%v) = %v, want ErrFormatWrong", p, err)
		}
	}
	if _, err := FromProto(&metav1.Quantity{String_: "1ki"}); !errors.Is(err, ErrSuffix) {
		t.Errorf("FromProto(1ki) = %v, want ErrSuffix", err)
	}
}

func TestList(t *testing.T) {
	l, err := ParseList(map[string]*metav1.Quantity{
		"cpu":    {String_: "500m"},
		"memory": {String_: "1Gi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l["cpu"].MilliValue() != 500 || l["memory"].Value() != 1<<30 {
		t.Fatalf("ParseList = %v", l)
	}
	if l, err := ParseList(nil); l != nil || err != nil {
		t.Errorf("ParseList(nil) = %v, %v", l, err)
	}
	_, err = ParseList(map[string]*metav1.Quantity{
		"cpu":    {String_: "1"},
		"memory": {String_: "lots"},
		"pods":   {String_: "x"},
	})
	if !errors.Is(err, ErrFormatWrong) || !strings.HasPrefix(err.Error(), `resource "memory": quantities must match`) {
		t.Errorf("ParseList(bad) = %v", err)
	}

	other := List{"cpu": MustParse("1.5"), "nvidia.com/gpu": MustParse("1")}
	sum := l.Add(other)
	want := map[string]string{"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"}
	if len(sum) != len(want) {
		t.Errorf("Add = %v", sum)
	}
	for name, w := range want {
		if got := sum[name].String(); got != w {
			t.Errorf("Add[%s] = %s, want %s", name, got, w)
		}
	}
	if l["cpu"].String() != "500m" || len(l) != 2 || other["cpu"].String() != "1500m" {
		t.Errorf("Add modified its inputs: %v %v", l, other)
	}
	diff := l.Sub(other)
	want = map[string]string{"cpu": "-1", "memory": "1Gi", "nvidia.com/gpu": "-1"}
	for name, w := range want {
		if got := diff[name].String(); got != w {
			t.Errorf("Sub[%s] = %s, want %s", name, got, w)
		}
	}
	var total List
	for range 3 {
		total = total.Add(List{"memory": MustParse("4Gi")})
	}
	if total["memory"].String() != "12Gi" {
		t.Errorf("total = %v", total)
	}

	p := sum.Proto()
	if len(p) != 3 || p["cpu"].GetString_() != "2" || p["memory"].GetString_() != "1Gi" {
		t.Errorf("Proto = %v", p)
	}
	if List(nil).Proto() != nil {
		t.Error("nil List Proto")
	}
	back, err := ParseList(p)
	if err != nil || back["nvidia.com/gpu"].Cmp(MustParse("1")) != 0 {
		t.Errorf("round trip: %v %v", back, err)
	}
}
