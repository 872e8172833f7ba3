package resource

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"
)

// dq returns m * 10^e in the given format (exact: e >= -9).
func dq(m int64, e int, f Format) Quantity {
	q := MustParse(fmt.Sprintf("%de%d", m, e))
	q.Format = f
	return q
}

// bq returns the decimal integer s in the given format.
func bq(s string, f Format) Quantity {
	q := MustParse(s)
	q.Format = f
	return q
}

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		want   Quantity
		format Format
	}{
		{"0", dq(0, 0, DecimalSI), DecimalSI},
		{"0n", dq(0, 0, DecimalSI), DecimalSI},
		{"0m", dq(0, 0, DecimalSI), DecimalSI},
		{"0Ki", dq(0, 0, BinarySI), BinarySI},
		{"0Gi", dq(0, 0, BinarySI), BinarySI},
		{"0e3", dq(0, 0, BinarySI), DecimalExponent},
		{"000.000", dq(0, 0, DecimalSI), DecimalSI},
		{".", dq(0, 0, DecimalSI), DecimalSI},
		{"1", dq(1, 0, DecimalSI), DecimalSI},
		{"007", dq(7, 0, DecimalSI), DecimalSI},

		// Binary suffixes.
		{"1Ki", dq(1024, 0, BinarySI), BinarySI},
		{"8Ki", dq(8*1024, 0, BinarySI), BinarySI},
		{"7Mi", dq(7<<20, 0, BinarySI), BinarySI},
		{"6Gi", dq(6<<30, 0, BinarySI), BinarySI},
		{"5Ti", dq(5<<40, 0, BinarySI), BinarySI},
		{"4Pi", dq(4<<50, 0, BinarySI), BinarySI},
		{"3Ei", dq(3<<60, 0, BinarySI), BinarySI},
		{"100Ti", dq(100<<40, 0, BinarySI), BinarySI},

		// Decimal suffixes.
		{"5n", dq(5, -9, DecimalSI), DecimalSI},
		{"4u", dq(4, -6, DecimalSI), DecimalSI},
		{"3m", dq(3, -3, DecimalSI), DecimalSI},
		{"100m", dq(1, -1, DecimalSI), DecimalSI},
		{"8k", dq(8, 3, DecimalSI), DecimalSI},
		{"50k", dq(5, 4, DecimalSI), DecimalSI},
		{"7M", dq(7, 6, DecimalSI), DecimalSI},
		{"6G", dq(6, 9, DecimalSI), DecimalSI},
		{"5T", dq(5, 12, DecimalSI), DecimalSI},
		{"2P", dq(2, 15, DecimalSI), DecimalSI},
		{"1E", dq(1, 18, DecimalSI), DecimalSI},
		{"12E", dq(12, 18, DecimalSI), DecimalSI},
		{"1000E", dq(1, 21, DecimalSI), DecimalSI},

		// Decimal exponents.
		{"1E-3", dq(1, -3, DecimalExponent), DecimalExponent},
		{"1e3", dq(1, 3, DecimalExponent), DecimalExponent},
		{"1E6", dq(1, 6, DecimalExponent), DecimalExponent},
		{"1e14", dq(1, 14, DecimalExponent), DecimalExponent},
		{"1E18", dq(1, 18, DecimalExponent), DecimalExponent},
		{"1E+3", dq(1, 3, DecimalExponent), DecimalExponent},
		{"1.2e3", dq(12, 2, DecimalExponent), DecimalExponent},
		{"1.3E+6", dq(13, 5, DecimalExponent), DecimalExponent},
		{"1.40e9", dq(14, 8, DecimalExponent), DecimalExponent},
		{"1.7E18", dq(17, 17, DecimalExponent), DecimalExponent},
		{"0.5e0", dq(5, -1, DecimalExponent), DecimalExponent},
		{"0.5e-2", dq(5, -3, DecimalExponent), DecimalExponent},
		{"1e99", dq(1, 99, DecimalExponent), DecimalExponent},

		// Things that look like floating point.
		{"0.001", dq(1, -3, DecimalSI), DecimalSI},
		{"0.0005k", dq(5, -1, DecimalSI), DecimalSI},
		{"0.5", dq(5, -1, DecimalSI), DecimalSI},
		{"0.50000", dq(5, -1, DecimalSI), DecimalSI},
		{"100.035k", dq(100035, 0, DecimalSI), DecimalSI},
		{"10.035M", dq(10035, 3, DecimalSI), DecimalSI},
		{"9.01", dq(901, -2, DecimalSI), DecimalSI},
		{"7.123456M", dq(7123456, 0, DecimalSI), DecimalSI},
		{"6.987654321G", dq(6987654321, 0, DecimalSI), DecimalSI},
		{"2.5P", dq(25, 14, DecimalSI), DecimalSI},
		{"1.01E", dq(101, 16, DecimalSI), DecimalSI},
		{".001", dq(1, -3, DecimalSI), DecimalSI},
		{".0001k", dq(100, -3, DecimalSI), DecimalSI},
		{"1.", dq(1, 0, DecimalSI), DecimalSI},
		{"1.G", dq(1, 9, DecimalSI), DecimalSI},

		// Sub-nano values round away from zero.
		{"3.001n", dq(4, -9, DecimalSI), DecimalSI},
		{"1.1E-9", dq(2, -9, DecimalExponent), DecimalExponent},
		{"0.0000000001", dq(1, -9, DecimalSI), DecimalSI},
		{"0.00000000050", dq(1, -9, DecimalSI), DecimalSI},
		{"0.9n", dq(1, -9, DecimalSI), DecimalSI},
		{"0.00000012345", dq(124, -9, DecimalSI), DecimalSI},
		{"1e-99999", dq(1, -9, DecimalExponent), DecimalExponent},
		{"1.000000000000000000001", dq(1000000001, -9, DecimalSI), DecimalSI},

		// Binary: fractions, sub-unit values become DecimalSI, cap at 2^63-1.
		{"1.5Gi", dq(1536<<20, 0, BinarySI), BinarySI},
		{"100.035Ki", dq(10243584, -2, BinarySI), BinarySI},
		{"0.5Mi", dq(512<<10, 0, BinarySI), BinarySI},
		{"0.05Gi", dq(536870912, -1, BinarySI), BinarySI},
		{"0.000000000001Ki", dq(2, -9, DecimalSI), DecimalSI},
		{"0.0009765625Ki", dq(1, 0, BinarySI), BinarySI},
		{"8Ei", dq(math.MaxInt64, 0, BinarySI), BinarySI},
		{"9223372036854775807Ki", dq(math.MaxInt64, 0, BinarySI), BinarySI},
		{"7.99999999999999999999Ei", dq(math.MaxInt64, 0, BinarySI), BinarySI},

		// Larger than int64.
		{"9223372036854775808", bq("9223372036854775808", DecimalSI), DecimalSI},
		{"18446744073709551616", bq("18446744073709551616", DecimalSI), DecimalSI},
		{"18446744073709551616.5", dq(0, 0, DecimalSI), DecimalSI}, // want set below
	}
	tests[len(tests)-1].want = bq("18446744073709551616", DecimalSI)
	tests[len(tests)-1].want.Add(dq(5, -1, DecimalSI))

	for _, tc := range tests {
		for _, sign := range []string{"", "+", "-"} {
			in := sign + tc.in
			got, err := ParseQuantity(in)
			if err != nil {
				t.Errorf("ParseQuantity(%q): %v", in, err)
				continue
			}
			want := tc.want
			if sign == "-" {
				want.Neg()
			}
			if got.Cmp(want) != 0 {
				t.Errorf("ParseQuantity(%q) = %s, want %s", in, got, want)
			}
			if got.Format != tc.format {
				t.Errorf("ParseQuantity(%q).Format = %s, want %s", in, got.Format, tc.format)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrFormatWrong},
		{"+", ErrFormatWrong},
		{"-", ErrFormatWrong},
		{"Ki", ErrFormatWrong},
		{"m", ErrFormatWrong},
		{"aoeu", ErrFormatWrong},
		{"Non-Numeric", ErrFormatWrong},
		{" 1", ErrFormatWrong},
		{"1 ", ErrFormatWrong},
		{"1.1.M", ErrFormatWrong},
		{"1+1.0M", ErrFormatWrong},
		{"1e3.5", ErrFormatWrong},
		{"--1", ErrFormatWrong},
		{"1x", ErrFormatWrong},
		{"1Gi ", ErrFormatWrong},
		{"0.1am", ErrFormatWrong},
		{"0.1mi", ErrSuffix},
		{".5i", ErrSuffix},
		{"1i", ErrSuffix},
		{"-3.01i", ErrSuffix},
		{"-3.01e-", ErrSuffix},
		{"1e", ErrSuffix},
		{"1ki", ErrSuffix},
		{"1K", ErrSuffix},
		{"1KiB", ErrFormatWrong},
		{"1Ki5", ErrSuffix},
		{"1ee3", ErrSuffix},
		{"1e99999999999999999999", ErrSuffix},
		{"1e100", ErrOutOfRange},
		{"10e99", ErrOutOfRange},
		{"1" + strings.Repeat("0", 100), ErrOutOfRange},
		{"1e9223372036854775807", ErrOutOfRange},
	}
	for _, tc := range tests {
		q, err := ParseQuantity(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseQuantity(%q) = %v, %v; want error %v", tc.in, q, err, tc.want)
		}
	}
	const msg = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
	if ErrFormatWrong.Error() != msg {
		t.Errorf("ErrFormatWrong = %q", ErrFormatWrong)
	}
	// Just below the range limit is fine.
	if _, err := ParseQuantity(strings.Repeat("9", 100)); err != nil {
		t.Errorf("100 nines: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustParse did not panic")
			}
		}()
		MustParse("Non-Numeric")
	}()
}

