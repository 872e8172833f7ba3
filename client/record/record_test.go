package record

import (
	"context"
	"strings"
	"testing"
	"time"

	"kubelab.io/client/cache/cachetest"
	"kubelab.io/client/transport"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

// apiRecorder records the writes a Recorder makes; patches of unknown events are NotFound.
type apiRecorder struct {
	*cachetest.Transport
	created []*corev1.Event
	patches []string
	gone    bool // the apiserver lost every event (expired)
}

func (a *apiRecorder) Create(_ context.Context, _ transport.Ref, obj runtime.Object) (runtime.Object, error) {
	a.created = append(a.created, obj.(*corev1.Event))
	return obj, nil
}

func (a *apiRecorder) Patch(_ context.Context, ref transport.Ref, _ transport.PatchType, data []byte, _ string) (runtime.Object, error) {
	if a.gone {
		return nil, apierrors.NewNotFound(apierrors.GroupResource{Resource: "events"}, ref.Name)
	}
	a.patches = append(a.patches, ref.Name+" "+string(data))
	return nil, nil
}

func newTestRecorder(api *apiRecorder, buffer int) *Recorder {
	now := time.Unix(1_700_000_000, 0)
	return New(Config{Client: api, Component: "deployment-controller", Buffer: buffer, Clock: func() time.Time {
		now = now.Add(time.Second)
		return now
	}})
}

func deployment(name string) runtime.Object {
	return &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: name, Namespace: "default", Uid: "u-" + name}}
}

// drain writes everything queued, as Run would.
func drain(r *Recorder) {
	for {
		select {
		case ev := <-r.queue:
			r.write(context.Background(), ev)
		default:
			return
		}
	}
}

func TestRepeatsAggregateIntoACount(t *testing.T) {
	api := &apiRecorder{Transport: cachetest.New()}
	r := newTestRecorder(api, 10)
	obj := deployment("web")
	r.Eventf(obj, Normal, "ScalingReplicaSet", "Scaled up replica set %s to %d", "web-1", 3)
	r.Eventf(obj, Normal, "ScalingReplicaSet", "Scaled up replica set %s to %d", "web-1", 3)
	r.Eventf(obj, Normal, "ScalingReplicaSet", "Scaled up replica set %s to %d", "web-1", 3)
	r.Eventf(obj, Normal, "ScalingReplicaSet", "Scaled up replica set %s to %d", "web-1", 5) // another message
	drain(r)
	if len(api.created) != 2 {
		t.Fatalf("created %d events, want 2 (one per distinct message)", len(api.created))
	}
	ev := api.created[0]
	if ev.GetCount() != 1 || ev.GetInvolvedObject().GetName() != "web" || ev.GetSource().GetComponent() != "deployment-controller" ||
		ev.GetReason() != "ScalingReplicaSet" || ev.GetMessage() != "Scaled up replica set web-1 to 3" || ev.GetType() != Normal {
		t.Errorf("event = %v", ev)
	}
	if !strings.HasPrefix(ev.GetMetadata().GetName(), "web.") || ev.GetMetadata().GetNamespace() != "default" {
		t.Errorf("event name %s/%s", ev.GetMetadata().GetNamespace(), ev.GetMetadata().GetName())
	}
	if len(api.patches) != 2 || !strings.Contains(api.patches[0], `"count":2`) || !strings.Contains(api.patches[1], `"count":3`) {
		t.Fatalf("patches = %v, want counts 2 then 3", api.patches)
	}
}

func TestExpiredEventIsRecreated(t *testing.T) {
	api := &apiRecorder{Transport: cachetest.New()}
	r := newTestRecorder(api, 10)
	obj := deployment("web")
	r.Eventf(obj, Warning, "FailedCreate", "Error creating: quota")
	drain(r)
	api.gone = true
	r.Eventf(obj, Warning, "FailedCreate", "Error creating: quota")
	drain(r)
	if len(api.created) != 2 {
		t.Fatalf("created %d, want a fresh event after the old one expired", len(api.created))
	}
}

func TestFullQueueDropsInsteadOfBlocking(t *testing.T) {
	api := &apiRecorder{Transport: cachetest.New()}
	r := newTestRecorder(api, 2)
	for i := 0; i < 5; i++ {
		r.Eventf(deployment("web"), Normal, "Tick", "tick %d", i) // must return at once
	}
	drain(r)
	if len(api.created) != 2 {
		t.Fatalf("created %d, want the 2 that fit the buffer", len(api.created))
	}
}

func TestClusterScopedObjectsGetEventsInDefault(t *testing.T) {
	api := &apiRecorder{Transport: cachetest.New()}
	r := newTestRecorder(api, 2)
	node := &corev1.Node{Kind: "Node", ApiVersion: "v1", Metadata: &metav1.ObjectMeta{Name: "node-1"}}
	r.Eventf(node, Normal, "RegisteredNode", "Node node-1 event: Registered Node node-1")
	drain(r)
	if ns := api.created[0].GetMetadata().GetNamespace(); ns != "default" {
		t.Errorf("namespace = %q", ns)
	}
}
