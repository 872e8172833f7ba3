package validation

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"

	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

const quantityFmt = `^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$`

var quantityRegexp = regexp.MustCompile(quantityFmt)

// The parse errors of Kubernetes' resource.ParseQuantity.
const (
	errQuantityFormat = "quantities must match the regular expression '" + quantityFmt + "'"
	errQuantitySuffix = "unable to parse quantity's suffix"
	errQuantityNumber = "unable to parse quantity's numeric part"
)

// quantity is a parsed resource quantity: the text as written and its exact value.
type quantity struct {
	text  string
	value *big.Rat
}

func (q quantity) cmp(o quantity) int { return q.value.Cmp(o.value) }

func (q quantity) isInteger() bool { return q.value.IsInt() }

// parseQuantity checks the syntax of a Kubernetes quantity ("100m", "1.5Gi", "2e3") and
// computes its exact value, for the sign and ordering checks of validation. It checks syntax
// only: no canonical form, no range limits or precision rounding as resource.Quantity has. On
// failure it returns Kubernetes' parse message.
func parseQuantity(s string) (quantity, string) {
	m := quantityRegexp.FindStringSubmatch(s)
	if m == nil {
		return quantity{}, errQuantityFormat
	}
	num, suffix := m[1], m[2]
	neg := false
	switch num[0] {
	case '+':
		num = num[1:]
	case '-':
		neg, num = true, num[1:]
	}
	whole, frac, _ := strings.Cut(num, ".")
	if strings.Contains(frac, ".") || whole+frac == "" {
		return quantity{}, errQuantityNumber
	}
	digits, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return quantity{}, errQuantityNumber
	}
	v := new(big.Rat).SetFrac(digits, pow(10, len(frac)))
	mult, ok := suffixMultiplier(suffix)
	if !ok {
		return quantity{}, errQuantitySuffix
	}
	v.Mul(v, mult)
	if neg {
		v.Neg(v)
	}
	return quantity{text: s, value: v}, ""
}

func pow(base int64, exp int) *big.Int {
	return new(big.Int).Exp(big.NewInt(base), big.NewInt(int64(exp)), nil)
}

var decimalSuffixes = map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
var binarySuffixes = map[string]int{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

func suffixMultiplier(s string) (*big.Rat, bool) {
	if e, ok := decimalSuffixes[s]; ok {
		return tenTo(e), true
	}
	if e, ok := binarySuffixes[s]; ok {
		return new(big.Rat).SetInt(pow(2, e)), true
	}
	if len(s) > 1 && (s[0] == 'e' || s[0] == 'E') {
		e, err := strconv.Atoi(s[1:])
		if err != nil || e < -1000 || e > 1000 {
			return nil, false
		}
		return tenTo(e), true
	}
	return nil, false
}

func tenTo(e int) *big.Rat {
	if e < 0 {
		return new(big.Rat).SetFrac(big.NewInt(1), pow(10, -e))
	}
	return new(big.Rat).SetInt(pow(10, e))
}

// validateQuantity parses q at path, with an error for bad syntax or a negative value; the
// quantity is usable only when there are no errors.
func validateQuantity(q *metav1.Quantity, path string) (quantity, apierrors.FieldErrors) {
	s := q.GetString_()
	v, msg := parseQuantity(s)
	if msg != "" {
		return v, apierrors.FieldErrors{apierrors.Invalid(path, s, msg)}
	}
	if v.value.Sign() < 0 {
		return v, apierrors.FieldErrors{apierrors.Invalid(path, s, isNegativeErrorMsg)}
	}
	return v, nil
}
