package validation

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// Messages shared by many rules, as Kubernetes words them.
const (
	isNegativeErrorMsg   = "must be greater than or equal to 0"
	isNotIntegerErrorMsg = "must be an integer"
	fieldImmutableErrMsg = "field is immutable"
)

// ---- field paths ----

func child(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func key(path, k string) string { return path + "[" + k + "]" }

// ---- values shown in messages ----

// goSyntax shows a value the way Kubernetes' field errors show composite values (%#v), e.g.
// map[string]string{"app":"x"}.
type goSyntax struct{ v any }

func (g goSyntax) String() string { return fmt.Sprintf("%#v", g.v) }

// bare shows a value unquoted, as Kubernetes does for values with a String method
// (IntOrString, Quantity): `Invalid value: 25%`.
type bare string

func (b bare) String() string { return string(b) }

func intOrStringValue(v *metav1.IntOrString) bare {
	if v.GetType() == 1 {
		return bare(v.GetStrVal())
	}
	return bare(strconv.Itoa(int(v.GetIntVal())))
}

// selectorValue renders a label selector as Kubernetes' messages do (the %#v of
// metav1.LabelSelector).
type selectorValue struct{ s *metav1.LabelSelector }

func (v selectorValue) String() string {
	if v.s == nil {
		return "(*v1.LabelSelector)(nil)"
	}
	var b strings.Builder
	b.WriteString("v1.LabelSelector{MatchLabels:")
	if v.s.MatchLabels == nil {
		b.WriteString("map[string]string(nil)")
	} else {
		fmt.Fprintf(&b, "%#v", v.s.MatchLabels)
	}
	b.WriteString(", MatchExpressions:")
	if v.s.MatchExpressions == nil {
		b.WriteString("[]v1.LabelSelectorRequirement(nil)")
	} else {
		b.WriteString("[]v1.LabelSelectorRequirement{")
		for i, r := range v.s.MatchExpressions {
			if i > 0 {
				b.WriteString(", ")
			}
			vals := "[]string(nil)"
			if r.GetValues() != nil {
				vals = fmt.Sprintf("%#v", r.GetValues())
			}
			fmt.Fprintf(&b, "v1.LabelSelectorRequirement{Key:%q, Operator:%q, Values:%s}", r.GetKey(), r.GetOperator(), vals)
		}
		b.WriteString("}")
	}
	b.WriteString("}")
	return b.String()
}

// ---- small checks ----

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func nonNegative(value int64, path string) apierrors.FieldErrors {
	if value < 0 {
		return apierrors.FieldErrors{apierrors.Invalid(path, value, isNegativeErrorMsg)}
	}
	return nil
}

func inclusiveRangeError(lo, hi int) string {
	return fmt.Sprintf("must be between %d and %d, inclusive", lo, hi)
}

func regexError(msg, re string, examples ...string) string {
	if len(examples) == 0 {
		return msg + " (regex used for validation is '" + re + "')"
	}
	msg += " (e.g. "
	for i, ex := range examples {
		if i > 0 {
			msg += " or "
		}
		msg += "'" + ex + "', "
	}
	return msg + "regex used for validation is '" + re + "')"
}

func maxLenError(n int) string { return fmt.Sprintf("must be no more than %d characters", n) }

// isValidPortNum is Kubernetes' IsValidPortNum: 1-65535.
func isValidPortNum(port int) []string {
	if port < 1 || port > 65535 {
		return []string{inclusiveRangeError(1, 65535)}
	}
	return nil
}

var (
	portNameCharsetRegexp   = regexp.MustCompile("^[-a-z0-9]+$")
	portNameOneLetterRegexp = regexp.MustCompile("[a-z]")
)

// IsValidPortName reports whether port is an IANA_SVC_NAME (RFC 6335): at most 15
// lower-case alphanumeric characters or '-', with at least one letter, no '--', and no '-'
// at either end. It returns Kubernetes' messages, nil when valid.
func IsValidPortName(port string) []string {
	var errs []string
	if len(port) > 15 {
		errs = append(errs, maxLenError(15))
	}
	if !portNameCharsetRegexp.MatchString(port) {
		errs = append(errs, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
	} else if !portNameOneLetterRegexp.MatchString(port) {
		errs = append(errs, "must contain at least one letter (a-z)")
	}
	if strings.Contains(port, "--") {
		errs = append(errs, "must not contain consecutive hyphens")
	}
	if len(port) > 0 && (port[0] == '-' || port[len(port)-1] == '-') {
		errs = append(errs, "must not begin or end with a hyphen")
	}
	return errs
}

const (
	envVarNameFmt    = "[-._a-zA-Z][-._a-zA-Z0-9]*"
	envVarNameErrMsg = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"
	configMapKeyFmt  = "[-._a-zA-Z0-9]+"
	configMapKeyMsg  = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
	httpHeaderFmt    = "[-A-Za-z0-9]+"
	httpHeaderErrMsg = "a valid HTTP header must consist of alphanumeric characters or '-'"
)

// matchesEnvVarName is envVarNameFmt matched by hand (every container's env is checked on
// every pod write); helpers_internal_test.go checks it against the format.
func matchesEnvVarName(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

var (
	configMapKeyRegexp = regexp.MustCompile("^" + configMapKeyFmt + "$")
	httpHeaderRegexp   = regexp.MustCompile("^" + httpHeaderFmt + "$")
)

// IsEnvVarName reports whether value is a valid environment variable name
// ([-._a-zA-Z][-._a-zA-Z0-9]*, and not ".", ".." or starting with ".."). It returns
// Kubernetes' messages, nil when valid.
func IsEnvVarName(value string) []string {
	var errs []string
	if !matchesEnvVarName(value) {
		errs = append(errs, regexError(envVarNameErrMsg, envVarNameFmt, "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
	}
	return append(errs, hasChDirPrefix(value)...)
}

func isConfigMapKey(value string) []string {
	var errs []string
	if len(value) > 253 {
		errs = append(errs, maxLenError(253))
	}
	if !configMapKeyRegexp.MatchString(value) {
		errs = append(errs, regexError(configMapKeyMsg, configMapKeyFmt, "key.name", "KEY_NAME", "key-name"))
	}
	return append(errs, hasChDirPrefix(value)...)
}

func hasChDirPrefix(value string) []string {
	switch {
	case value == ".":
		return []string{"must not be '.'"}
	case value == "..":
		return []string{"must not be '..'"}
	case strings.HasPrefix(value, ".."):
		return []string{"must not start with '..'"}
	}
	return nil
}

func isHTTPHeaderName(value string) []string {
	if !httpHeaderRegexp.MatchString(value) {
		return []string{regexError(httpHeaderErrMsg, httpHeaderFmt, "X-Header-Name")}
	}
	return nil
}

func validIP(value, path string) apierrors.FieldErrors {
	if _, err := netip.ParseAddr(value); err != nil {
		return apierrors.FieldErrors{apierrors.Invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")}
	}
	return nil
}

func validCIDR(value, path string) (netip.Prefix, apierrors.FieldErrors) {
	p, err := netip.ParsePrefix(value)
	if err != nil {
		return p, apierrors.FieldErrors{apierrors.Invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")}
	}
	return p, nil
}

// Kubernetes' user and group ID range.
func validID(id int64, path string) apierrors.FieldErrors {
	if id < 0 || id > 2147483647 {
		return apierrors.FieldErrors{apierrors.Invalid(path, id, inclusiveRangeError(0, 2147483647))}
	}
	return nil
}

// validateLabelName checks a label key (or any qualified name) at path.
func validateLabelName(name, path string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for _, msg := range isQualifiedName(name) {
		errs = append(errs, apierrors.Invalid(path, name, msg))
	}
	return errs
}

func validateDNS1123Label(value, path string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for _, msg := range isDNS1123Label(value) {
		errs = append(errs, apierrors.Invalid(path, value, msg))
	}
	return errs
}

func validateDNS1123Subdomain(value, path string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for _, msg := range isDNS1123Subdomain(value) {
		errs = append(errs, apierrors.Invalid(path, value, msg))
	}
	return errs
}
