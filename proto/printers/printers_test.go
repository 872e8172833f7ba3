package printers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	batchv1 "kubelab.io/proto/api/batch/v1"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	policyv1 "kubelab.io/proto/api/policy/v1"
	"kubelab.io/proto/runtime"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *metav1.Time {
	t := now.Add(-d)
	return &metav1.Time{Seconds: t.Unix(), Nanos: int32(t.Nanosecond())}
}

func meta(name string, created time.Duration) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "u-" + name, ResourceVersion: "7", CreationTimestamp: ago(created)}
}

func TestHumanDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-2 * time.Second, "<invalid>"},
		{-time.Second, "0s"},
		{0, "0s"},
		{5 * time.Second, "5s"},
		{119 * time.Second, "119s"},
		{2 * time.Minute, "2m"},
		{3*time.Minute + 2*time.Second, "3m2s"},
		{9*time.Minute + 59*time.Second, "9m59s"},
		{10 * time.Minute, "10m"},
		{179 * time.Minute, "179m"},
		{3 * time.Hour, "3h"},
		{4*time.Hour + 5*time.Minute, "4h5m"},
		{8 * time.Hour, "8h"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{4*24*time.Hour + 3*time.Hour, "4d3h"},
		{8 * 24 * time.Hour, "8d"},
		{400 * 24 * time.Hour, "400d"},
		{2 * 365 * 24 * time.Hour, "2y"},
		{(2*365 + 10) * 24 * time.Hour, "2y10d"},
		{9 * 365 * 24 * time.Hour, "9y"},
	} {
		if got := HumanDuration(c.d); got != c.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func cells(t *testing.T, obj runtime.Object, wide bool) []any {
	t.Helper()
	tbl := TableFor(obj, "", Options{Wide: wide, Now: now})
	if len(tbl.Rows) != 1 {
		t.Fatalf("rows: %v", tbl.Rows)
	}
	if len(tbl.Rows[0].Cells) != len(tbl.ColumnDefinitions) {
		t.Fatalf("%d cells for %d columns", len(tbl.Rows[0].Cells), len(tbl.ColumnDefinitions))
	}
	return tbl.Rows[0].Cells
}

func running(name string, restarts int32) *corev1.ContainerStatus {
	return &corev1.ContainerStatus{Name: name, Ready: true, RestartCount: restarts,
		State: &corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}}
}

