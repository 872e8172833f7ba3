// Package resource implements Kubernetes resource quantities ("100m", "128Mi",
// "1e3"), after k8s.io/apimachinery/pkg/api/resource: parsing, exact
// arithmetic and comparison, rounding to integers, and the canonical string
// form that the API server writes back.
//
// # Representation and range
//
// A Quantity is exact at nano (10^-9) granularity, as in Kubernetes: parsing
// rounds a finer non-zero value away from zero to the next nano ("0.1n" and
// "1.1n" become "1n" and "2n"). A value m·10^s with an int64 m and
// -9 <= s <= 0 is held without allocation: every integer up to about 9.2e18
// (all memory sizes up to 8Ei) and every fraction with up to 18 significant
// digits (cpu amounts such as "100m" or "1.000000001"). Anything else falls
// back to a math/big count of nano-units. Addition, subtraction, negation and
// comparison are exact and never overflow.
//
// Parsing accepts magnitudes below 10^100; a larger one ("1e100", a number with
// more than 100 integer digits) is rejected with ErrOutOfRange, where
// Kubernetes would accept it. As in Kubernetes, a binary-SI quantity is capped
// silently at 2^63-1 when parsed ("8Ei" parses as 9223372036854775807), and a
// non-zero binary-SI value below 1 in magnitude becomes decimal-SI.
//
// The int64 accessors (Value, MilliValue, ScaledValue) round away from zero,
// as Kubernetes does, and saturate at math.MaxInt64 / math.MinInt64 instead
// of overflowing.
//
// # Grammar
//
//	<quantity>        ::= <signedNumber><suffix>
//	<signedNumber>    ::= <number> | <sign><number>
//	<number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//	<sign>            ::= "+" | "-"
//	<suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//	<binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//	<decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//	<decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>
//
// (The exponent of a decimalExponent must be an integer.) As in Kubernetes a
// lone "." parses as zero. Unlike Kubernetes, a string without any digit or
// dot in its number part ("+", "-", "Ki", "m") is rejected.
package resource

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Format selects how a Quantity is written by String. Parsing records the
// format of the input's suffix.
type Format string

const (
	DecimalExponent = Format("DecimalExponent") // e.g., 12e6
	BinarySI        = Format("BinarySI")        // e.g., 12Mi (12 * 2^20)
	DecimalSI       = Format("DecimalSI")       // e.g., 12M  (12 * 10^6)
)

// Scale is a power-of-ten exponent, used by ScaledValue.
type Scale int32

const (
	Nano  Scale = -9
	Micro Scale = -6
	Milli Scale = -3
	Kilo  Scale = 3
	Mega  Scale = 6
	Giga  Scale = 9
	Tera  Scale = 12
	Peta  Scale = 15
	Exa   Scale = 18
)

const (
	// splitREString describes (loosely) what ParseQuantity accepts; it is
	// quoted by ErrFormatWrong exactly as Kubernetes quotes it.
	splitREString = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

	// maxIntDigits bounds the magnitude of a parsed decimal quantity:
	// it must be below 10^maxIntDigits.
	maxIntDigits = 100
)

// Errors returned by ParseQuantity. The first two carry Kubernetes' messages.
var (
	ErrFormatWrong = errors.New("quantities must match the regular expression '" + splitREString + "'")
	ErrSuffix      = errors.New("unable to parse quantity's suffix")
	ErrOutOfRange  = fmt.Errorf("quantity is out of the supported range (magnitude must be below 1e%d)", maxIntDigits)
)

// Quantity is an exact fixed-point amount with a preferred output Format.
//
// The zero value is 0. A Quantity is a value: copies are independent (the
// big.Int that may back a large value is never modified after creation).
// Compare quantities with Cmp or Equal, not ==.
type Quantity struct {
	a amount
	// Format is used by String; change it at will.
	Format
}

// amount is the numeric part of a Quantity. It is always normalized:
//   - b == nil: the value is v * 10^s with -9 <= s <= 0, and s == 0 or v%10 != 0;
//   - b != nil: the value is b * 10^-9, and it has no int64 form above.
type amount struct {
	v int64
	s int8
	b *big.Int // read-only once built
}

