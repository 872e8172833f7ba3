package printers

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
)

func TestPriorityClassRow(t *testing.T) {
	pc := &schedulingv1.PriorityClass{Kind: "PriorityClass", Metadata: meta("high", 3*time.Minute), Value: 1000, GlobalDefault: true,
		PreemptionPolicy: proto.String("Never")}
	if got, want := cells(t, pc, false), []any{"high", int64(1000), true, "3m", "Never"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	// An unset policy prints as the default, as kubectl does.
	pc.PreemptionPolicy, pc.GlobalDefault = nil, false
	if got, want := cells(t, pc, false), []any{"high", int64(1000), false, "3m", "PreemptLowerPriority"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	tbl := TableFor(pc, "", Options{Now: now})
	var names []string
	for _, c := range tbl.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if want := []string{"Name", "Value", "Global-Default", "Age", "PreemptionPolicy"}; !reflect.DeepEqual(names, want) {
		t.Errorf("columns = %v, want %v", names, want)
	}
}