func TestPodRows(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []*corev1.Container{{Name: "a", Image: "nginx"}}}
	spec2 := &corev1.PodSpec{Containers: []*corev1.Container{{Name: "a"}, {Name: "b"}}}
	deleting := meta("p", time.Hour)
	deleting.DeletionTimestamp = ago(0)
	for _, c := range []struct {
		name string
		pod  *corev1.Pod
		want []any
	}{
		{"running", &corev1.Pod{Kind: "Pod", Metadata: meta("p", 5*time.Minute), Spec: spec,
			Status: &corev1.PodStatus{Phase: "Running", ContainerStatuses: []*corev1.ContainerStatus{running("a", 0)}}},
			[]any{"p", "1/1", "Running", "0", "5m"}},
		{"pending", &corev1.Pod{Kind: "Pod", Metadata: meta("p", 30*time.Second), Spec: spec, Status: &corev1.PodStatus{Phase: "Pending"}},
			[]any{"p", "0/1", "Pending", "0", "30s"}},
		{"no status", &corev1.Pod{Kind: "Pod", Metadata: &metav1.ObjectMeta{Name: "p"}, Spec: spec},
			[]any{"p", "0/1", "", "0", "<unknown>"}},
		{"crashloop", &corev1.Pod{Kind: "Pod", Metadata: meta("p", 2*time.Hour), Spec: spec2,
			Status: &corev1.PodStatus{Phase: "Running", ContainerStatuses: []*corev1.ContainerStatus{
				running("a", 1),
				{Name: "b", RestartCount: 4,
					State:     &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastState: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(5 * time.Minute)}}},
			}}},
			[]any{"p", "1/2", "CrashLoopBackOff", "5 (5m ago)", "120m"}},
		{"terminating", &corev1.Pod{Kind: "Pod", Metadata: deleting, Spec: spec,
			Status: &corev1.PodStatus{Phase: "Running", ContainerStatuses: []*corev1.ContainerStatus{running("a", 0)}}},
			[]any{"p", "1/1", "Terminating", "0", "60m"}},
		{"node lost", &corev1.Pod{Kind: "Pod", Metadata: deleting, Spec: spec, Status: &corev1.PodStatus{Phase: "Running", Reason: "NodeLost"}},
			[]any{"p", "0/1", "Unknown", "0", "60m"}},
		{"completed", &corev1.Pod{Kind: "Pod", Metadata: meta("p", 3*24*time.Hour), Spec: spec,
			Status: &corev1.PodStatus{Phase: "Succeeded", ContainerStatuses: []*corev1.ContainerStatus{{Name: "a",
				State: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}}},
			[]any{"p", "0/1", "Completed", "0", "3d"}},
		{"oomkilled no reason", &corev1.Pod{Kind: "Pod", Metadata: meta("p", time.Minute), Spec: spec,
			Status: &corev1.PodStatus{Phase: "Failed", ContainerStatuses: []*corev1.ContainerStatus{{Name: "a",
				State: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137}}}}}},
			[]any{"p", "0/1", "ExitCode:137", "0", "60s"}},
		{"init waiting", &corev1.Pod{Kind: "Pod", Metadata: meta("p", time.Minute),
			Spec: &corev1.PodSpec{InitContainers: []*corev1.Container{{Name: "i1"}, {Name: "i2"}}, Containers: spec.Containers},
			Status: &corev1.PodStatus{Phase: "Pending", InitContainerStatuses: []*corev1.ContainerStatus{
				{Name: "i1", State: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
				{Name: "i2", State: &corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			}}},
			[]any{"p", "0/1", "Init:1/2", "0", "60s"}},
		{"init error", &corev1.Pod{Kind: "Pod", Metadata: meta("p", time.Minute),
			Spec: &corev1.PodSpec{InitContainers: []*corev1.Container{{Name: "i1"}}, Containers: spec.Containers},
			Status: &corev1.PodStatus{Phase: "Pending", InitContainerStatuses: []*corev1.ContainerStatus{
				{Name: "i1", RestartCount: 2, State: &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
			}}},
			[]any{"p", "0/1", "Init:CrashLoopBackOff", "2", "60s"}},
		{"scheduling gated", &corev1.Pod{Kind: "Pod", Metadata: meta("p", time.Minute), Spec: spec,
			Status: &corev1.PodStatus{Phase: "Pending", Conditions: []*corev1.PodCondition{{Type: "PodScheduled", Status: "False", Reason: "SchedulingGated"}}}},
			[]any{"p", "0/1", "SchedulingGated", "0", "60s"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := cells(t, c.pod, false); !reflect.DeepEqual(got, c.want) {
				t.Errorf("cells = %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestPodWideAndConditions(t *testing.T) {
	pod := &corev1.Pod{Kind: "Pod", Metadata: meta("p", time.Minute),
		Spec: &corev1.PodSpec{NodeName: "n1", Containers: []*corev1.Container{{Name: "a"}},
			ReadinessGates: []*corev1.PodReadinessGate{{ConditionType: "lb/ready"}, {ConditionType: "other"}}},
		Status: &corev1.PodStatus{Phase: "Succeeded", PodIPs: []*corev1.PodIP{{Ip: "10.0.0.9"}},
			Conditions: []*corev1.PodCondition{{Type: "lb/ready", Status: "True"}}}}
	tbl := TableFor([]runtime.Object{pod}, "Pod", Options{Wide: true, Now: now})
	want := []any{"p", "0/1", "Succeeded", "0", "60s", "10.0.0.9", "n1", "<none>", "1/2"}
	if got := tbl.Rows[0].Cells; !reflect.DeepEqual(got, want) {
		t.Errorf("wide cells = %#v, want %#v", got, want)
	}
	if c := tbl.Rows[0].Conditions; len(c) != 1 || c[0].Type != "Completed" || c[0].Reason != "Succeeded" {
		t.Errorf("conditions = %v", c)
	}
	var names []string
	for _, c := range tbl.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "Name,Ready,Status,Restarts,Age,IP,Node,Nominated Node,Readiness Gates" {
		t.Errorf("columns = %s", got)
	}
	pod.Spec.ReadinessGates = nil
	pod.Status.PodIPs = nil
	pod.Spec.NodeName = ""
	if got := cells(t, pod, true)[5:]; !reflect.DeepEqual(got, []any{"<none>", "<none>", "<none>", "<none>"}) {
		t.Errorf("empty wide cells = %v", got)
	}
}

func TestWorkloadRows(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "web", Image: "nginx:1.14"}, {Name: "side", Image: "busybox"}}}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "fe"}}
	d := &appsv1.Deployment{Kind: "Deployment", Metadata: meta("d", 26*time.Hour),
		Spec:   &appsv1.DeploymentSpec{Replicas: proto.Int32(3), Selector: sel, Template: tmpl},
		Status: &appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}}
	if got, want := cells(t, d, true), []any{"d", "2/3", int64(3), int64(2), "26h", "web,side", "nginx:1.14,busybox", "app=web,tier=fe"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deployment = %#v, want %#v", got, want)
	}
	d.Spec.Replicas = nil
	d.Status = nil
	if got, want := cells(t, d, false), []any{"d", "0/1", int64(0), int64(0), "26h"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deployment defaults = %#v, want %#v", got, want)
	}
	rs := &appsv1.ReplicaSet{Kind: "ReplicaSet", Metadata: meta("rs", 90*time.Second),
		Spec:   &appsv1.ReplicaSetSpec{Replicas: proto.Int32(2), Selector: sel, Template: tmpl},
		Status: &appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1}}
	if got, want := cells(t, rs, true), []any{"rs", int64(2), int64(2), int64(1), "90s", "web,side", "nginx:1.14,busybox", "app=web,tier=fe"}; !reflect.DeepEqual(got, want) {
		t.Errorf("replicaset = %#v, want %#v", got, want)
	}
	rs.Spec.Selector = &metav1.LabelSelector{}
	if got := cells(t, rs, true)[7]; got != "<none>" {
		t.Errorf("empty selector = %v", got)
	}
}