func TestCanonicalString(t *testing.T) {
	// Parsed inputs, as the API server would write them back.
	tests := []struct{ in, want string }{
		{"100m", "100m"},
		{"0.1", "100m"},
		{"1", "1"},
		{"2000m", "2"},
		{"1500m", "1500m"},
		{"1.5", "1500m"},
		{"0.5", "500m"},
		{"1000m", "1"},
		{"128Mi", "128Mi"},
		{"1Gi", "1Gi"},
		{"1024Mi", "1Gi"},
		{"1.5Gi", "1536Mi"},
		{"500M", "500M"},
		{"1000M", "1G"},
		{"1e3", "1e3"},
		{"1E3", "1e3"},
		{"1.5e3", "1500"},
		{"100e-3", "100e-3"},
		{"0.1e0", "100e-3"},
		{"12e6", "12e6"},
		{"0", "0"},
		{"0Gi", "0"},
		{"-0", "0"},
		{"0.000", "0"},
		{"1Ki", "1Ki"},
		{"1Mi", "1Mi"},
		{"1024", "1024"},
		{"1000", "1k"},
		{"1k", "1k"},
		{"10000", "10k"},
		{"100000", "100k"},
		{".001Ki", "1024m"},
		{".000001Ki", "1024u"},
		{".000000001Ki", "1024n"},
		{".000000000001Ki", "2n"},
		{"0.5Ki", "512"},
		{"1.5Ki", "1536"},
		{"0.5Mi", "512Ki"},
		{"100.035Ki", "102435840m"},
		{"1025Ki", "1025Ki"},
		{"8Ei", "9223372036854775807"},
		{"4Ei", "4Ei"},
		{"1E", "1E"},
		{"1000E", "1e21"},
		{"1e21", "1e21"},
		{"1.5n", "2n"},
		{"1.2345", "1234500u"},
		{"18446744073709551616", "18446744073709551616"},
		{"18446744073709551616000", "18446744073709551616k"},
		{"18446744073709551616.5", "18446744073709551616500m"},
		{"1e99", "1e99"},
		{"1e98", "100e96"},
		{"1e27", "1e27"},
		{"2000000000000000000000000m", "2e21"},
	}
	for _, tc := range tests {
		q, err := ParseQuantity(tc.in)
		if err != nil {
			t.Errorf("ParseQuantity(%q): %v", tc.in, err)
			continue
		}
		if got := q.String(); got != tc.want {
			t.Errorf("ParseQuantity(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		if tc.want == "0" {
			continue
		}
		q.Neg()
		if got := q.String(); got != "-"+tc.want {
			t.Errorf("-(%q).String() = %q, want %q", tc.in, got, "-"+tc.want)
		}
	}
}

func TestStringFormats(t *testing.T) {
	// Kubernetes' TestQuantityString table: value, canonical, alternate spelling.
	tests := []struct {
		in        Quantity
		want, alt string
	}{
		{dq(1<<30, 0, BinarySI), "1Gi", "1024Mi"},
		{dq(300<<20, 0, BinarySI), "300Mi", "307200Ki"},
		{dq(6*1024, 0, BinarySI), "6Ki", ""},
		{dq(1001<<30, 0, BinarySI), "1001Gi", "1025024Mi"},
		{dq(1<<40, 0, BinarySI), "1Ti", "1024Gi"},
		{dq(5, 0, BinarySI), "5", "5000m"},
		{dq(500, -3, BinarySI), "500m", "0.5"},
		{dq(1, 9, DecimalSI), "1G", "1000M"},
		{dq(1000, 6, DecimalSI), "1G", "0.001T"},
		{dq(1000000000, 0, DecimalSI), "1G", ""},
		{dq(1, -3, DecimalSI), "1m", "1000u"},
		{dq(80, -3, DecimalSI), "80m", ""},
		{dq(1080, -3, DecimalSI), "1080m", "1.08"},
		{dq(108, -2, DecimalSI), "1080m", "1080000000n"},
		{dq(300, 6, DecimalSI), "300M", ""},
		{dq(1, 12, DecimalSI), "1T", ""},
		{dq(1, 18, DecimalSI), "1E", ""},
		{dq(1, 21, DecimalSI), "1e21", "1000E"},
		{dq(5, 21, DecimalSI), "5e21", "5000E"},
		{dq(1, 24, DecimalSI), "1e24", "1000000E"},
		{dq(1234567, 6, DecimalSI), "1234567M", ""},
		{dq(1234567, -3, BinarySI), "1234567m", ""},
		{dq(3, 3, DecimalSI), "3k", ""},
		{dq(1025, 0, BinarySI), "1025", ""},
		{dq(0, 0, DecimalSI), "0", ""},
		{dq(0, 0, BinarySI), "0", ""},
		{dq(1, 9, DecimalExponent), "1e9", ".001e12"},
		{dq(1, -3, DecimalExponent), "1e-3", "0.001e0"},
		{dq(1, -9, DecimalExponent), "1e-9", "1000e-12"},
		{dq(80, -3, DecimalExponent), "80e-3", ""},
		{dq(300, 6, DecimalExponent), "300e6", ""},
		{dq(1, 12, DecimalExponent), "1e12", ""},
		{dq(1, 3, DecimalExponent), "1e3", ""},
		{dq(3, 3, DecimalExponent), "3e3", ""},
		{dq(0, 0, DecimalExponent), "0", "00"},
		{dq(1, -9, DecimalSI), "1n", ""},
		{dq(80, -9, DecimalSI), "80n", ""},
		{dq(1080, -9, DecimalSI), "1080n", ""},
		{dq(108, -8, DecimalSI), "1080n", ""},
		{dq(1, -6, DecimalSI), "1u", ""},
		{dq(80, -6, DecimalSI), "80u", ""},
		{dq(1080, -6, DecimalSI), "1080u", ""},
		{dq(1500, 0, Format("bogus")), "1500", ""},
		{dq(15, 5, Format("")), "1500e3", ""},
		{bq("1180591620717411303424", BinarySI), "1024Ei", ""}, // 2^70
		{bq("1180591620717411303425", BinarySI), "1180591620717411303425", ""},
		{bq("-9223372036854775808", BinarySI), "-8Ei", ""},
		{bq("9223372036854775808", BinarySI), "8Ei", ""},
	}
	for _, tc := range tests {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%s(%#v).String() = %q, want %q", tc.in.Format, tc.in.a, got, tc.want)
		}
		if tc.alt == "" {
			continue
		}
		q, err := ParseQuantity(tc.alt)
		if err != nil {
			t.Errorf("ParseQuantity(%q): %v", tc.alt, err)
			continue
		}
		if got := q.String(); got != tc.want {
			t.Errorf("ParseQuantity(%q).String() = %q, want %q", tc.alt, got, tc.want)
		}
	}
}

func TestValueRounding(t *testing.T) {
	tests := []struct {
		in           string
		value, milli int64
	}{
		{"0", 0, 0},
		{"1", 1, 1000},
		{"100m", 1, 100},
		{"1500m", 2, 1500},
		{"-1500m", -2, -1500},
		{"2000m", 2, 2000},
		{"0.5", 1, 500},
		{"1n", 1, 1},
		{"-1n", -1, -1},
		{"1001u", 1, 2},
		{"-1001u", -1, -2},
		{"999999999n", 1, 1000},
		{"1.000000001", 2, 1001},
		{"128Mi", 128 << 20, 128 << 20 * 1000},
		{"1.5Gi", 1536 << 20, 1536 << 20 * 1000},
		{"1e3", 1000, 1000000},
		{"9223372036854775807", math.MaxInt64, math.MaxInt64},
		{"-9223372036854775808", math.MinInt64, math.MinInt64},
		{"9223372036854775808", math.MaxInt64, math.MaxInt64},
		{"-9223372036854775809", math.MinInt64, math.MinInt64},
		{"9223372036854775.807", 9223372036854776, math.MaxInt64},
		{"9223372036854775.808", 9223372036854776, math.MaxInt64},
		{"-9223372036854775.808", -9223372036854776, math.MinInt64},
		{"9223372036854775807m", 9223372036854776, math.MaxInt64},
		{"1e30", math.MaxInt64, math.MaxInt64},
		{"-1e30", math.MinInt64, math.MinInt64},
		{"18446744073709551616.000000001", math.MaxInt64, math.MaxInt64},
		{"8Ei", math.MaxInt64, math.MaxInt64},
	}
	for _, tc := range tests {
		q := MustParse(tc.in)
		if got := q.Value(); got != tc.value {
			t.Errorf("%s.Value() = %d, want %d", tc.in, got, tc.value)
		}
		if got := q.MilliValue(); got != tc.milli {
			t.Errorf("%s.MilliValue() = %d, want %d", tc.in, got, tc.milli)
		}
	}

	scaled := []struct {
		in    string
		scale Scale
		want  int64
	}{
		{"1n", Nano, 1},
		{"1n", Micro, 1},
		{"1n", 0, 1},
		{"1u", Nano, 1000},
		{"1", Nano, 1e9},
		{"1", Micro, 1e6},
		{"100", Kilo, 1},
		{"1001", Kilo, 2},
		{"-1001", Kilo, -2},
		{"1Gi", Giga, 2},
		{"1Gi", Exa, 1},
		{"1Gi", Scale(math.MaxInt32), 1},
		{"-1Gi", Scale(math.MaxInt32), -1},
		{"1n", Scale(math.MinInt32), math.MaxInt64},
		{"-1n", Scale(math.MinInt32), math.MinInt64},
		{"1e40", Scale(40), 1},
		{"1e40", Scale(41), 1},
		{"1e40", Scale(39), 10},
		{"1e40", Scale(1000), 1},
		{"-1e40", Scale(1000), -1},
		{"1e40", Scale(20), math.MaxInt64},
		{"1e40", Nano, math.MaxInt64},
		{"18446744073709551616.5", Scale(-1), math.MaxInt64},
		{"18446744073709551616.5", Scale(1), 1844674407370955162},
		{"-18446744073709551616.5", Scale(1), -1844674407370955162},
	}
	for _, tc := range scaled {
		if got := MustParse(tc.in).ScaledValue(tc.scale); got != tc.want {
			t.Errorf("%s.ScaledValue(%d) = %d, want %d", tc.in, tc.scale, got, tc.want)
		}
	}

	ints := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1k", 1000, true},
		{"1Gi", 1 << 30, true},
		{"-1Gi", -1 << 30, true},
		{"100m", 0, false},
		{"1.5", 0, false},
		{"9223372036854775808", 0, false},
		{"-9223372036854775808", math.MinInt64, true},
	}
	for _, tc := range ints {
		got, ok := MustParse(tc.in).AsInt64()
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s.AsInt64() = %d, %t; want %d, %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCmp(t *testing.T) {
	tests := []struct {
		x, y string
		want int
	}{
		{"0", "0", 0},
		{"0", "0Gi", 0},
		{"100m", "50m", 1},
		{"50m", "100m", -1},
		{"100m", "0.1", 0},
		{"1", "1000m", 0},
		{"1k", "1e3", 0},
		{"1Ki", "1024", 0},
		{"1Ki", "1k", 1},
		{"10000T", "100Gi", 1},
		{"1Gi", "1G", 1},
		{"-1", "1n", -1},
		{"-1", "-1n", -1},
		{"1n", "0", 1},
		{"9.01", "9.010", 0},
		{"9", "9.01", -1},
		{"800m", "790m", 1},
		{"9223372036854775807", "9223372036854775808", -1},
		{"-9223372036854775808", "-9223372036854775809", 1},
		{"18446744073709551616", "9223372036854775807", 1},
		{"-18446744073709551616", "9223372036854775807", -1},
		{"18446744073709551616", "18446744073709551616.000000001", -1},
		{"9223372036854775807", "9223372036854775806.999999999", 1},
		{"1e99", "1e98", 1},
		{"-1e99", "1n", -1},
		{"100Gi", "9223372036854775.807", -1},
	}
	for _, tc := range tests {
		x, y := MustParse(tc.x), MustParse(tc.y)
		if got := x.Cmp(y); got != tc.want {
			t.Errorf("Cmp(%s, %s) = %d, want %d", tc.x, tc.y, got, tc.want)
		}
		if got := y.Cmp(x); got != -tc.want {
			t.Errorf("Cmp(%s, %s) = %d, want %d", tc.y, tc.x, got, -tc.want)
		}
		if got := x.Equal(y); got != (tc.want == 0) {
			t.Errorf("Equal(%s, %s) = %t", tc.x, tc.y, got)
		}
	}
	if MustParse("1Ki").CmpInt64(1024) != 0 || MustParse("1001m").CmpInt64(1) != 1 || MustParse("-1n").CmpInt64(0) != -1 {
		t.Error("CmpInt64")
	}
}

func TestSignIsZero(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "-0": 0, "0Gi": 0, "1n": 1, "-1n": -1, "1e50": 1, "-1e50": -1} {
		q := MustParse(in)
		if q.Sign() != want || q.IsZero() != (want == 0) {
			t.Errorf("%s: Sign %d IsZero %t", in, q.Sign(), q.IsZero())
		}
	}
	var zero Quantity
	if !zero.IsZero() || zero.Sign() != 0 || zero.String() != "0" || zero.Value() != 0 || zero.MilliValue() != 0 {
		t.Errorf("zero value: %v", zero)
	}
}

func TestAddSub(t *testing.T) {
	tests := []struct {
		x, y       string
		sum, diff  string
		sumFormat  Format
		diffFormat Format
	}{
		{"100m", "200m", "300m", "-100m", DecimalSI, DecimalSI},
		{"1", "500m", "1500m", "500m", DecimalSI, DecimalSI},
		{"1500m", "500m", "2", "1", DecimalSI, DecimalSI},
		{"1Gi", "1Gi", "2Gi", "0", BinarySI, BinarySI},
		{"1Gi", "512Mi", "1536Mi", "512Mi", BinarySI, BinarySI},
		{"1Gi", "1", "1073741825", "1073741823", BinarySI, BinarySI},
		{"1Gi", "100m", "1073741824100m", "1073741823900m", BinarySI, BinarySI},
		{"1", "1Ki", "1025", "-1023", DecimalSI, DecimalSI},
		{"1e3", "1", "1001", "999", DecimalExponent, DecimalExponent},
		{"1e3", "1e3", "2e3", "0", DecimalExponent, DecimalExponent},
		{"0", "1Gi", "1Gi", "-1Gi", BinarySI, BinarySI},        // zero takes y's format
		{"0Ki", "100m", "100m", "-100m", DecimalSI, DecimalSI}, // zero takes y's format
		{"100m", "0", "100m", "100m", DecimalSI, DecimalSI},
		{"1n", "1n", "2n", "0", DecimalSI, DecimalSI},
		// Beyond int64 nano-units (about 9.2 G): memory sums use big.Int.
		{"8Gi", "8Gi", "16Gi", "0", BinarySI, BinarySI},
		{"4Ei", "4Ei", "8Ei", "0", BinarySI, BinarySI},
		{"8Ei", "1", "8Ei", "9223372036854775806", BinarySI, BinarySI},
		{"9223372036854775807", "1", "9223372036854775808", "9223372036854775806", DecimalSI, DecimalSI},
		{"-9223372036854775808", "1", "-9223372036854775807", "-9223372036854775809", DecimalSI, DecimalSI},
		{"9223372036854775.807", "1n", "9223372036854775807000001n", "9223372036854775806999999n", DecimalSI, DecimalSI},
		{"18446744073709551616", "-18446744073709551616", "0", "36893488147419103232", DecimalSI, DecimalSI},
		{"1e99", "1n", "1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001e-9",
			"999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999e-9", DecimalExponent, DecimalExponent},
		{"1E", "1000E", "1001E", "-999E", DecimalSI, DecimalSI},
		{"1000E", "1n", "1000000000000000000000000000001n", "999999999999999999999999999999n", DecimalSI, DecimalSI},
	}
	for _, tc := range tests {
		x, y := MustParse(tc.x), MustParse(tc.y)
		sum := x
		sum.Add(y)
		if got := sum.String(); got != tc.sum || sum.Format != tc.sumFormat {
			t.Errorf("%s + %s = %s (%s), want %s (%s)", tc.x, tc.y, got, sum.Format, tc.sum, tc.sumFormat)
		}
		diff := x
		diff.Sub(y)
		if got := diff.String(); got != tc.diff || diff.Format != tc.diffFormat {
			t.Errorf("%s - %s = %s (%s), want %s (%s)", tc.x, tc.y, got, diff.Format, tc.diff, tc.diffFormat)
		}
		// x itself is unchanged, and (x + y) - y == x.
		if x.String() != MustParse(tc.x).String() {
			t.Errorf("%s modified by Add/Sub: %s", tc.x, x)
		}
		sum.Sub(y)
		if sum.Cmp(x) != 0 {
			t.Errorf("(%s + %s) - %s = %s", tc.x, tc.y, tc.y, sum)
		}
	}
}

func TestNeg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"9.01", "-9010m"},
		{"-1Gi", "1Gi"},
		{"1e50", "-100e48"},
	}
	for _, tc := range tests {
		q := MustParse(tc.in)
		q.Neg()
		if q.String() != tc.want {
			t.Errorf("-%s = %s, want %s", tc.in, q, tc.want)
		}
	}
	// -MinInt64 does not fit an int64.
	q := NewQuantity(math.MinInt64, DecimalSI)
	q.Neg()
	if q.String() != "9223372036854775808" || q.Sign() != 1 {
		t.Errorf("-MinInt64 = %s", q)
	}
	if _, ok := q.AsInt64(); ok {
		t.Error("-MinInt64 fits int64?")
	}
	q.Neg()
	if v, ok := q.AsInt64(); !ok || v != math.MinInt64 {
		t.Errorf("--MinInt64 = %d, %t", v, ok)
	}
	m := NewMilliQuantity(math.MinInt64, DecimalSI)
	m.Neg()
	if m.String() != "9223372036854775808m" {
		t.Errorf("-MinInt64m = %s", m)
	}
	z := Quantity{Format: DecimalSI}
	z.Sub(NewQuantity(math.MinInt64, BinarySI))
	if z.String() != "8Ei" || z.Format != BinarySI {
		t.Errorf("0 - MinInt64 = %s (%s)", z, z.Format)
	}
	// Copies are independent, also when backed by big.Int.
	a := MustParse("1e40")
	b := a
	b.Add(MustParse("1"))
	b.Neg()
	if a.String() != "10e39" {
		t.Errorf("copy aliasing: a = %s", a)
	}
}

