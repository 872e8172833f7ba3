package runtime

import (
	"reflect"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/reflect/protoreflect"

	metav1 "kubelab.io/proto/api/meta/v1"
)

// The direct decoder fills generated messages straight from the JSON bytes, without the tree
// scanJSON builds for them. It reads a document twice: first the scanner checks all of it
// (check mode), so that a syntax error, a duplicate key or too deep nesting anywhere is
// reported before any type error, as when the whole tree was built first, and records how
// long each array and object is and where it ends; then the decoder walks the same bytes
// assuming they are valid, writing the fields the fast decoder writes (json_fast.go) as it
// meets them. Whatever else there is to decode (the protoreflect path, the meta types that
// are scalars on the wire, the less common scalar fields, and every value of the wrong type)
// it reads as the tree it would have been and hands to the tree decoder, so the two cannot
// disagree on what a value means, on unknown fields or on errors.

type directDecoder struct {
	decoder
	s    jsonScanner // in check mode, with the document's spans
	span int         // the span of the next array or object to open
}

// directDecoders keeps the decoders' scratch space (spans, the scanner's key stack, the
// path) from one request body to the next.
var directDecoders = sync.Pool{New: func() any { return new(directDecoder) }}

// maxPooledSpans bounds what an unusually large document leaves in the pool.
const maxPooledSpans = 1 << 12

// newDirectDecoder checks data and returns a decoder at its start; release it when done.
func newDirectDecoder(data []byte) (*directDecoder, error) {
	d := directDecoders.Get().(*directDecoder)
	if err := d.s.checkDocument(data); err != nil {
		d.release()
		return nil, err
	}
	return d, nil
}

// release returns d to the pool, keeping nothing of the document: its unknown fields are
// the caller's, and strings left in the scratch space would keep the whole body alive.
func (d *directDecoder) release() {
	if cap(d.s.spans) > maxPooledSpans {
		return
	}
	clear(d.s.keys[:cap(d.s.keys)])
	clear(d.path[:cap(d.path)])
	*d = directDecoder{
		decoder: decoder{path: d.path[:0]},
		s:       jsonScanner{keys: d.s.keys[:0], unq: d.s.unq[:0], spans: d.s.spans[:0]},
	}
	directDecoders.Put(d)
}

// peek returns the first byte of the next value.
func (d *directDecoder) peek() byte {
	d.s.skipSpace()
	return d.s.data[d.s.pos]
}

// tree reads the next value as the tree scanJSON would have built for it, for the tree
// decoder.
func (d *directDecoder) tree() any {
	if c := d.peek(); c == '{' || c == '[' {
		d.span = d.s.spans[d.span].next
	}
	d.s.check = false
	v, _ := d.s.value(0) // checked already, and nested no deeper than the whole document
	d.s.check = true
	return v
}

// skip moves past the next value.
func (d *directDecoder) skip() {
	if c := d.peek(); c == '{' || c == '[' {
		sp := d.s.spans[d.span]
		d.s.pos, d.span = sp.end, sp.next
		return
	}
	_, _ = d.s.value(0)
}

// open moves into the next value, an array or object, and returns its length.
func (d *directDecoder) open() int {
	d.peek()
	d.s.pos++
	n := d.s.spans[d.span].n
	d.span++
	return n
}

// item moves to the start of element i of the open array or object.
func (d *directDecoder) item(i int) {
	if i > 0 {
		d.peek()
		d.s.pos++ // ','
	}
}

// key moves past key i of the open object and returns it.
func (d *directDecoder) key(i int) string {
	d.item(i)
	d.peek()
	k, _ := d.s.string()
	d.peek()
	d.s.pos++ // ':'
	return k
}

// close moves past the end of the open array or object.
func (d *directDecoder) close() {
	d.peek()
	d.s.pos++
}

// decode decodes the document into m, as decoder.message decodes its tree.
func (d *directDecoder) decode(m protoreflect.Message) error {
	root := fieldPath{d: &d.decoder}
	if p, mi := fastTarget(m); mi != nil {
		return d.message(p, mi, root)
	}
	return d.messageAt(m, d.tree(), root)
}

// typeFields returns the document's apiVersion and kind, as typeFields does from a tree,
// without moving d.
func (d *directDecoder) typeFields() (apiVersion, kind string) {
	ahead := *d
	for i, n := 0, ahead.open(); i < n; i++ {
		key := ahead.key(i)
		if ahead.peek() == '"' && (key == "apiVersion" || key == "kind") {
			s, _ := ahead.s.string()
			if key == "apiVersion" {
				apiVersion = s
			} else {
				kind = s
			}
			continue
		}
		ahead.skip()
	}
	return apiVersion, kind
}

