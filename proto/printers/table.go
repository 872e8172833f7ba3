// Package printers turns API objects into Kubernetes' meta.k8s.io/v1 Table: the columns and
// cells `kubectl get` prints. The column definitions and the cell logic follow Kubernetes'
// pkg/printers/internalversion, so stock kubectl shows the same output against kubelab as
// against kube-apiserver, and kubelab's own kubectl prints with the same code. Everything here
// is a pure function of the objects and Options.Now: no HTTP, no clock.
package printers

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
)

// DefaultGroupVersion is the apiVersion of Tables and PartialObjectMetadata by default.
const DefaultGroupVersion = "meta.k8s.io/v1"

// Table is meta.k8s.io/v1 Table (v1beta1 has the same shape). Cells are strings, int64s or
// bools, as Kubernetes' printers produce them.
type Table struct {
	Kind              string   `json:"kind"`
	APIVersion        string   `json:"apiVersion"`
	Metadata          ListMeta `json:"metadata"`
	ColumnDefinitions []Column `json:"columnDefinitions"`
	Rows              []Row    `json:"rows"`
}

// ListMeta is the Table's metadata, copied from the list it was made from.
type ListMeta struct {
	ResourceVersion    string `json:"resourceVersion,omitempty"`
	Continue           string `json:"continue,omitempty"`
	RemainingItemCount *int64 `json:"remainingItemCount,omitempty"`
}

// Column is a TableColumnDefinition. Priority 0 columns are always shown, higher ones only
// in wide output.
type Column struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Format      string `json:"format"`
	Description string `json:"description"`
	Priority    int32  `json:"priority"`
}

// Row is a TableRow. Object is the row's object as Options.IncludeObject asks: the whole
// object, its PartialObjectMetadata, or nothing.
type Row struct {
	Cells      []any           `json:"cells"`
	Conditions []RowCondition  `json:"conditions,omitempty"`
	Object     json.RawMessage `json:"object,omitempty"`
}

// RowCondition is a TableRowCondition; pods that ran to completion carry Completed.
type RowCondition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// IncludeObject says what each row carries in its object field (the includeObject query
// parameter of a Table request).
type IncludeObject string

const (
	IncludeNone     IncludeObject = "None"
	IncludeMetadata IncludeObject = "Metadata"
	IncludeObj      IncludeObject = "Object"
)

// Options tune a Table.
type Options struct {
	// Wide adds the priority-1 columns and their cells (kubectl -o wide). kube-apiserver
	// always builds wide tables and lets the client drop the columns it does not show.
	Wide bool
	// Now is the time ages are computed against; zero means time.Now().
	Now time.Time
	// NoHeaders leaves the column definitions out, as watch events after the first do.
	NoHeaders bool
	// IncludeObject is what rows carry; "" means Metadata, as in Kubernetes.
	IncludeObject IncludeObject
	// GroupVersion is the Table's apiVersion (and that of row PartialObjectMetadata);
	// "" means meta.k8s.io/v1.
	GroupVersion string
}

// ValidIncludeObject reports whether v is an includeObject value Kubernetes accepts.
func ValidIncludeObject(v string) bool {
	switch IncludeObject(v) {
	case "", IncludeNone, IncludeMetadata, IncludeObj:
		return true
	}
	return false
}

// TableFor builds the Table of objs for kind (Pod, Deployment, …). objs is a
// runtime.ListObject, a []runtime.Object or a single runtime.Object; kind may be "" when it
// can be read from the objects. Kinds without a printer get Kubernetes' default table, NAME
// and CREATED AT.
func TableFor(objs any, kind string, opts Options) *Table {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	gv := opts.GroupVersion
	if gv == "" {
		gv = DefaultGroupVersion
	}
	t := &Table{Kind: "Table", APIVersion: gv, Rows: []Row{}}
	var items []runtime.Object
	switch o := objs.(type) {
	case runtime.ListObject:
		items = runtime.Items(o)
		if m := o.GetMetadata(); m != nil {
			t.Metadata = ListMeta{ResourceVersion: m.GetResourceVersion(), Continue: m.GetContinue()}
			if m.RemainingItemCount != nil {
				n := m.GetRemainingItemCount()
				t.Metadata.RemainingItemCount = &n
			}
		}
		if kind == "" {
			kind = strings.TrimSuffix(o.GetKind(), "List")
		}
	case []runtime.Object:
		items = o
	case runtime.Object:
		items = []runtime.Object{o}
		t.Metadata.ResourceVersion = o.GetMetadata().GetResourceVersion()
	}
	if kind == "" && len(items) > 0 {
		kind = kindOf(items[0])
	}
	p := printerFor(kind)
	if !opts.NoHeaders {
		t.ColumnDefinitions = make([]Column, 0, len(p.columns))
		for _, c := range p.columns {
			if c.Priority == 0 || opts.Wide {
				t.ColumnDefinitions = append(t.ColumnDefinitions, c)
			}
		}
	}
	for _, obj := range items {
		row := buildRow(p, obj, &opts)
		row.Object = rowObject(obj, opts.IncludeObject, gv)
		t.Rows = append(t.Rows, row)
	}
	return t
}