func TestNewQuantity(t *testing.T) {
	tests := []struct {
		q    Quantity
		want string
	}{
		{NewQuantity(1, DecimalSI), "1"},
		{NewQuantity(1000, DecimalSI), "1k"},
		{NewQuantity(1234000, DecimalSI), "1234k"},
		{NewQuantity(1024, BinarySI), "1Ki"},
		{NewQuantity(1024*1024, BinarySI), "1Mi"},
		{NewQuantity(1000000, "invalidFormatDefaultsToExponent"), "1e6"},
		{NewQuantity(1000, DecimalExponent), "1e3"},
		{NewQuantity(0, BinarySI), "0"},
		{NewQuantity(-5, DecimalSI), "-5"},
		{NewQuantity(math.MaxInt64, DecimalSI), "9223372036854775807"},
		{NewMilliQuantity(1, DecimalSI), "1m"},
		{NewMilliQuantity(1000, DecimalSI), "1"},
		{NewMilliQuantity(1234000, DecimalSI), "1234"},
		{NewMilliQuantity(1500, DecimalSI), "1500m"},
		{NewMilliQuantity(1024, BinarySI), "1024m"},
		{NewMilliQuantity(1024*1024, BinarySI), "1048576m"},
		{NewMilliQuantity(1024*1000, BinarySI), "1Ki"},
		{NewMilliQuantity(1000000, "invalidFormatDefaultsToExponent"), "1e3"},
		{NewMilliQuantity(math.MaxInt64, DecimalSI), "9223372036854775807m"},
	}
	for _, tc := range tests {
		if got := tc.q.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.q, got, tc.want)
		}
	}
	if v := NewMilliQuantity(250, DecimalSI).MilliValue(); v != 250 {
		t.Errorf("MilliValue = %d", v)
	}
	if v := NewQuantity(1<<40, BinarySI).Value(); v != 1<<40 {
		t.Errorf("Value = %d", v)
	}
}