func TestNodeRows(t *testing.T) {
	node := func(ready string, unschedulable bool, labels map[string]string) *corev1.Node {
		n := &corev1.Node{Kind: "Node", Metadata: meta("n1", 10*24*time.Hour), Spec: &corev1.NodeSpec{Unschedulable: unschedulable},
			Status: &corev1.NodeStatus{NodeInfo: &corev1.NodeSystemInfo{KubeletVersion: "v1.32.0", OsImage: "Debian", KernelVersion: "6.1", ContainerRuntimeVersion: "containerd://1.7"},
				Addresses: []*corev1.NodeAddress{{Type: "Hostname", Address: "n1"}, {Type: "InternalIP", Address: "10.0.0.1"}}}}
		n.Metadata.Labels = labels
		if ready != "" {
			n.Status.Conditions = []*corev1.NodeCondition{{Type: "MemoryPressure", Status: "False"}, {Type: "Ready", Status: ready}}
		}
		return n
	}
	for _, c := range []struct {
		name string
		node *corev1.Node
		want []any
	}{
		{"ready", node("True", false, nil), []any{"n1", "Ready", "<none>", "10d", "v1.32.0"}},
		{"not ready", node("False", false, map[string]string{"node-role.kubernetes.io/worker": ""}), []any{"n1", "NotReady", "worker", "10d", "v1.32.0"}},
		{"unknown", node("Unknown", false, nil), []any{"n1", "NotReady", "<none>", "10d", "v1.32.0"}},
		{"no condition", node("", false, nil), []any{"n1", "Unknown", "<none>", "10d", "v1.32.0"}},
		{"cordoned", node("True", true, map[string]string{
			"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true", "kubernetes.io/role": "master", "node-role.kubernetes.io/": ""}),
			[]any{"n1", "Ready,SchedulingDisabled", "control-plane,etcd,master", "10d", "v1.32.0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := cells(t, c.node, false); !reflect.DeepEqual(got, c.want) {
				t.Errorf("cells = %#v, want %#v", got, c.want)
			}
		})
	}
	if got, want := cells(t, node("True", false, nil), true)[5:], []any{"10.0.0.1", "<none>", "Debian", "6.1", "containerd://1.7"}; !reflect.DeepEqual(got, want) {
		t.Errorf("wide = %#v, want %#v", got, want)
	}
	bare := &corev1.Node{Kind: "Node", Metadata: meta("n2", time.Second)}
	if got, want := cells(t, bare, true)[5:], []any{"<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("bare wide = %#v, want %#v", got, want)
	}
}