var (
	pow10 = func() (p [19]int64) {
		p[0] = 1
		for i := 1; i < len(p); i++ {
			p[i] = p[i-1] * 10
		}
		return p
	}()
	bigTen      = big.NewInt(10)
	bigNanoUnit = big.NewInt(1e9)
	// maxBinaryNano is the binary-SI parse cap, 2^63-1, in nano-units.
	maxBinaryNano = new(big.Int).Mul(big.NewInt(math.MaxInt64), bigNanoUnit)
)

// norm builds a normalized int64 amount from v * 10^s, -9 <= s <= 0.
func norm(v int64, s int) amount {
	if v == 0 {
		return amount{}
	}
	for s < 0 && v%10 == 0 {
		v /= 10
		s++
	}
	return amount{v: v, s: int8(s)}
}

// fromNano builds a normalized amount from a count of nano-units. n becomes
// owned by the result and must not be modified afterwards.
func fromNano(n *big.Int) amount {
	if n.IsInt64() {
		return norm(n.Int64(), -9)
	}
	m, q, r := n, new(big.Int), new(big.Int)
	for s := -9; s < 0; s++ {
		q.QuoRem(m, bigTen, r)
		if r.Sign() != 0 {
			break
		}
		if q.IsInt64() {
			return norm(q.Int64(), s+1)
		}
		if m == n {
			m = new(big.Int)
		}
		m, q = q, m
	}
	return amount{b: n}
}

// nano returns the amount in nano-units. The result may be shared: read only.
func (a amount) nano() *big.Int {
	if a.b != nil {
		return a.b
	}
	n := big.NewInt(a.v)
	if k := 9 + int(a.s); k > 0 {
		n.Mul(n, big.NewInt(pow10[k]))
	}
	return n
}

func (a amount) sign() int {
	if a.b != nil {
		return a.b.Sign()
	}
	switch {
	case a.v > 0:
		return 1
	case a.v < 0:
		return -1
	}
	return 0
}

// isInt reports whether a has no fractional part.
func (a amount) isInt() bool {
	if a.b == nil {
		return a.s == 0
	}
	return new(big.Int).Rem(a.b, bigNanoUnit).Sign() == 0
}

// mulPow10 returns v * 10^k, 0 <= k <= 18, and whether it fits an int64.
func mulPow10(v int64, k int) (int64, bool) {
	if k == 0 || v == 0 {
		return v, true
	}
	p := pow10[k]
	if v > math.MaxInt64/p || v < math.MinInt64/p {
		return 0, false
	}
	return v * p, true
}

// align brings two int64 amounts to the smaller of their scales.
func align(x, y amount) (xv, yv int64, s int, ok bool) {
	s = int(min(x.s, y.s))
	xv, ok1 := mulPow10(x.v, int(x.s)-s)
	yv, ok2 := mulPow10(y.v, int(y.s)-s)
	return xv, yv, s, ok1 && ok2
}

func add(x, y amount) amount {
	switch {
	case y.sign() == 0:
		return x
	case x.sign() == 0:
		return y
	}
	if x.b == nil && y.b == nil {
		if xv, yv, s, ok := align(x, y); ok {
			if sum := xv + yv; (sum > xv) == (yv > 0) {
				return norm(sum, s)
			}
		}
	}
	return fromNano(new(big.Int).Add(x.nano(), y.nano()))
}

func neg(x amount) amount {
	if x.b == nil && x.v != math.MinInt64 {
		return amount{v: -x.v, s: x.s}
	}
	return fromNano(new(big.Int).Neg(x.nano()))
}

func cmp(x, y amount) int {
	if x.b == nil && y.b == nil {
		if xv, yv, _, ok := align(x, y); ok {
			switch {
			case xv < yv:
				return -1
			case xv > yv:
				return 1
			}
			return 0
		}
	}
	if sx, sy := x.sign(), y.sign(); sx != sy {
		if sx < sy {
			return -1
		}
		return 1
	}
	return x.nano().Cmp(y.nano())
}

