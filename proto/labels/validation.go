package labels

import (
	"fmt"
	"strings"
)

// Length limits used by the validation helpers, as in Kubernetes.
const (
	// QualifiedNameMaxLength is the maximum length of the name part of a
	// qualified name (label key).
	QualifiedNameMaxLength = 63
	// LabelValueMaxLength is the maximum length of a label value.
	LabelValueMaxLength = 63
	// DNS1123LabelMaxLength is the maximum length of an RFC 1123 label.
	DNS1123LabelMaxLength = 63
	// DNS1123SubdomainMaxLength is the maximum length of an RFC 1123 subdomain.
	DNS1123SubdomainMaxLength = 253
)

const (
	qualifiedNameFmt    = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
	qualifiedNameErrMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"

	labelValueFmt    = "(" + qualifiedNameFmt + ")?"
	labelValueErrMsg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"

	dns1123LabelFmt    = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
	dns1123LabelErrMsg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"

	dns1035LabelFmt    = "[a-z]([-a-z0-9]*[a-z0-9])?"
	dns1035LabelErrMsg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"

	dns1123SubdomainFmt    = dns1123LabelFmt + "(\\." + dns1123LabelFmt + ")*"
	dns1123SubdomainErrMsg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
)

// The formats above are matched by hand below (every create validates dozens of names, and
// the regexp engine was most of that cost); validation_test.go checks each matcher against
// its format compiled as a regexp, on every short string over the characters that matter.

// matchesQualifiedName: qualifiedNameFmt.
func matchesQualifiedName(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// matchesLabelValue: labelValueFmt.
func matchesLabelValue(s string) bool { return s == "" || matchesQualifiedName(s) }

// matchesDNS1123Label: dns1123LabelFmt.
func matchesDNS1123Label(s string) bool {
	if s == "" || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// matchesDNS1035Label: dns1035LabelFmt, a DNS-1123 label that starts with a letter.
func matchesDNS1035Label(s string) bool {
	return matchesDNS1123Label(s) && 'a' <= s[0] && s[0] <= 'z'
}

// matchesDNS1123Subdomain: dns1123SubdomainFmt, labels joined by dots.
func matchesDNS1123Subdomain(s string) bool {
	for {
		label, rest, more := strings.Cut(s, ".")
		if !matchesDNS1123Label(label) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }

// IsQualifiedName reports whether value is a Kubernetes "qualified name"
// (the format of label keys): an optional DNS-1123 subdomain prefix and '/',
// followed by a name of at most 63 characters matching
// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]. It returns nil if the value is
// valid, and Kubernetes' error messages otherwise.
func IsQualifiedName(value string) []string {
	var errs []string
	parts := strings.Split(value, "/")
	var name string
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		prefix := parts[0]
		name = parts[1]
		if prefix == "" {
			errs = append(errs, "prefix part "+emptyError())
		} else {
			for _, msg := range IsDNS1123Subdomain(prefix) {
				errs = append(errs, "prefix part "+msg)
			}
		}
	default:
		return append(errs, "a qualified name "+
			regexError(qualifiedNameErrMsg, qualifiedNameFmt, "MyName", "my.name", "123-abc")+
			" with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")
	}

	if name == "" {
		errs = append(errs, "name part "+emptyError())
	} else if len(name) > QualifiedNameMaxLength {
		errs = append(errs, "name part "+maxLenError(QualifiedNameMaxLength))
	}
	if !matchesQualifiedName(name) {
		errs = append(errs, "name part "+regexError(qualifiedNameErrMsg, qualifiedNameFmt, "MyName", "my.name", "123-abc"))
	}
	return errs
}

// IsValidLabelValue reports whether value is a valid label value: empty, or
// at most 63 characters matching ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
// It returns nil if valid, and Kubernetes' error messages otherwise.
func IsValidLabelValue(value string) []string {
	var errs []string
	if len(value) > LabelValueMaxLength {
		errs = append(errs, maxLenError(LabelValueMaxLength))
	}
	if !matchesLabelValue(value) {
		errs = append(errs, regexError(labelValueErrMsg, labelValueFmt, "MyValue", "my_value", "12345"))
	}
	return errs
}

// IsDNS1123Label reports whether value is an RFC 1123 label (at most 63
// lower-case alphanumeric characters or '-', starting and ending with an
// alphanumeric character). It returns nil if valid, and Kubernetes' error
// messages otherwise.
func IsDNS1123Label(value string) []string {
	var errs []string
	if len(value) > DNS1123LabelMaxLength {
		errs = append(errs, maxLenError(DNS1123LabelMaxLength))
	}
	if !matchesDNS1123Label(value) {
		if matchesDNS1123Subdomain(value) {
			// A valid subdomain but not a valid label: it must contain dots.
			errs = append(errs, "must not contain dots")
		} else {
			errs = append(errs, regexError(dns1123LabelErrMsg, dns1123LabelFmt, "my-name", "123-abc"))
		}
	}
	return errs
}

// IsDNS1035Label reports whether value is an RFC 1035 label (at most 63 lower-case
// alphanumeric characters or '-', starting with a letter and ending with an alphanumeric
// character): the name rule of Services. It returns nil if valid, and Kubernetes' error
// messages otherwise.
func IsDNS1035Label(value string) []string {
	var errs []string
	if len(value) > DNS1123LabelMaxLength {
		errs = append(errs, maxLenError(DNS1123LabelMaxLength))
	}
	if !matchesDNS1035Label(value) {
		errs = append(errs, regexError(dns1035LabelErrMsg, dns1035LabelFmt, "my-name", "abc-123"))
	}
	return errs
}

// IsDNS1123Subdomain reports whether value is an RFC 1123 subdomain (at most
// 253 characters, dot-separated RFC 1123 labels). It returns nil if valid,
// and Kubernetes' error messages otherwise.
func IsDNS1123Subdomain(value string) []string {
	var errs []string
	if len(value) > DNS1123SubdomainMaxLength {
		errs = append(errs, maxLenError(DNS1123SubdomainMaxLength))
	}
	if !matchesDNS1123Subdomain(value) {
		errs = append(errs, regexError(dns1123SubdomainErrMsg, dns1123SubdomainFmt, "example.com"))
	}
	return errs
}

func emptyError() string { return "must be non-empty" }

func maxLenError(n int) string { return fmt.Sprintf("must be no more than %d characters", n) }

// regexError renders a regex validation failure the way Kubernetes does,
// including its idiosyncratic "'a',  or 'b', " example list.
func regexError(msg, re string, examples ...string) string {
	var b strings.Builder
	b.WriteString(msg)
	b.WriteString(" (")
	if len(examples) > 0 {
		b.WriteString("e.g. ")
		for i, ex := range examples {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString("'" + ex + "', ")
		}
	}
	b.WriteString("regex used for validation is '" + re + "')")
	return b.String()
}
