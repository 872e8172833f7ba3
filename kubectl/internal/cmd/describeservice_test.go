package cmd

import (
	"testing"
)

func TestEndpointSliceAddresses(t *testing.T) {
	slices := func(s string) []any { return nestedSlice(decode(t, `{"items":`+s+`}`), "items") }
	for _, tc := range []struct {
		name, slices, port, want string
	}{
		{"no slices", `[]`, "", "<none>"},
		{"a slice, nothing ready", `[{"ports":[{"name":"","port":80}],"endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":false}}]}]`, "", ""},
		{"ready or unknown, the named port", `[{"ports":[{"name":"a","port":80},{"name":"b","port":81}],"endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":true}},{"addresses":["10.0.0.2"]}]}]`, "b", "10.0.0.1:81,10.0.0.2:81"},
		{"three and more", `[{"ports":[{"name":"a","port":8080}],"endpoints":[{"addresses":["10.0.0.1"]},{"addresses":["10.0.0.2"],"conditions":{"ready":false}},{"addresses":["10.0.0.3"]},{"addresses":["10.0.0.4"]},{"addresses":["10.0.0.5"]}]},{"ports":[{"name":"a","port":8080}],"endpoints":[{"addresses":["fd00::1","fd00::2"]}]}]`, "a", "10.0.0.1:8080,10.0.0.3:8080,10.0.0.4:8080 + 2 more..."},
		{"IPv6 in brackets", `[{"ports":[{"name":"a","port":80}],"endpoints":[{"addresses":["fd00::1"]}]}]`, "a", "[fd00::1]:80"},
		{"headless slices give bare addresses", `[{"endpoints":[{"addresses":["10.1.0.1"]},{"addresses":["10.1.0.2"],"conditions":{"ready":false}}]},{"ports":[{"name":"","port":80}],"endpoints":[{"addresses":["10.1.0.3"]}]}]`, "", "10.1.0.1,10.1.0.3:80"},
		// kubectl counts "more" once three are listed, even when the rest are not ready.
		{"more of none", `[{"ports":[{"name":"","port":1}],"endpoints":[{"addresses":["a"]},{"addresses":["b"]},{"addresses":["c"]},{"addresses":["d"],"conditions":{"ready":false}}]}]`, "", "a:1,b:1,c:1 + 0 more..."},
	} {
		if got := endpointSliceAddresses(slices(tc.slices), tc.port); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