// scaled returns x / 10^scale rounded away from zero, saturated to int64.
func scaled(x amount, scale int64) int64 {
	sign := x.sign()
	if sign == 0 {
		return 0
	}
	saturated := int64(math.MaxInt64)
	if sign < 0 {
		saturated = math.MinInt64
	}
	if x.b == nil {
		e := int64(x.s) - scale // result = v * 10^e
		switch {
		case e >= 0:
			if e > 18 {
				return saturated
			}
			if r, ok := mulPow10(x.v, int(e)); ok {
				return r
			}
			return saturated
		case e < -18: // |v| < 10^19 <= 10^-e: only the rounding unit is left
			return int64(sign)
		}
		p := pow10[-e]
		r := x.v / p
		if x.v%p != 0 {
			r += int64(sign)
		}
		return r
	}
	e := -9 - scale // result = nano * 10^e
	n := x.b
	if e >= 0 {
		if e >= 19 { // |n| >= 1, so |n| * 10^e >= 10^19
			return saturated
		}
		n = new(big.Int).Mul(n, new(big.Int).Exp(bigTen, big.NewInt(e), nil))
	} else {
		if -e > int64(n.BitLen())/3+1 { // |n| < 2^BitLen <= 10^(BitLen/3+1) <= 10^-e
			return int64(sign)
		}
		q, r := new(big.Int).QuoRem(n, new(big.Int).Exp(bigTen, big.NewInt(-e), nil), new(big.Int))
		if r.Sign() != 0 {
			q.Add(q, big.NewInt(int64(sign)))
		}
		n = q
	}
	if !n.IsInt64() {
		return saturated
	}
	return n.Int64()
}

// MustParse is ParseQuantity that panics on error; for tests and constants.
func MustParse(str string) Quantity {
	q, err := ParseQuantity(str)
	if err != nil {
		panic(fmt.Errorf("cannot parse '%v': %v", str, err))
	}
	return q
}

