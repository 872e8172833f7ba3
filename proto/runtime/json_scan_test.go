package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
)

// referenceParse is the parser the scanner replaced (encoding/json's Decoder.Token), kept
// as the reference for what the scanner refuses beyond the grammar: duplicate keys and
// nesting deeper than MaxJSONDepth.
func referenceParse(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := referenceValue(dec, 0)
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, &DecodeError{Msg: "invalid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &DecodeError{Msg: "invalid JSON: unexpected data after the top-level value"}
	}
	return v, nil
}

func referenceValue(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxJSONDepth {
		return nil, &DecodeError{Msg: fmt.Sprintf("invalid JSON: nested deeper than %d levels", MaxJSONDepth)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if d == '[' {
		arr := []any{}
		for dec.More() {
			v, err := referenceValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, err
	}
	obj := &jsonObject{}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := kt.(string)
		if seen[key] {
			return nil, &DecodeError{Msg: fmt.Sprintf("duplicate field %q", key)}
		}
		seen[key] = true
		v, err := referenceValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		obj.keys = append(obj.keys, key)
		obj.vals = append(obj.vals, v)
	}
	_, err = dec.Token()
	return obj, err
}

// plain turns a tree into what json.Unmarshal (UseNumber) gives for the same document,
// checking on the way that object keys are unique.
func plain(t *testing.T, v any) any {
	switch x := v.(type) {
	case *jsonObject:
		if len(x.keys) != len(x.vals) {
			t.Fatalf("object with %d keys and %d values", len(x.keys), len(x.vals))
		}
		m := make(map[string]any, len(x.keys))
		for i, k := range x.keys {
			if _, dup := m[k]; dup {
				t.Fatalf("duplicate key %q in tree", k)
			}
			m[k] = plain(t, x.vals[i])
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(t, e)
		}
		return out
	case nil, bool, json.Number, string:
		return x
	default:
		t.Fatalf("unexpected %T in tree", v)
		return nil
	}
}

func scannerSeeds(f interface{ Add(...any) }) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range scannerCases {
		f.Add([]byte(s))
	}
}

// scannerCases are documents at the edges of the grammar, valid and not.
var scannerCases = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `nulll`, `tru`, `trUe`, `0`, `-0`, `01`, `-01`, `1.`, `.1`,
	`1.5e3`, `1E+3`, `1e-3`, `1e`, `1e+`, `-`, `+1`, `0x1`, `1_000`, `123456789012345678901234567890`,
	`""`, `"a"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u2028"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`,
	`"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`, `"\ud83dx"`, `"\ud83d\"`, `"\ud83d\u12"`, `"\u12"`,
	`"\uZZZZ"`, `"\x"`, `"\'"`, `"a` + "\x00" + `"`, `"a` + "\n" + `"`, `"a` + "\x7f" + `"`,
	"\"\xff\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"é\xe9\"", "\"\\n\xff\"",
	`[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `[1,,2]`, `[`, `]`, `[1`, `[1,`, `[[[]]]`, `[{}]`,
	`{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":}`, `{"a"}`, `{a:1}`, `{'a':1}`,
	`{"a":1 "b":2}`, `{"a":1,"a":2}`, `{"a":1,"b":{"a":2}}`, `{"a":{"b":1,"b":2}}`, `{"\u0061":1,"a":2}`,
	"{\"\xff\":1,\"\xfe\":2}", `{"a":[1,{"b":null}],"c":"d"}`, `{"":1}`, `{"":1,"":2}`,
	`{} {}`, `{}x`, `1 2`, `"a""b"`, ` {"a" : 1 } `, "\t\n\r{}\r\n\t", "\u00a0{}", "\ufeff{}",
	`{"a":1}}`, `[1]]`, `{"a":[}`, `{"a":{]`,
	strings.Repeat(`[`, MaxJSONDepth+1) + strings.Repeat(`]`, MaxJSONDepth+1),
	strings.Repeat(`[`, MaxJSONDepth+2) + strings.Repeat(`]`, MaxJSONDepth+2),
	strings.Repeat(`[`, MaxJSONDepth+1) + `1` + strings.Repeat(`]`, MaxJSONDepth+1),
	strings.Repeat(`[`, MaxJSONDepth) + `1` + strings.Repeat(`]`, MaxJSONDepth),
	strings.Repeat(`{"a":`, MaxJSONDepth) + `1` + strings.Repeat(`}`, MaxJSONDepth),
	strings.Repeat(`{"a":`, MaxJSONDepth+1) + `1` + strings.Repeat(`}`, MaxJSONDepth+1),
	bigObject(40, false), bigObject(40, true),
}

// bigObject has n keys, so duplicates are found past the linear scan; dup repeats the first.
func bigObject(n int, dup bool) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	if dup {
		b.WriteString(`"k0":0,`)
	}
	b.WriteString(`"last":true}`)
	return b.String()
}

// checkScanner compares the scanner with encoding/json and with the reference parser.
func checkScanner(t *testing.T, data []byte) {
	got, err := parseJSON(data)
	refVal, refErr := referenceParse(data)
	if !json.Valid(data) {
		if err == nil {
			t.Fatalf("scanner accepts what encoding/json refuses: %q -> %#v", data, got)
		}
		if !strings.HasPrefix(err.Error(), "invalid JSON: ") && !strings.HasPrefix(err.Error(), "duplicate field ") {
			t.Fatalf("error %q for %q", err, data)
		}
		return
	}
	// Valid JSON: the scanner refuses only what the reference refuses (duplicate keys,
	// depth), with the same words.
	if (err == nil) != (refErr == nil) {
		t.Fatalf("%q: scanner error %v, reference error %v", data, err, refErr)
	}
	if err != nil {
		if err.Error() != refErr.Error() {
			t.Fatalf("%q: scanner error %q, reference error %q", data, err, refErr)
		}
		return
	}
	var want any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("%q: encoding/json: %v", data, err)
	}
	if p := plain(t, got); !reflect.DeepEqual(p, want) {
		t.Fatalf("%q:\nscanner:       %#v\nencoding/json: %#v", data, p, want)
	}
	if !reflect.DeepEqual(plain(t, got), plain(t, refVal)) {
		t.Fatalf("%q: scanner and reference trees differ", data)
	}
	// Key order is the document's.
	if obj, ok := got.(*jsonObject); ok {
		if ref := refVal.(*jsonObject); !reflect.DeepEqual(obj.keys, ref.keys) {
			t.Fatalf("%q: keys %q, want %q", data, obj.keys, ref.keys)
		}
	}
}

func TestScannerCases(t *testing.T) {
	for _, c := range scannerCases {
		checkScanner(t, []byte(c))
	}
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checkScanner(t, b)
	}
}

