package kubelet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/transport"
	krt "kubelab.io/kubelet/runtime"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/watch"
)

// sigtermExits is the fake runtime whose containers named in codes exit with that code
// when stopped (a process killed by SIGTERM: 143), not 0.
type sigtermExits struct {
	*krt.Fake
	codes map[string]int32
}

func (r *sigtermExits) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	st, err := r.Fake.ContainerStatus(ctx, id)
	if err != nil {
		return err
	}
	if code, ok := r.codes[st.GetMetadata().GetName()]; ok {
		if err := r.Fake.Exit(id, code); err != nil {
			return err
		}
	}
	return r.Fake.StopContainer(ctx, id, timeout)
}

// A pod deleted gracefully ends terminal before it goes: the watch shows its last status,
// Failed (or Succeeded when every container exited 0) with the containers' terminated
// states, before the DELETED event, and a DisruptionTarget condition set by whoever
// evicted it is kept. A Job with a podFailurePolicy counts such a pod only then.
func TestIntegrationDeletedPodEndsTerminal(t *testing.T) {
	srv := apiservertest.Start(t)
	cs := srv.Clientset(true)
	fake := krt.NewFake()
	rt := &sigtermExits{Fake: fake, codes: map[string]int32{"killed": 143}}
	runTestKubelet(t, cs, rt, "node-1", "")
	ctx := context.Background()

	for _, tt := range []struct {
		name, container, policy string
		evicted                 bool
		wantPhase, wantReason   string
		wantExit                int32
	}{
		{name: "evicted", container: "killed", policy: RestartAlways, evicted: true, wantPhase: PodFailed, wantReason: "Error", wantExit: 143},
		{name: "done", container: "clean", policy: RestartNever, wantPhase: PodSucceeded, wantReason: "Completed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := nginxPod(tt.name, "node-1")
			pod.Spec.Containers[0].Name = tt.container
			pod.Spec.RestartPolicy = tt.policy
			if _, err := cs.Pods("default").Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
			running := waitRunningReady(t, cs, tt.name)
			if tt.evicted {
				markEvicted(t, cs.Pods("default"), tt.name)
			}
			w, err := cs.Pods("default").Watch(ctx, transport.ListOptions{
				FieldSelector: "metadata.name=" + tt.name, ResourceVersion: running.GetMetadata().GetResourceVersion()})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			if _, err := cs.Pods("default").Delete(ctx, tt.name, nil); err != nil {
				t.Fatal(err)
			}

			var lastBefore *corev1.Pod // the last MODIFIED before DELETED
			timeout := time.After(15 * time.Second)
		events:
			for {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						t.Fatal("watch closed before DELETED")
					}
					p, _ := ev.Object.(*corev1.Pod)
					switch ev.Type {
					case watch.Modified:
						lastBefore = p
					case watch.Deleted:
						break events
					}
				case <-timeout:
					t.Fatalf("no DELETED event; last seen %v", lastBefore.GetStatus())
				}
			}
			st := lastBefore.GetStatus()
			if st.GetPhase() != tt.wantPhase {
				t.Errorf("last phase before deletion %q, want %q (%v)", st.GetPhase(), tt.wantPhase, st)
			}
			term := st.GetContainerStatuses()[0].GetState().GetTerminated()
			if term == nil || term.GetExitCode() != tt.wantExit || term.GetReason() != tt.wantReason || term.GetContainerID() == "" {
				t.Errorf("last container state %v, want terminated %s exit %d", st.GetContainerStatuses()[0].GetState(), tt.wantReason, tt.wantExit)
			}
			if condition(lastBefore, CondReady) != "False" {
				t.Errorf("Ready %q after the pod ended", condition(lastBefore, CondReady))
			}
			if got := condReason(lastBefore, "DisruptionTarget"); tt.evicted && got != "DeletionByTaintManager" {
				t.Errorf("DisruptionTarget reason %q, want DeletionByTaintManager (%v)", got, st.GetConditions())
			}
		})
	}
}

// markEvicted adds the DisruptionTarget condition the taint manager gives a pod it is
// about to delete, through pods/status as nodelifecycle does.
func markEvicted(t *testing.T, pods interface {
	Get(context.Context, string) (*corev1.Pod, error)
	UpdateStatus(context.Context, *corev1.Pod) (*corev1.Pod, error)
}, name string) {
	t.Helper()
	eventually(t, 10*time.Second, "DisruptionTarget written", func() (bool, string) {
		p, err := pods.Get(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		p = proto.Clone(p).(*corev1.Pod)
		p.Status.Conditions = append(p.Status.Conditions, &corev1.PodCondition{Type: "DisruptionTarget", Status: "True",
			Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: &metav1.Time{Seconds: time.Now().Unix()}})
		_, err = pods.UpdateStatus(context.Background(), p)
		if apierrors.IsConflict(err) {
			return false, "conflict"
		}
		return err == nil, fmt.Sprint(err)
	})
}

func condReason(p *corev1.Pod, typ string) string {
	for _, c := range p.GetStatus().GetConditions() {
		if c.GetType() == typ {
			return c.GetReason()
		}
	}
	return ""
}