// scan splits str into sign, integer digits, fraction digits and suffix,
// following Kubernetes' scanner (parseQuantityString).
func scan(str string) (positive bool, num, denom, suffix string, err error) {
	positive = true
	pos, end := 0, len(str)
	if pos < end {
		switch str[0] {
		case '-':
			positive = false
			pos++
		case '+':
			pos++
		}
	}
	if pos == end || !(isDigit(str[pos]) || str[pos] == '.') {
		return false, "", "", "", ErrFormatWrong
	}
	start := pos
	for pos < end && isDigit(str[pos]) {
		pos++
	}
	num = str[start:pos]
	if pos < end && str[pos] == '.' {
		pos++
		start = pos
		for pos < end && isDigit(str[pos]) {
			pos++
		}
		denom = str[start:pos]
	}
	start = pos
	for pos < end && strings.IndexByte("eEinumkKMGTP", str[pos]) >= 0 {
		pos++
	}
	if pos < end && (str[pos] == '-' || str[pos] == '+') {
		pos++
	}
	for pos < end && isDigit(str[pos]) {
		pos++
	}
	if pos < end {
		return false, "", "", "", ErrFormatWrong
	}
	return positive, num, denom, str[start:], nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// interpret maps a suffix to base^exponent and the format it implies.
func interpret(s string) (base int, exponent int64, format Format, ok bool) {
	switch s {
	case "":
		return 10, 0, DecimalSI, true
	case "n":
		return 10, -9, DecimalSI, true
	case "u":
		return 10, -6, DecimalSI, true
	case "m":
		return 10, -3, DecimalSI, true
	case "k":
		return 10, 3, DecimalSI, true
	case "M":
		return 10, 6, DecimalSI, true
	case "G":
		return 10, 9, DecimalSI, true
	case "T":
		return 10, 12, DecimalSI, true
	case "P":
		return 10, 15, DecimalSI, true
	case "E":
		return 10, 18, DecimalSI, true
	case "Ki":
		return 2, 10, BinarySI, true
	case "Mi":
		return 2, 20, BinarySI, true
	case "Gi":
		return 2, 30, BinarySI, true
	case "Ti":
		return 2, 40, BinarySI, true
	case "Pi":
		return 2, 50, BinarySI, true
	case "Ei":
		return 2, 60, BinarySI, true
	}
	if len(s) > 1 && (s[0] == 'e' || s[0] == 'E') {
		e, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil {
			return 0, 0, "", false
		}
		return 10, e, DecimalExponent, true
	}
	return 0, 0, "", false
}

// ParseQuantity parses a quantity such as "100m", "1.5Gi", "-2e3" or "0.5".
// Errors are ErrFormatWrong, ErrSuffix (as in Kubernetes) or ErrOutOfRange.
func ParseQuantity(str string) (Quantity, error) {
	if len(str) == 0 {
		return Quantity{}, ErrFormatWrong
	}
	if str == "0" {
		return Quantity{Format: DecimalSI}, nil
	}
	positive, num, denom, suf, err := scan(str)
	if err != nil {
		return Quantity{}, err
	}
	base, exp, format, ok := interpret(suf)
	if !ok {
		return Quantity{}, ErrSuffix
	}
	digits := strings.TrimLeft(num+denom, "0")
	if digits == "" {
		return Quantity{Format: format}, nil
	}
	frac := int64(len(denom))
	// Clamp absurd exponents; the result (out of range, or one nano) is the
	// same as with the real one for any input that fits in memory.
	exp = max(min(exp, 1<<40), -1<<40)

	var a amount
	if base == 10 {
		a, err = parseDecimal(digits, exp-frac)
	} else {
		a, format = parseBinary(digits, frac, uint(exp), format)
	}
	if err != nil {
		return Quantity{}, err
	}
	if !positive {
		a = neg(a)
	}
	return Quantity{a: a, Format: format}, nil
}

// parseDecimal returns digits * 10^t rounded away from zero to nano.
// digits is non-empty, has no leading zero.
func parseDecimal(digits string, t int64) (amount, error) {
	if int64(len(digits))+t > maxIntDigits {
		return amount{}, ErrOutOfRange
	}
	if len(digits) <= 18 && t >= -9 && t <= 18 {
		v, _ := strconv.ParseInt(digits, 10, 64)
		if t <= 0 {
			return norm(v, int(t)), nil
		}
		if v, ok := mulPow10(v, int(t)); ok {
			return norm(v, 0), nil
		}
	}
	// In nano-units: digits * 10^k.
	k := t + 9
	var nanoDigits string
	roundUp := false
	switch {
	case k >= 0:
		nanoDigits = digits + strings.Repeat("0", int(k))
	case -k >= int64(len(digits)): // 0 < value < 1 nano
		nanoDigits, roundUp = "0", true
	default:
		cut := len(digits) + int(k)
		nanoDigits = digits[:cut]
		roundUp = strings.TrimRight(digits[cut:], "0") != ""
	}
	n, _ := new(big.Int).SetString(nanoDigits, 10)
	if roundUp {
		n.Add(n, big.NewInt(1))
	}
	return fromNano(n), nil
}

// parseBinary returns digits / 10^frac * 2^exp rounded up to nano, capped at
// 2^63-1, and the format (DecimalSI for values below 1).
func parseBinary(digits string, frac int64, exp uint, format Format) (amount, Format) {
	if frac == 0 && len(digits) <= 18 {
		v, _ := strconv.ParseInt(digits, 10, 64)
		if v <= math.MaxInt64>>exp {
			return amount{v: v << exp}, format
		}
	}
	n, _ := new(big.Int).SetString(digits, 10)
	n.Lsh(n, exp)
	if frac <= 9 {
		n.Mul(n, new(big.Int).Exp(bigTen, big.NewInt(9-frac), nil))
	} else {
		r := new(big.Int)
		n.QuoRem(n, new(big.Int).Exp(bigTen, big.NewInt(frac-9), nil), r)
		if r.Sign() != 0 {
			n.Add(n, big.NewInt(1))
		}
	}
	if n.Cmp(maxBinaryNano) > 0 {
		n.Set(maxBinaryNano)
	}
	if n.Cmp(bigNanoUnit) < 0 {
		format = DecimalSI
	}
	return fromNano(n), format
}

// NewQuantity returns value in the given format.
func NewQuantity(value int64, format Format) Quantity {
	return Quantity{a: norm(value, 0), Format: format}
}

// NewMilliQuantity returns milli/1000 in the given format.
func NewMilliQuantity(milli int64, format Format) Quantity {
	return Quantity{a: norm(milli, -3), Format: format}
}

// IsZero reports whether q is zero.
func (q Quantity) IsZero() bool { return q.a.sign() == 0 }

// IsInteger reports whether q has no fractional part ("2", "1k", "1000m"; not "1500m").
func (q Quantity) IsInteger() bool { return q.a.isInt() }

// Sign returns -1, 0 or 1 as q is negative, zero or positive.
func (q Quantity) Sign() int { return q.a.sign() }

// Cmp returns -1, 0 or 1 as q is less than, equal to or greater than y.
func (q Quantity) Cmp(y Quantity) int { return cmp(q.a, y.a) }

// CmpInt64 compares q with the integer y.
func (q Quantity) CmpInt64(y int64) int { return cmp(q.a, norm(y, 0)) }

// Equal reports whether q and y have the same value (formats may differ).
func (q Quantity) Equal(y Quantity) bool { return q.Cmp(y) == 0 }

// Add sets q to q + y. A zero q takes y's format.
func (q *Quantity) Add(y Quantity) {
	if q.IsZero() {
		q.Format = y.Format
	}
	q.a = add(q.a, y.a)
}

// Sub sets q to q - y. A zero q takes y's format.
func (q *Quantity) Sub(y Quantity) {
	if q.IsZero() {
		q.Format = y.Format
	}
	q.a = add(q.a, neg(y.a))
}

// Neg sets q to -q.
func (q *Quantity) Neg() { q.a = neg(q.a) }

// Value returns q rounded away from zero to an integer ("1500m" → 2,
// "-1500m" → -2), saturating at the int64 bounds.
func (q Quantity) Value() int64 { return scaled(q.a, 0) }

// MilliValue returns q * 1000 rounded away from zero to an integer,
// saturating at the int64 bounds.
func (q Quantity) MilliValue() int64 { return scaled(q.a, -3) }

// ScaledValue returns q / 10^scale rounded away from zero to an integer,
// saturating at the int64 bounds: MustParse("1").ScaledValue(Milli) is 1000.
func (q Quantity) ScaledValue(scale Scale) int64 { return scaled(q.a, int64(scale)) }

// AsInt64 returns q as an int64 when q is an integer that fits.
func (q Quantity) AsInt64() (int64, bool) {
	if q.a.b == nil && q.a.s == 0 {
		return q.a.v, true
	}
	return 0, false
}

var decimalSuffixes = map[int]string{
	-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E",
}

var binarySuffixes = [...]string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}

