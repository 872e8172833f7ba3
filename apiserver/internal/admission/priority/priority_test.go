package priority

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/scheme"
)

// classes is a fake store of PriorityClasses, by name.
type classes map[string]*schedulingv1.PriorityClass

func (cs classes) plugin() *Plugin {
	return New(Classes{
		Get: func(_ context.Context, name string) (*schedulingv1.PriorityClass, error) {
			if pc, ok := cs[name]; ok {
				return pc, nil
			}
			return nil, apierrors.NewNotFound(classesResource, name)
		},
		List: func(context.Context) ([]*schedulingv1.PriorityClass, error) {
			var out []*schedulingv1.PriorityClass
			for _, pc := range cs {
				out = append(out, pc)
			}
			return out, nil
		},
	})
}

func class(name string, value int32, globalDefault bool, policy string) *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{Metadata: &metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault,
		PreemptionPolicy: proto.String(policy)}
}

func withSystem(more ...*schedulingv1.PriorityClass) classes {
	cs := classes{}
	for _, pc := range append(schedulingv1.SystemPriorityClasses(), more...) {
		if pc.PreemptionPolicy == nil {
			pc.PreemptionPolicy = proto.String(schedulingv1.PreemptLowerPriority)
		}
		cs[pc.GetMetadata().GetName()] = pc
	}
	return cs
}

func pod(className string, priority *int32, policy *string) *corev1.Pod {
	return &corev1.Pod{Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: &corev1.PodSpec{
		PriorityClassName: className, Priority: priority, PreemptionPolicy: policy,
		Containers: []*corev1.Container{{Name: "web", Image: "nginx"}},
	}}
}

func podCreate(p *corev1.Pod) *admission.Attributes {
	return &admission.Attributes{Operation: admission.Create, Resource: "pods", Namespace: "ns", Name: p.GetMetadata().GetName(), Object: p}
}

func TestAdmitPodCreate(t *testing.T) {
	for _, c := range []struct {
		name       string
		classes    classes
		pod        *corev1.Pod
		wantClass  string
		wantValue  int32
		wantPolicy string
		wantErr    string // a 403's message
	}{
		{name: "no class, no default", classes: withSystem(), pod: pod("", nil, nil),
			wantValue: 0, wantPolicy: "PreemptLowerPriority"},
		{name: "no class, a default", classes: withSystem(class("low", 10, true, "Never")), pod: pod("", nil, nil),
			wantClass: "low", wantValue: 10, wantPolicy: "Never"},
		{name: "no class, two defaults: the lower wins", classes: withSystem(class("low", 10, true, "Never"), class("lower", 5, true, "PreemptLowerPriority")),
			pod: pod("", nil, nil), wantClass: "lower", wantValue: 5, wantPolicy: "PreemptLowerPriority"},
		{name: "user class", classes: withSystem(class("high", 1000, false, "Never")), pod: pod("high", nil, nil),
			wantClass: "high", wantValue: 1000, wantPolicy: "Never"},
		// Upstream has let system classes be used in any namespace since 1.17; a quota limits
		// them.
		{name: "system class in a user namespace", classes: withSystem(), pod: pod("system-node-critical", nil, nil),
			wantClass: "system-node-critical", wantValue: 2000001000, wantPolicy: "PreemptLowerPriority"},
		{name: "the same priority repeated", classes: withSystem(class("high", 1000, false, "Never")), pod: pod("high", proto.Int32(1000), proto.String("Never")),
			wantClass: "high", wantValue: 1000, wantPolicy: "Never"},
		{name: "missing class", classes: withSystem(), pod: pod("gold", nil, nil),
			wantErr: `pods "web" is forbidden: no PriorityClass with name gold was found`},
		{name: "priority set by hand", classes: withSystem(), pod: pod("", proto.Int32(7), nil),
			wantErr: `pods "web" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`},
		{name: "priority other than the class's", classes: withSystem(class("high", 1000, false, "Never")), pod: pod("high", proto.Int32(5), nil),
			wantErr: `the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`},
		{name: "policy other than the class's", classes: withSystem(class("high", 1000, false, "Never")), pod: pod("high", nil, proto.String("PreemptLowerPriority")),
			wantErr: `pods "web" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.classes.plugin().Admit(context.Background(), podCreate(c.pod))
			if c.wantErr != "" {
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want 403 %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			spec := c.pod.GetSpec()
			if spec.GetPriorityClassName() != c.wantClass || spec.Priority == nil || spec.GetPriority() != c.wantValue || spec.GetPreemptionPolicy() != c.wantPolicy {
				t.Errorf("class %q priority %v policy %q; want %q %d %q", spec.GetPriorityClassName(), spec.Priority, spec.GetPreemptionPolicy(),
					c.wantClass, c.wantValue, c.wantPolicy)
			}
		})
	}
}

// An update that leaves the priority out keeps the stored one; validation refuses a change.
func TestAdmitPodUpdateKeepsPriority(t *testing.T) {
	old := pod("high", proto.Int32(1000), proto.String("Never"))
	next := pod("high", nil, nil)
	a := &admission.Attributes{Operation: admission.Update, Resource: "pods", Namespace: "ns", Name: "web", Object: next, OldObject: old}
	if err := withSystem().plugin().Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if next.Spec.GetPriority() != 1000 || next.Spec.GetPreemptionPolicy() != "Never" {
		t.Errorf("priority %v policy %v after update", next.Spec.Priority, next.Spec.PreemptionPolicy)
	}
}

// Subresources and other kinds are left alone.
func TestAdmitSkips(t *testing.T) {
	p := withSystem().plugin()
	binding := &admission.Attributes{Operation: admission.Create, Resource: "pods", Subresource: "binding", Object: &corev1.Binding{}}
	if err := p.Admit(context.Background(), binding); err != nil {
		t.Fatal(err)
	}
	status := podCreate(pod("missing", nil, nil))
	status.Subresource = "status"
	if err := p.Admit(context.Background(), status); err != nil {
		t.Fatalf("status subresource: %v", err)
	}
}

func TestValidateOneGlobalDefault(t *testing.T) {
	cs := withSystem(class("low", 10, true, "PreemptLowerPriority"))
	p := cs.plugin()
	write := func(op admission.Operation, pc *schedulingv1.PriorityClass) error {
		return p.Validate(context.Background(), &admission.Attributes{Operation: op, Resource: "priorityclasses", ResourceGroup: scheme.GroupScheduling,
			Name: pc.GetMetadata().GetName(), Object: pc})
	}
	err := write(admission.Create, class("other", 20, true, "PreemptLowerPriority"))
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsForbidden(err) ||
		se.Error() != `priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass low is already marked as default. Only one default can exist` {
		t.Errorf("second default: %v", err)
	}
	if err := write(admission.Update, class("high", 20, true, "PreemptLowerPriority")); !apierrors.IsForbidden(err) {
		t.Errorf("another class made the default: %v", err)
	}
	// The default itself may be updated, and classes that are not the default are free.
	if err := write(admission.Update, class("low", 10, true, "PreemptLowerPriority")); err != nil {
		t.Errorf("update of the default: %v", err)
	}
	if err := write(admission.Create, class("plain", 20, false, "PreemptLowerPriority")); err != nil {
		t.Errorf("a class that is not the default: %v", err)
	}
}