func TestOtherRows(t *testing.T) {
	ns := &corev1.Namespace{Kind: "Namespace", Metadata: meta("kube-system", 2*365*24*time.Hour), Status: &corev1.NamespaceStatus{Phase: "Active"}}
	if got, want := cells(t, ns, false), []any{"kube-system", "Active", "2y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("namespace = %#v", got)
	}
	lease := &coordinationv1.Lease{Kind: "Lease", Metadata: meta("kube-scheduler", 4*time.Minute), Spec: &coordinationv1.LeaseSpec{HolderIdentity: proto.String("sched-1_abc")}}
	if got, want := cells(t, lease, false), []any{"kube-scheduler", "sched-1_abc", "4m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lease = %#v", got)
	}
	ev := &corev1.Event{Kind: "Event", Metadata: meta("web.1", time.Hour), Type: "Warning", Reason: "BackOff",
		InvolvedObject: &corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{c}"},
		Message:        " Back-off restarting failed container\n", Source: &corev1.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: ago(time.Hour), LastTimestamp: ago(20 * time.Second), Count: 12}
	if got, want := cells(t, ev, false), []any{"20s", "Warning", "BackOff", "pod/web", "Back-off restarting failed container"}; !reflect.DeepEqual(got, want) {
		t.Errorf("event = %#v", got)
	}
	if got, want := cells(t, ev, true), []any{"20s", "Warning", "BackOff", "pod/web", "spec.containers{c}", "kubelet, n1", "Back-off restarting failed container", "60m", int64(12), "web.1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("event wide = %#v", got)
	}
	// events.k8s.io-style: eventTime and series, no count, reporting controller.
	ev2 := &corev1.Event{Kind: "Event", Metadata: meta("e2", time.Hour), Type: "Normal", Reason: "Scheduled",
		InvolvedObject: &corev1.ObjectReference{Kind: "Node"}, ReportingComponent: "default-scheduler",
		EventTime: &metav1.MicroTime{Seconds: now.Add(-3 * time.Minute).Unix()}}
	if got, want := cells(t, ev2, true), []any{"3m", "Normal", "Scheduled", "node", "", "default-scheduler", "", "3m", int64(1), "e2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("event2 wide = %#v", got)
	}
	ev2.Series = &corev1.EventSeries{Count: 4, LastObservedTime: &metav1.MicroTime{Seconds: now.Add(-10 * time.Second).Unix()}}
	if got := cells(t, ev2, true); got[0] != "10s" || got[8] != int64(4) {
		t.Errorf("event series = %#v", got)
	}

	q := &corev1.ResourceQuota{Kind: "ResourceQuota", Metadata: meta("q", 3*time.Hour), Status: &corev1.ResourceQuotaStatus{
		Hard: map[string]*metav1.Quantity{"requests.cpu": {String_: "2"}, "pods": {String_: "10"}, "limits.memory": {String_: "2Gi"}, "limits.cpu": {String_: "4000m"}},
		Used: map[string]*metav1.Quantity{"requests.cpu": {String_: "500m"}, "pods": {String_: "3"}, "limits.cpu": {String_: "1"}},
	}}
	if got, want := cells(t, q, false), []any{"q", "3h", "pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 1/4, limits.memory: 0/2Gi"}; !reflect.DeepEqual(got, want) {
		t.Errorf("quota = %#v, want %#v", got, want)
	}

	cm := &corev1.ConfigMap{Kind: "ConfigMap", Metadata: meta("cfg", 5*time.Minute), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {0}}}
	if got, want := cells(t, cm, false), []any{"cfg", int64(3), "5m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("configmap = %#v", got)
	}
	sec := &corev1.Secret{Kind: "Secret", Metadata: meta("s", 5*time.Minute), Type: "Opaque", Data: map[string][]byte{"p": []byte("q")}}
	if got, want := cells(t, sec, false), []any{"s", "Opaque", int64(1), "5m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("secret = %#v", got)
	}
	sa := &corev1.ServiceAccount{Kind: "ServiceAccount", Metadata: meta("default", 5*time.Minute)}
	if got, want := cells(t, sa, false), []any{"default", int64(0), "5m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("serviceaccount = %#v", got)
	}

	pdb := &policyv1.PodDisruptionBudget{Kind: "PodDisruptionBudget", Metadata: meta("pdb", 5*time.Minute),
		Spec:   &policyv1.PodDisruptionBudgetSpec{MinAvailable: &metav1.IntOrString{Type: 1, StrVal: "50%"}},
		Status: &policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 2}}
	if got, want := cells(t, pdb, false), []any{"pdb", "50%", "N/A", int64(2), "5m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pdb = %#v", got)
	}

	lr := &corev1.LimitRange{Kind: "LimitRange", Metadata: meta("lr", time.Hour)}
	tbl := TableFor(lr, "", Options{Now: now})
	if got := tbl.Rows[0].Cells; !reflect.DeepEqual(got, []any{"lr", "2025-06-01T11:00:00Z"}) {
		t.Errorf("limitrange = %#v", got)
	}
	if c := tbl.ColumnDefinitions; len(c) != 2 || c[1].Name != "Created At" || c[1].Type != "date" {
		t.Errorf("default columns = %v", c)
	}
}