// String returns the canonical form of q in its format, as Kubernetes writes
// it: no fractional digits, no loss of precision, and the largest suffix (or
// exponent, a multiple of 3) that allows that. BinarySI values that are not
// integers, or are within (-1024, 1024), are written as DecimalSI; a DecimalSI
// value beyond the "E" suffix is written with a decimal exponent.
// Examples: "0.1" → "100m", "2000m" → "2", "1024Mi" → "1Gi", "1.5Gi" →
// "1536Mi", "1e3" → "1e3".
func (q Quantity) String() string {
	if q.IsZero() {
		return "0"
	}
	format := q.Format
	switch format {
	case DecimalSI, DecimalExponent:
	case BinarySI:
		if q.CmpInt64(-1024) > 0 && q.CmpInt64(1024) < 0 || !q.a.isInt() {
			format = DecimalSI
		}
	default:
		format = DecimalExponent
	}
	if format == BinarySI {
		return q.binaryString()
	}

	var digits string
	var exp int
	if q.a.b == nil {
		digits, exp = strconv.FormatInt(q.a.v, 10), int(q.a.s)
	} else {
		digits, exp = q.a.b.String(), -9
	}
	trimmed := strings.TrimRight(digits, "0") // q != 0: some digit is not 0
	exp += len(digits) - len(trimmed)
	digits = trimmed
	switch exp % 3 {
	case 1, -2:
		digits += "0"
		exp--
	case 2, -1:
		digits += "00"
		exp -= 2
	}
	if format == DecimalSI {
		if s, ok := decimalSuffixes[exp]; ok {
			return digits + s
		}
	}
	if exp == 0 {
		return digits
	}
	return digits + "e" + strconv.Itoa(exp)
}

// binaryString writes an integer q with |q| >= 1024 as n * 1024^k, k <= 6.
func (q Quantity) binaryString() string {
	k := 0
	if q.a.b == nil { // integral, so q.a.s == 0
		v := q.a.v
		for k < len(binarySuffixes)-1 && v%1024 == 0 {
			v /= 1024
			k++
		}
		return strconv.FormatInt(v, 10) + binarySuffixes[k]
	}
	n := new(big.Int).Quo(q.a.b, bigNanoUnit)
	neg := n.Sign() < 0
	n.Abs(n)
	k = min(int(n.TrailingZeroBits())/10, len(binarySuffixes)-1)
	n.Rsh(n, uint(10*k))
	if neg {
		n.Neg(n)
	}
	return n.String() + binarySuffixes[k]
}

// MarshalText writes the canonical form (String).
func (q Quantity) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText parses text with ParseQuantity.
func (q *Quantity) UnmarshalText(text []byte) error {
	p, err := ParseQuantity(string(text))
	if err != nil {
		return err
	}
	*q = p
	return nil
}
