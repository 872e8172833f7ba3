package runtime

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner reads one JSON document (RFC 8259, strictly) in a single pass over its bytes
// into the tree parseJSON returns: nil, bool, json.Number, string, []any and *jsonObject.
//
// It keeps allocation low: the input is copied into one string once, so strings without
// escapes and numbers are slices of it; the values of open arrays and objects collect on a
// shared scratch stack and are copied, exactly sized, out of slabs shared by the whole tree.
// Strings are read as encoding/json reads them: invalid UTF-8 and lone surrogate escapes
// become U+FFFD.
//
// In check mode it builds no values: it only validates, and records each array and object
// as a jsonSpan, which is what the direct decoder (json_direct.go) needs to walk the
// same bytes again without checking them.
type jsonScanner struct {
	data []byte
	str  string // data as a string; escape-free strings and numbers are slices of it
	pos  int

	vals    []any    // scratch stack: the values of the arrays and objects being read
	keys    []string // scratch stack: the keys of the objects being read
	unq     []byte   // scratch for strings with escapes
	valSlab []any
	keySlab []string
	objSlab []jsonObject

	check bool
	spans []jsonSpan // check mode: the arrays and objects read, in the order they open
}

// jsonSpan is one array or object of a checked document.
type jsonSpan struct {
	n    int // elements or keys
	end  int // the offset just past its closing bracket
	next int // the index of the first span after its own and its children's
}

const (
	slabVals = 64
	slabObjs = 16
	// objects with more keys than this check duplicates with a map, not a linear scan
	dupScanMax = 16
)

// Errors are made fresh each time: a caller may keep or change what it gets.
func errJSONEOF() error {
	return &DecodeError{Msg: "invalid JSON: unexpected end of input"}
}

func errJSONTrailing() error {
	return &DecodeError{Msg: "invalid JSON: unexpected data after the top-level value"}
}

func errJSONDepth() error {
	return &DecodeError{Msg: fmt.Sprintf("invalid JSON: nested deeper than %d levels", MaxJSONDepth)}
}

var (
	// emptyArray is every [] in a tree: nothing can be appended to it in place.
	emptyArray any = []any{}
)

func scanJSON(data []byte) (any, error) {
	s := jsonScanner{data: data, str: string(data)}
	return s.document()
}

// checkDocument validates data as scanJSON would read it, building no values. It leaves s
// at data's start, in check mode, with data's spans; s keeps the scratch space of the last
// document it read.
func (s *jsonScanner) checkDocument(data []byte) error {
	*s = jsonScanner{data: data, str: string(data), check: true,
		keys: s.keys[:0], unq: s.unq[:0], spans: s.spans[:0]}
	_, err := s.document()
	s.pos = 0
	return err
}

// document reads the one value data holds, and nothing after it but white space.
func (s *jsonScanner) document() (any, error) {
	v, err := s.value(0)
	if err != nil {
		return nil, err
	}
	s.skipSpace()
	if s.pos < len(s.data) {
		return nil, errJSONTrailing()
	}
	return v, nil
}