func TestTableShape(t *testing.T) {
	list := &corev1.PodList{Kind: "PodList", Metadata: &metav1.ListMeta{ResourceVersion: "42", Continue: "abc", RemainingItemCount: proto.Int64(5)},
		Items: []*corev1.Pod{{Metadata: meta("a", time.Minute)}, {Metadata: meta("b", time.Minute)}}}

	tbl := TableFor(list, "", Options{Now: now})
	if tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" || tbl.Metadata.ResourceVersion != "42" || tbl.Metadata.Continue != "abc" || *tbl.Metadata.RemainingItemCount != 5 {
		t.Errorf("table = %+v", tbl)
	}
	if len(tbl.ColumnDefinitions) != 5 || len(tbl.Rows) != 2 || len(tbl.Rows[0].Cells) != 5 {
		t.Errorf("narrow table: %d columns, %d rows", len(tbl.ColumnDefinitions), len(tbl.Rows))
	}
	var partial map[string]any
	if err := json.Unmarshal(tbl.Rows[0].Object, &partial); err != nil {
		t.Fatal(err)
	}
	if partial["kind"] != "PartialObjectMetadata" || partial["apiVersion"] != "meta.k8s.io/v1" || partial["metadata"].(map[string]any)["name"] != "a" {
		t.Errorf("row object = %v", partial)
	}

	b, _ := json.Marshal(TableFor(list, "Pod", Options{Now: now, NoHeaders: true, IncludeObject: IncludeNone, GroupVersion: "meta.k8s.io/v1beta1"}))
	s := string(b)
	for _, want := range []string{`"apiVersion":"meta.k8s.io/v1beta1"`, `"columnDefinitions":null`, `"cells":["a","0/0","","0","60s"]}`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, `"object"`) {
		t.Errorf("IncludeNone still has objects: %s", s)
	}

	pod := &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: meta("a", time.Minute)}
	tbl = TableFor(pod, "", Options{Now: now, IncludeObject: IncludeObj})
	if !strings.HasPrefix(string(tbl.Rows[0].Object), `{"kind":"Pod","apiVersion":"v1"`) || tbl.Metadata.ResourceVersion != "7" {
		t.Errorf("IncludeObject = %s, rv %q", tbl.Rows[0].Object, tbl.Metadata.ResourceVersion)
	}

	empty, _ := json.Marshal(TableFor(&appsv1.DeploymentList{Kind: "DeploymentList"}, "", Options{Now: now}))
	if !strings.Contains(string(empty), `"rows":[]`) || !strings.Contains(string(empty), `"name":"Up-to-date"`) {
		t.Errorf("empty list table = %s", empty)
	}

	// column definitions as Kubernetes declares them
	col := Columns("Deployment")
	if len(col) != 8 || col[0] != nameColumn || col[5].Priority != 1 || col[4] != ageColumn {
		t.Errorf("deployment columns = %v", col)
	}
	b, _ = json.Marshal(col[0])
	if !strings.HasPrefix(string(b), `{"name":"Name","type":"string","format":"name","description":"Name must be unique`) || !strings.HasSuffix(string(b), `"priority":0}`) {
		t.Errorf("column JSON = %s", b)
	}
}