func TestText(t *testing.T) {
	var q Quantity
	if err := q.UnmarshalText([]byte("1.5Gi")); err != nil || q.String() != "1536Mi" {
		t.Errorf("UnmarshalText: %v %v", q, err)
	}
	if b, _ := q.MarshalText(); string(b) != "1536Mi" {
		t.Errorf("MarshalText: %s", b)
	}
	if err := q.UnmarshalText([]byte("x")); err == nil || q.String() != "1536Mi" {
		t.Errorf("UnmarshalText(x): %v %v", q, err)
	}
	if s := fmt.Sprint(MustParse("0.1"), " ", MustParse("1024Mi")); s != "100m 1Gi" {
		t.Errorf("Sprint = %q", s)
	}
}

// oracle computes the nano-unit value ParseQuantity must produce for
// sign, num.denom and suffix, with big.Rat; ok is false when the decimal
// exponent is too large for it.
func oracle(t *testing.T, in string) (nano *big.Int, ok bool) {
	positive, num, denom, suf, err := scan(in)
	if err != nil {
		t.Fatalf("scan(%q): %v", in, err)
	}
	base, exp, _, _ := interpret(suf)
	if exp > 300 || exp < -300 || len(num)+len(denom) > 300 {
		return nil, false
	}
	x, _ := new(big.Rat).SetString("0" + num + "." + denom + "0")
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(int64(base)), big.NewInt(max(exp, -exp)), nil))
	if exp >= 0 {
		x.Mul(x, scale)
	} else {
		x.Quo(x, scale)
	}
	x.Mul(x, new(big.Rat).SetInt64(1e9))
	q, r := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if base == 2 && q.Cmp(maxBinaryNano) > 0 {
		q.Set(maxBinaryNano)
	}
	if !positive {
		q.Neg(q)
	}
	return q, true
}