// message decodes the next value into the message of type mi at p, as fastMessage does.
func (d *directDecoder) message(p unsafe.Pointer, mi *fastMsg, path fieldPath) error {
	// A string or number is boxed here, not in tree, so on the stack: fastMessage keeps
	// no box, and the meta types that are strings on the wire are common.
	switch c := d.peek(); {
	case c == '{' && !mi.fallback && mi.special == "":
	case c == '"':
		str, _ := d.s.string()
		return d.fastMessage(p, mi, str, path)
	case c == '-' || isDigit(c):
		num, _ := d.s.number()
		return d.fastMessage(p, mi, num, path)
	default:
		return d.fastMessage(p, mi, d.tree(), path)
	}
	for i, n := 0, d.open(); i < n; i++ {
		key := d.key(i)
		fpath := path.child(pathSeg{name: key, kind: pathField})
		f := mi.fields[key]
		if f == nil {
			d.unknown = append(d.unknown, fpath.String())
			d.skip()
			continue
		}
		if d.peek() == 'n' {
			d.skip()
			continue // null means unset, as for a Go pointer or omitempty field
		}
		if err := d.field(p, mi, f, fpath); err != nil {
			return err
		}
	}
	d.close()
	return nil
}

// field decodes the next value into field f of the message at p, as fastField does.
func (d *directDecoder) field(p unsafe.Pointer, mi *fastMsg, f *fastField, path fieldPath) error {
	fp := unsafe.Add(p, f.off)
	switch c := d.peek(); {
	case f.op == opString && c == '"':
		*(*string)(fp), _ = d.s.string()
	case f.op == opMessage:
		emi := f.elemInfo()
		child := *(*unsafe.Pointer)(fp)
		if child == nil {
			child = emi.newMessages(1)
			*(*unsafe.Pointer)(fp) = child
		}
		return d.message(child, emi, path)
	case f.op == opListString && c == '[':
		n := d.open()
		if n == 0 {
			d.close()
			return nil
		}
		out := make([]string, n)
		for i := range out {
			d.item(i)
			if d.peek() != '"' {
				return typeError(path.child(pathSeg{index: i, kind: pathIndex}), d.tree(), "string")
			}
			out[i], _ = d.s.string()
		}
		d.close()
		*(*[]string)(fp) = append(*(*[]string)(fp), out...)
	case f.op == opListMessage && c == '[':
		n := d.open()
		if n == 0 {
			d.close()
			return nil
		}
		emi := f.elemInfo()
		base := emi.newMessages(n)
		// []*T has the layout of []unsafe.Pointer.
		out := make([]unsafe.Pointer, n)
		for i := range out {
			d.item(i)
			elem := unsafe.Add(base, uintptr(i)*emi.size)
			out[i] = elem
			if d.peek() == 'n' {
				d.skip()
				continue
			}
			if err := d.message(elem, emi, path.child(pathSeg{index: i, kind: pathIndex})); err != nil {
				return err
			}
		}
		d.close()
		list := (*[]unsafe.Pointer)(fp)
		*list = append(*list, out...)
	case f.op == opMapString && c == '{':
		n := d.open()
		mp := *(*map[string]string)(fp)
		if mp == nil {
			mp = make(map[string]string, n)
			*(*map[string]string)(fp) = mp
		}
		for i := 0; i < n; i++ {
			key := d.key(i)
			switch d.peek() {
			case '"':
				mp[key], _ = d.s.string()
			case 'n':
				d.skip()
				mp[key] = ""
			default:
				return typeError(path.child(pathSeg{name: key, kind: pathMapKey}), d.tree(), "string")
			}
		}
		d.close()
	case f.op == opMapQuantity && c == '{':
		n := d.open()
		mp := *(*map[string]*metav1.Quantity)(fp)
		if mp == nil {
			mp = make(map[string]*metav1.Quantity, n)
			*(*map[string]*metav1.Quantity)(fp) = mp
		}
		qs := make([]metav1.Quantity, n)
		for i := range qs {
			key := d.key(i)
			q := &qs[i]
			switch c := d.peek(); {
			case c == '"':
				q.String_, _ = d.s.string()
			case c == '-' || isDigit(c):
				num, _ := d.s.number()
				q.String_ = string(num)
			case c == 'n':
				d.skip()
			default:
				return typeError(path.child(pathSeg{name: key, kind: pathMapKey}), d.tree(), "quantity")
			}
			mp[key] = q
		}
		d.close()
	case f.op == opMapMessage && c == '{':
		n := d.open()
		mv := reflect.NewAt(f.goType, fp).Elem()
		if mv.IsNil() {
			mv.Set(reflect.MakeMapWithSize(f.goType, n))
		}
		emi := f.elemInfo()
		for i := 0; i < n; i++ {
			key := d.key(i)
			elem := emi.newMessages(1)
			if d.peek() == 'n' {
				d.skip()
			} else if err := d.message(elem, emi, path.child(pathSeg{name: key, kind: pathMapKey})); err != nil {
				return err
			}
			mv.SetMapIndex(reflect.ValueOf(key), reflect.NewAt(emi.typ, elem))
		}
		d.close()
	// The other scalars, the protoreflect path and values of the wrong type. A string or
	// number is boxed here, not in tree, so on the stack: fastField keeps no box.
	case c == '"':
		str, _ := d.s.string()
		return d.fastField(p, mi, f, str, path)
	case c == '-' || isDigit(c):
		num, _ := d.s.number()
		return d.fastField(p, mi, f, num, path)
	default:
		return d.fastField(p, mi, f, d.tree(), path)
	}
	return nil
}