func TestPartialObjectMetadataList(t *testing.T) {
	list := &corev1.PodList{Kind: "PodList", Metadata: &metav1.ListMeta{ResourceVersion: "9"},
		Items: []*corev1.Pod{{Metadata: meta("a", time.Minute)}}}
	b, err := PartialObjectMetadataList(list, "")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	items := m["items"].([]any)
	if m["kind"] != "PartialObjectMetadataList" || m["metadata"].(map[string]any)["resourceVersion"] != "9" || len(items) != 1 ||
		items[0].(map[string]any)["metadata"].(map[string]any)["uid"] != "u-a" {
		t.Errorf("list = %s", b)
	}
	if !ValidIncludeObject("") || !ValidIncludeObject("Object") || ValidIncludeObject("object") {
		t.Error("ValidIncludeObject")
	}
}

func TestJobRow(t *testing.T) {
	start := &metav1.Time{Seconds: now.Add(-90 * time.Second).Unix()}
	for _, tc := range []struct {
		name string
		spec *batchv1.JobSpec
		st   *batchv1.JobStatus
		want []any
	}{
		{"running", &batchv1.JobSpec{Completions: proto.Int32(2), Parallelism: proto.Int32(1)},
			&batchv1.JobStatus{Succeeded: 1, Active: 1, StartTime: start},
			[]any{"j", "Running", "1/2", "90s", "5m"}},
		{"complete", &batchv1.JobSpec{Completions: proto.Int32(2)},
			&batchv1.JobStatus{Succeeded: 2, StartTime: start, CompletionTime: &metav1.Time{Seconds: start.Seconds + 12},
				Conditions: []*batchv1.JobCondition{{Type: "SuccessCriteriaMet", Status: "True"}, {Type: "Complete", Status: "True"}}},
			[]any{"j", "Complete", "2/2", "12s", "5m"}},
		{"work queue", &batchv1.JobSpec{Parallelism: proto.Int32(3)}, &batchv1.JobStatus{},
			[]any{"j", "Running", "0/1 of 3", "", "5m"}},
		{"failed", &batchv1.JobSpec{Completions: proto.Int32(1)},
			&batchv1.JobStatus{Failed: 7, Conditions: []*batchv1.JobCondition{{Type: "FailureTarget", Status: "True"}, {Type: "Failed", Status: "True"}}},
			[]any{"j", "Failed", "0/1", "", "5m"}},
		{"suspended", &batchv1.JobSpec{Completions: proto.Int32(1)},
			&batchv1.JobStatus{Conditions: []*batchv1.JobCondition{{Type: "Suspended", Status: "True"}}},
			[]any{"j", "Suspended", "0/1", "", "5m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &batchv1.Job{Kind: "Job", Metadata: meta("j", 5*time.Minute), Spec: tc.spec, Status: tc.st}
			if got := cells(t, j, false); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestCronJobRow(t *testing.T) {
	spec := &batchv1.CronJobSpec{Schedule: "*/1 * * * *", Suspend: proto.Bool(false),
		JobTemplate: &batchv1.JobTemplateSpec{Spec: &batchv1.JobSpec{Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{
			Containers: []*corev1.Container{{Name: "hello", Image: "busybox"}}}}}}}
	cj := &batchv1.CronJob{Kind: "CronJob", Metadata: meta("hello", 5*time.Minute), Spec: spec, Status: &batchv1.CronJobStatus{}}
	if got, want := cells(t, cj, true), []any{"hello", "*/1 * * * *", "<none>", "False", int64(0), "<none>", "5m", "hello", "busybox", "<none>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	spec.TimeZone, spec.Suspend = proto.String("Europe/Paris"), nil
	cj.Status = &batchv1.CronJobStatus{Active: []*corev1.ObjectReference{{Name: "hello-1"}}, LastScheduleTime: &metav1.Time{Seconds: now.Add(-40 * time.Second).Unix()}}
	if got, want := cells(t, cj, false), []any{"hello", "*/1 * * * *", "Europe/Paris", "<unset>", int64(1), "40s", "5m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
}

func TestDaemonSetRow(t *testing.T) {
	ds := &appsv1.DaemonSet{Kind: "DaemonSet", Metadata: meta("agent", 5*time.Minute),
		Spec: &appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{NodeSelector: map[string]string{"zone": "a", "disk": "ssd"},
				Containers: []*corev1.Container{{Name: "agent", Image: "nginx"}}}}},
		Status: &appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2}}
	want := []any{"agent", int64(3), int64(3), int64(2), int64(1), int64(2), "disk=ssd,zone=a", "5m", "agent", "nginx", "app=agent"}
	if got := cells(t, ds, true); !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	ds.Spec.Template.Spec.NodeSelector = nil
	if got := cells(t, ds, false)[6]; got != "<none>" {
		t.Errorf("NODE SELECTOR = %v", got)
	}
}

func TestControllerRevisionRow(t *testing.T) {
	cr := &appsv1.ControllerRevision{Kind: "ControllerRevision", Metadata: meta("agent-5d4b9c", time.Hour), Revision: 2}
	if got, want := cells(t, cr, false), []any{"agent-5d4b9c", "<none>", int64(2), "60m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
	cr.Metadata.OwnerReferences = []*metav1.OwnerReference{{ApiVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Controller: proto.Bool(true)}}
	if got := cells(t, cr, false)[1]; got != "daemonset.apps/agent" {
		t.Errorf("CONTROLLER = %v", got)
	}
}

func TestStatefulSetRow(t *testing.T) {
	ss := &appsv1.StatefulSet{Kind: "StatefulSet", Metadata: meta("web", 5*time.Minute),
		Spec: &appsv1.StatefulSetSpec{Replicas: proto.Int32(3),
			Template: &corev1.PodTemplateSpec{Spec: &corev1.PodSpec{Containers: []*corev1.Container{{Name: "nginx", Image: "nginx:1.14.2"}}}}},
		Status: &appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2}}
	if got, want := cells(t, ss, true), []any{"web", "2/3", "5m", "nginx", "nginx:1.14.2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
}