// syntaxErr words a bad byte as encoding/json does.
func (s *jsonScanner) syntaxErr(context string) error {
	return &DecodeError{Msg: "invalid JSON: invalid character " + quoteChar(s.data[s.pos]) + " " + context}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	q := strconv.Quote(string(rune(c)))
	return "'" + q[1:len(q)-1] + "'"
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads the value at s.pos (after any white space), nested depth levels deep.
func (s *jsonScanner) value(depth int) (any, error) {
	if depth > MaxJSONDepth {
		return nil, errJSONDepth()
	}
	s.skipSpace()
	if s.pos >= len(s.data) {
		return nil, errJSONEOF()
	}
	switch c := s.data[s.pos]; c {
	case '{':
		return s.object(depth)
	case '[':
		return s.array(depth)
	case '"':
		str, err := s.string()
		if err != nil || s.check {
			return nil, err // no string boxed into an any for nothing
		}
		return str, nil
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	case 'n':
		return nil, s.literal("null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			n, err := s.number()
			if err != nil || s.check {
				return nil, err
			}
			return n, nil
		}
		return nil, s.syntaxErr("looking for beginning of value")
	}
}

func (s *jsonScanner) literal(lit string) error {
	s.pos++
	for i := 1; i < len(lit); i++ {
		if s.pos >= len(s.data) {
			return errJSONEOF()
		}
		if s.data[s.pos] != lit[i] {
			return s.syntaxErr(fmt.Sprintf("in literal %s (expecting %s)", lit, quoteChar(lit[i])))
		}
		s.pos++
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *jsonScanner) number() (json.Number, error) {
	start := s.pos
	d := s.data
	if d[s.pos] == '-' {
		s.pos++
		if s.pos >= len(d) {
			return "", errJSONEOF()
		}
	}
	switch c := d[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.pos++
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	default:
		return "", s.syntaxErr("in numeric literal")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.pos >= len(d) {
			return "", errJSONEOF()
		}
		if !isDigit(d[s.pos]) {
			return "", s.syntaxErr("after decimal point in numeric literal")
		}
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.pos >= len(d) {
			return "", errJSONEOF()
		}
		if !isDigit(d[s.pos]) {
			return "", s.syntaxErr("in exponent of numeric literal")
		}
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	}
	return json.Number(s.str[start:s.pos]), nil
}

// plainByte holds the bytes that may be copied as they are from a string: not a quote, a
// backslash, a control character or part of a multi-byte UTF-8 sequence.
var plainByte = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// string reads the string at s.pos (its opening quote).
func (s *jsonScanner) string() (string, error) {
	start := s.pos + 1
	d := s.data
	// Strings are most of a Kubernetes document, and all but a few of their bytes are
	// plain: those are skipped in a tight loop, with the position in a register.
	i := start
	for {
		for i < len(d) && plainByte[d[i]] {
			i++
		}
		if i >= len(d) {
			s.pos = i
			return "", errJSONEOF()
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return s.str[start:i], nil
		case c == '\\' || c < ' ':
			s.pos = i
			return s.unquote(start)
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				s.pos = i
				return s.unquote(start)
			}
			i += size
		}
	}
}

// unquote reads the rest of a string that has escapes or invalid UTF-8, as encoding/json's
// unquote does; d[start:s.pos] is plain.
func (s *jsonScanner) unquote(start int) (string, error) {
	d := s.data
	b := append(s.unq[:0], d[start:s.pos]...)
	defer func() { s.unq = b[:0] }()
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return string(b), nil
		case c < ' ':
			return "", s.syntaxErr("in string literal")
		case c == '\\':
			s.pos++
			if s.pos >= len(d) {
				return "", errJSONEOF()
			}
			switch e := d[s.pos]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				s.pos++
				r, err := s.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					// A pair only if another \u escape follows and completes it; otherwise
					// U+FFFD, and whatever follows is read on its own.
					if s.pos+1 < len(d) && d[s.pos] == '\\' && d[s.pos+1] == 'u' {
						save := s.pos
						s.pos += 2
						r2, err := s.hex4()
						if err != nil {
							return "", err
						}
						if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
							b = utf8.AppendRune(b, dec)
							continue
						}
						s.pos = save
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return "", s.syntaxErr("in string escape code")
			}
			s.pos++
		case c < utf8.RuneSelf:
			b = append(b, c)
			s.pos++
		default:
			r, size := utf8.DecodeRune(d[s.pos:])
			b = utf8.AppendRune(b, r) // U+FFFD for an invalid byte
			s.pos += size
		}
	}
	return "", errJSONEOF()
}

// hex4 reads the four hex digits of a \u escape.
func (s *jsonScanner) hex4() (rune, error) {
	var r rune
	for i := 0; i < 4; i++ {
		if s.pos >= len(s.data) {
			return 0, errJSONEOF()
		}
		c := s.data[s.pos]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, s.syntaxErr(`in \u hexadecimal character escape`)
		}
		r = r<<4 | rune(c)
		s.pos++
	}
	return r, nil
}

