package labels

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) []string
		in   string
		want []string
	}{
		// IsQualifiedName
		{"qname simple", IsQualifiedName, "app", nil},
		{"qname single char", IsQualifiedName, "a", nil},
		{"qname mixed", IsQualifiedName, "My_app.v-1", nil},
		{"qname prefixed", IsQualifiedName, "app.kubernetes.io/name", nil},
		{"qname 63", IsQualifiedName, strings.Repeat("a", 63), nil},
		{"qname 253 prefix", IsQualifiedName, strings.Repeat("a", 253) + "/b", nil},
		{"qname empty", IsQualifiedName, "", []string{"name part must be non-empty", nameRegexMsg}},
		{"qname 64", IsQualifiedName, strings.Repeat("a", 64), []string{"name part must be no more than 63 characters"}},
		{"qname leading dash", IsQualifiedName, "-a", []string{nameRegexMsg}},
		{"qname trailing dot", IsQualifiedName, "a.", []string{nameRegexMsg}},
		{"qname two slashes", IsQualifiedName, "a/b/c", []string{qnameMsg}},
		{"qname empty prefix", IsQualifiedName, "/a", []string{"prefix part must be non-empty"}},
		{"qname upper prefix", IsQualifiedName, "Example.com/a", []string{"prefix part " + subdomainMsg}},
		{"qname 254 prefix", IsQualifiedName, strings.Repeat("a", 254) + "/b", []string{"prefix part must be no more than 253 characters"}},
		{"qname bad prefix and name", IsQualifiedName, "a_b/", []string{"prefix part " + subdomainMsg, "name part must be non-empty", nameRegexMsg}},
		// IsValidLabelValue
		{"value empty", IsValidLabelValue, "", nil},
		{"value simple", IsValidLabelValue, "my_value-1.0", nil},
		{"value 63", IsValidLabelValue, strings.Repeat("v", 63), nil},
		{"value 64", IsValidLabelValue, strings.Repeat("v", 64), []string{"must be no more than 63 characters"}},
		{"value slash", IsValidLabelValue, "a/b", []string{valueRegexMsg}},
		{"value space", IsValidLabelValue, "a b", []string{valueRegexMsg}},
		{"value 64 bad end", IsValidLabelValue, strings.Repeat("v", 63) + "-", []string{"must be no more than 63 characters", valueRegexMsg}},
		// IsDNS1123Subdomain
		{"subdomain ok", IsDNS1123Subdomain, "example.com", nil},
		{"subdomain single", IsDNS1123Subdomain, "a", nil},
		{"subdomain 253", IsDNS1123Subdomain, strings.Repeat("a", 253), nil},
		{"subdomain 254", IsDNS1123Subdomain, strings.Repeat("a", 254), []string{"must be no more than 253 characters"}},
		{"subdomain upper", IsDNS1123Subdomain, "Example.com", []string{subdomainMsg}},
		{"subdomain empty", IsDNS1123Subdomain, "", []string{subdomainMsg}},
		{"subdomain double dot", IsDNS1123Subdomain, "a..b", []string{subdomainMsg}},
		{"subdomain underscore", IsDNS1123Subdomain, "a_b", []string{subdomainMsg}},
		// IsDNS1123Label
		{"label ok", IsDNS1123Label, "my-name", nil},
		{"label digits", IsDNS1123Label, "123", nil},
		{"label 63", IsDNS1123Label, strings.Repeat("a", 63), nil},
		{"label 64", IsDNS1123Label, strings.Repeat("a", 64), []string{"must be no more than 63 characters"}},
		{"label dots", IsDNS1123Label, "a.b", []string{"must not contain dots"}},
		{"label upper", IsDNS1123Label, "A", []string{dnsLabelMsg}},
		{"label trailing dash", IsDNS1123Label, "a-", []string{dnsLabelMsg}},
		{"label empty", IsDNS1123Label, "", []string{dnsLabelMsg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.fn(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestMatchersAgreeWithFormats checks each hand-written matcher against the format it
// implements, compiled as a regexp, on every string of up to 6 characters over the
// characters the formats treat differently (and one they all refuse).
func TestMatchersAgreeWithFormats(t *testing.T) {
	matchers := []struct {
		format string
		match  func(string) bool
	}{
		{qualifiedNameFmt, matchesQualifiedName},
		{labelValueFmt, matchesLabelValue},
		{dns1123LabelFmt, matchesDNS1123Label},
		{dns1035LabelFmt, matchesDNS1035Label},
		{dns1123SubdomainFmt, matchesDNS1123Subdomain},
	}
	const alphabet = "aZ0-_./"
	var all []string
	var grow func(prefix string)
	grow = func(prefix string) {
		all = append(all, prefix)
		if len(prefix) == 6 {
			return
		}
		for _, c := range alphabet {
			grow(prefix + string(c))
		}
	}
	grow("")
	for _, m := range matchers {
		re := regexp.MustCompile("^" + m.format + "$")
		bad := 0
		for _, s := range all {
			if got, want := m.match(s), re.MatchString(s); got != want && bad < 5 {
				bad++
				t.Errorf("%s: %q matched %v, want %v", m.format, s, got, want)
			}
		}
	}
}