func TestScannerErrors(t *testing.T) {
	for in, want := range map[string]string{
		``:                  "invalid JSON: unexpected end of input",
		`{"a":`:             "invalid JSON: unexpected end of input",
		`[1,]`:              "invalid JSON: invalid character ']' looking for beginning of value",
		`{"a":1,}`:          "invalid JSON: invalid character '}' looking for beginning of object key string",
		`01`:                "invalid JSON: unexpected data after the top-level value",
		`[01]`:              "invalid JSON: invalid character '1' after array element",
		`{"a" 1}`:           "invalid JSON: invalid character '1' after object key",
		`{"a":1 "b":2}`:     `invalid JSON: invalid character '"' after object key:value pair`,
		`"\x"`:              "invalid JSON: invalid character 'x' in string escape code",
		`"\u12x4"`:          `invalid JSON: invalid character 'x' in \u hexadecimal character escape`,
		"\"a\tb\"":          `invalid JSON: invalid character '\t' in string literal`,
		`1.x`:               "invalid JSON: invalid character 'x' after decimal point in numeric literal",
		`1ex`:               "invalid JSON: invalid character 'x' in exponent of numeric literal",
		`-x`:                "invalid JSON: invalid character 'x' in numeric literal",
		`trux`:              "invalid JSON: invalid character 'x' in literal true (expecting 'e')",
		`{"a":1,"a":2}`:     `duplicate field "a"`,
		bigObject(40, true): `duplicate field "k0"`,
		strings.Repeat(`[`, MaxJSONDepth+2) + strings.Repeat(`]`, MaxJSONDepth+2): "invalid JSON: nested deeper than 100 levels",
	} {
		_, err := parseJSON([]byte(in))
		if err == nil || err.Error() != want {
			t.Errorf("%.40q: got %v, want %s", in, err, want)
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%.40q: %T is not a *DecodeError", in, err)
		}
	}
}