func (s *jsonScanner) array(depth int) (any, error) {
	s.pos++
	base := len(s.vals)
	span := s.openSpan()
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.closeSpan(span, 0)
		return emptyArray, nil
	}
	for n := 1; ; n++ {
		v, err := s.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if !s.check {
			s.vals = append(s.vals, v)
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, errJSONEOF()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			if s.check {
				s.closeSpan(span, n)
				return nil, nil
			}
			return s.takeVals(base), nil
		default:
			return nil, s.syntaxErr("after array element")
		}
	}
}

func (s *jsonScanner) object(depth int) (any, error) {
	s.pos++
	base, kbase := len(s.vals), len(s.keys)
	span := s.openSpan()
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.closeSpan(span, 0)
		if s.check {
			return nil, nil
		}
		return s.newObject(), nil
	}
	var seen map[string]struct{}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, errJSONEOF()
		}
		if s.data[s.pos] != '"' {
			return nil, s.syntaxErr("looking for beginning of object key string")
		}
		key, err := s.string()
		if err != nil {
			return nil, err
		}
		if seen != nil {
			if _, dup := seen[key]; dup {
				return nil, duplicateField(key)
			}
			seen[key] = struct{}{}
		} else {
			open := s.keys[kbase:]
			for _, k := range open {
				if k == key {
					return nil, duplicateField(key)
				}
			}
			if len(open) >= dupScanMax {
				seen = make(map[string]struct{}, 2*len(open))
				for _, k := range open {
					seen[k] = struct{}{}
				}
				seen[key] = struct{}{}
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, errJSONEOF()
		}
		if s.data[s.pos] != ':' {
			return nil, s.syntaxErr("after object key")
		}
		s.pos++
		v, err := s.value(depth + 1)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, key)
		if !s.check {
			s.vals = append(s.vals, v)
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, errJSONEOF()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			if s.check {
				s.closeSpan(span, len(s.keys)-kbase)
				s.keys = s.keys[:kbase]
				return nil, nil
			}
			obj := s.newObject()
			obj.keys = s.takeKeys(kbase)
			obj.vals = s.takeVals(base)
			return obj, nil
		default:
			return nil, s.syntaxErr("after object key:value pair")
		}
	}
}

// openSpan starts the span of the array or object just opened, in check mode.
func (s *jsonScanner) openSpan() int {
	if !s.check {
		return 0
	}
	s.spans = append(s.spans, jsonSpan{})
	return len(s.spans) - 1
}

func (s *jsonScanner) closeSpan(i, n int) {
	if !s.check {
		return
	}
	s.spans[i] = jsonSpan{n: n, end: s.pos, next: len(s.spans)}
}

func duplicateField(key string) error {
	return &DecodeError{Msg: fmt.Sprintf("duplicate field %q", key)}
}

func (s *jsonScanner) newObject() *jsonObject {
	if len(s.objSlab) == 0 {
		s.objSlab = make([]jsonObject, slabObjs)
	}
	obj := &s.objSlab[0]
	s.objSlab = s.objSlab[1:]
	return obj
}

// takeVals moves the scratch values from base on into an exactly sized slice.
func (s *jsonScanner) takeVals(base int) []any {
	n := len(s.vals) - base
	if len(s.valSlab) < n {
		s.valSlab = make([]any, max(slabVals, n))
	}
	out := s.valSlab[:n:n]
	s.valSlab = s.valSlab[n:]
	copy(out, s.vals[base:])
	clear(s.vals[base:])
	s.vals = s.vals[:base]
	return out
}

func (s *jsonScanner) takeKeys(base int) []string {
	n := len(s.keys) - base
	if len(s.keySlab) < n {
		s.keySlab = make([]string, max(slabVals, n))
	}
	out := s.keySlab[:n:n]
	s.keySlab = s.keySlab[n:]
	copy(out, s.keys[base:])
	s.keys = s.keys[:base]
	return out
}