// Columns returns the column definitions of kind, wide ones included.
func Columns(kind string) []Column {
	return append([]Column(nil), printerFor(kind).columns...)
}

func kindOf(obj runtime.Object) string {
	if k := obj.GetKind(); k != "" {
		return k
	}
	return string(obj.ProtoReflect().Descriptor().Name())
}

// rowObject encodes what a row carries of its object.
func rowObject(obj runtime.Object, inc IncludeObject, gv string) json.RawMessage {
	switch inc {
	case IncludeNone:
		return nil
	case IncludeObj:
		b, err := runtime.MarshalJSON(obj)
		if err != nil {
			return nil
		}
		return b
	default:
		b, err := PartialObjectMetadata(obj, gv)
		if err != nil {
			return nil
		}
		return b
	}
}

// PartialObjectMetadata encodes obj's metadata as a meta.k8s.io PartialObjectMetadata of
// group version gv ("" is meta.k8s.io/v1).
func PartialObjectMetadata(obj runtime.Object, gv string) ([]byte, error) {
	if gv == "" {
		gv = DefaultGroupVersion
	}
	m := obj.GetMetadata()
	if m == nil {
		m = &metav1.ObjectMeta{}
	}
	meta, err := runtime.MarshalJSON(m)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `{"kind":"PartialObjectMetadata","apiVersion":%q,"metadata":%s}`, gv, meta), nil
}

// PartialObjectMetadataList encodes a list's items as a PartialObjectMetadataList.
func PartialObjectMetadataList(list runtime.ListObject, gv string) ([]byte, error) {
	if gv == "" {
		gv = DefaultGroupVersion
	}
	lm := list.GetMetadata()
	if lm == nil {
		lm = &metav1.ListMeta{}
	} else {
		lm = proto.Clone(lm).(*metav1.ListMeta)
		lm.SelfLink = ""
	}
	meta, err := runtime.MarshalJSON(lm)
	if err != nil {
		return nil, err
	}
	buf := fmt.Appendf(nil, `{"kind":"PartialObjectMetadataList","apiVersion":%q,"metadata":%s,"items":[`, gv, meta)
	for i, item := range runtime.Items(list) {
		if i > 0 {
			buf = append(buf, ',')
		}
		b, err := PartialObjectMetadata(item, gv)
		if err != nil {
			return nil, err
		}
		buf = append(buf, b...)
	}
	return append(buf, "]}"...), nil
}

// HumanDuration is Kubernetes' duration.HumanDuration: ~2-3 significant figures ("5s",
// "3m2s", "4h5m", "4d", "2y"); slightly negative durations (clock skew) are "0s".
func HumanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < -1 {
		return "<invalid>"
	} else if seconds < 0 {
		return "0s"
	} else if seconds < 60*2 {
		return fmt.Sprintf("%ds", seconds)
	}
	minutes := int(d / time.Minute)
	if minutes < 10 {
		s := int(d/time.Second) % 60
		if s == 0 {
			return fmt.Sprintf("%dm", minutes)
		}
		return fmt.Sprintf("%dm%ds", minutes, s)
	} else if minutes < 60*3 {
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	if hours < 8 {
		m := int(d/time.Minute) % 60
		if m == 0 {
			return fmt.Sprintf("%dh", hours)
		}
		return fmt.Sprintf("%dh%dm", hours, m)
	} else if hours < 48 {
		return fmt.Sprintf("%dh", hours)
	} else if hours < 24*8 {
		h := hours % 24
		if h == 0 {
			return fmt.Sprintf("%dd", hours/24)
		}
		return fmt.Sprintf("%dd%dh", hours/24, h)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%dd", hours/24)
	} else if hours < 24*365*8 {
		dy := (hours / 24) % 365
		if dy == 0 {
			return fmt.Sprintf("%dy", hours/24/365)
		}
		return fmt.Sprintf("%dy%dd", hours/24/365, dy)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}