// ceilDiv is x / d rounded away from zero, saturated to int64.
func ceilDiv(x *big.Int, d int64) int64 {
	q, r := new(big.Int).QuoRem(x, big.NewInt(d), new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(int64(x.Sign())))
	}
	switch {
	case q.IsInt64():
		return q.Int64()
	case q.Sign() > 0:
		return math.MaxInt64
	}
	return math.MinInt64
}

func checkQuantity(t *testing.T, in string) {
	q, err := ParseQuantity(in)
	if err != nil {
		return
	}
	// The representation is normalized.
	if q.a.b == nil {
		if q.a.s < -9 || q.a.s > 0 || (q.a.s < 0 && q.a.v%10 == 0) {
			t.Fatalf("%q: not normalized: %#v", in, q.a)
		}
	} else if q.a.b.IsInt64() || q.a.b.Sign() == 0 {
		t.Fatalf("%q: big but fits: %#v", in, q.a)
	}
	// The value matches an independent computation.
	want, ok := oracle(t, in)
	if ok && q.a.nano().Cmp(want) != 0 {
		t.Fatalf("%q: value %s nano, want %s", in, q.a.nano(), want)
	}
	if ok {
		if v := q.Value(); v != ceilDiv(want, 1e9) {
			t.Fatalf("%q: Value %d, want %d", in, v, ceilDiv(want, 1e9))
		}
		if v := q.MilliValue(); v != ceilDiv(want, 1e6) {
			t.Fatalf("%q: MilliValue %d, want %d", in, v, ceilDiv(want, 1e6))
		}
	}
	// The canonical string parses back to the same value...
	s := q.String()
	q2, err := ParseQuantity(s)
	if err != nil {
		t.Fatalf("%q: String %q does not parse: %v", in, s, err)
	}
	if q2.Cmp(q) != 0 {
		t.Fatalf("%q: String %q parses to %s", in, s, q2)
	}
	// ...and is canonical: no fraction, no sign unless negative.
	if strings.ContainsAny(s, ".+") || (s[0] == '-') != (q.Sign() < 0) {
		t.Fatalf("%q: String %q is not canonical", in, s)
	}
	// Arithmetic identities.
	d := q
	d.Add(q)
	d.Sub(q)
	if d.Cmp(q) != 0 {
		t.Fatalf("%q: q + q - q = %s", in, d)
	}
	n := q
	n.Neg()
	if n.Sign() != -q.Sign() || q.Cmp(n) != q.Sign() {
		t.Fatalf("%q: -q = %s", in, n)
	}
	n.Add(q)
	if !n.IsZero() {
		t.Fatalf("%q: -q + q = %s", in, n)
	}
}

func TestRandomQuantities(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	suffixes := []string{"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "e3", "e-3", "E+12", "e-12", "e20", "e40"}
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.Intn(10))
		}
		return string(b)
	}
	for range 20000 {
		s := []string{"", "-", "+"}[r.Intn(3)] + digits(r.Intn(22))
		if r.Intn(2) == 0 {
			s += "." + digits(r.Intn(14))
		}
		s += suffixes[r.Intn(len(suffixes))]
		checkQuantity(t, s)
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{
		"0", "100m", "0.1", "1", "2000m", "128Mi", "1Gi", "1024Mi", "500M", "1.5Gi",
		"1e3", "1E-3", "-1.5", "+2k", ".5", "1.", ".", "8Ei", "1.000000001n",
		"18446744073709551616", "1e99", "1e100", "0.0009765625Ki", "1e-9999", "1x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkQuantity(t, s)
	})
}