// TestScannerInvalidUTF8: invalid UTF-8 in strings becomes U+FFFD, as encoding/json does.
func TestScannerInvalidUTF8(t *testing.T) {
	v, err := parseJSON([]byte("{\"a\xff\":\"b\xc3(\\u00e9\\ud800\"}"))
	if err != nil {
		t.Fatal(err)
	}
	obj := v.(*jsonObject)
	if obj.keys[0] != "a\uFFFD" || obj.vals[0] != "b\uFFFD(é\uFFFD" {
		t.Fatalf("got %q: %q", obj.keys[0], obj.vals[0])
	}
}

// TestDecodePaths: errors and unknown fields name their place, through lists and maps.
func TestDecodePaths(t *testing.T) {
	for in, want := range map[string]string{
		`{"spec":{"containers":[{"name":"a"},{"name":"b","ports":[{"containerPort":"80"}]}]}}`: "spec.containers[1].ports[0].containerPort: cannot unmarshal string",
		`{"metadata":{"labels":{"app":1}}}`:                                                    "metadata.labels.app: cannot unmarshal number",
		`{"metadata":{"labels":{"":1}}}`:                                                       "metadata.labels.: cannot unmarshal number",
		`{"spec":{"containers":[{"name":"a"},[]]}}`:                                            "spec.containers[1]: cannot unmarshal array into a field of type object",
		`{"spec":{"containers":[{"resources":{"limits":{"cpu":true}}}]}}`:                      "spec.containers[0].resources.limits.cpu: cannot unmarshal bool into a field of type quantity",
	} {
		_, err := UnmarshalJSON([]byte(in), &corev1.Pod{})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %s…", in, err, want)
		}
	}
	unknown, err := UnmarshalJSON([]byte(`{"x":1,"spec":{"containers":[{},{"imagee":"a","ports":[{},{"y":2}]}]},"metadata":{"labels":{"a":"b"},"":3}}`), &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"x", "spec.containers[1].imagee", "spec.containers[1].ports[1].y", "metadata."}
	if !reflect.DeepEqual(unknown, want) {
		t.Fatalf("unknown = %q, want %q", unknown, want)
	}
}

// FuzzScannerMatchesEncodingJSON: the scanner accepts exactly what encoding/json accepts,
// less duplicate keys and excessive depth, and reads the same values.
func FuzzScannerMatchesEncodingJSON(f *testing.F) {
	scannerSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanner(t, data)
	})
}

func BenchmarkParseJSON(b *testing.B) {
	data, err := os.ReadFile("testdata/pod-full.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name  string
		parse func([]byte) (any, error)
	}{{"scanner", parseJSON}, {"reference", referenceParse}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := impl.parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("UnmarshalJSON", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := UnmarshalJSON(data, &corev1.Pod{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMarshalJSON(b *testing.B) {
	pod := readPod(b, "testdata/pod-full.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MarshalJSON(pod); err != nil {
			b.Fatal(err)
		}
	}
}
