package job

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// finishedAt is a pod of newJob's that ended in phase at t, as the kubelet reports it: its
// container terminated then and its Ready condition turned False then.
func finishedAt(name, phase string, t time.Time) *corev1.Pod {
	p := pod(name, phase)
	p.Status.Conditions = []*corev1.PodCondition{{Type: controller.PodReady, Status: controller.ConditionFalse, LastTransitionTime: controller.NewTime(t)}}
	p.Status.ContainerStatuses = []*corev1.ContainerStatus{{Name: "pi", State: &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: controller.NewTime(t)}}}}
	return p
}

func TestFailureBackoff(t *testing.T) {
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name string
		pods []*corev1.Pod
		now  time.Time
		want time.Duration
	}{
		{"no pods", nil, at(0), 0},
		{"running only", []*corev1.Pod{pod("a", "Running")}, at(0), 0},
		{"one failure waits 10s", []*corev1.Pod{finishedAt("a", "Failed", at(0))}, at(3), 7 * time.Second},
		{"one failure, delay passed", []*corev1.Pod{finishedAt("a", "Failed", at(0))}, at(10), 0},
		{"three failures wait 40s from the last", []*corev1.Pod{
			finishedAt("a", "Failed", at(0)), finishedAt("b", "Failed", at(20)), finishedAt("c", "Failed", at(30)),
		}, at(30), 40 * time.Second},
		{"a success resets the count", []*corev1.Pod{
			finishedAt("a", "Failed", at(0)), finishedAt("b", "Failed", at(5)), finishedAt("s", "Succeeded", at(6)), finishedAt("c", "Failed", at(7)),
		}, at(7), 10 * time.Second},
		{"failures before the last success are forgiven", []*corev1.Pod{
			finishedAt("a", "Failed", at(0)), finishedAt("s", "Succeeded", at(1)),
		}, at(1), 0},
		{"capped at the maximum", func() []*corev1.Pod {
			var ps []*corev1.Pod
			for i := range 12 {
				ps = append(ps, finishedAt(string(rune('a'+i)), "Failed", at(i)))
			}
			return ps
		}(), at(11), MaxPodFailureBackoff},
		{"finish time from the containers when Ready has no time", func() []*corev1.Pod {
			p := finishedAt("a", "Failed", at(4))
			p.Status.Conditions = nil
			return []*corev1.Pod{p}
		}(), at(4), 10 * time.Second},
		{"finish time from the deletion when nothing else says", func() []*corev1.Pod {
			p := pod("a", "Failed")
			p.Metadata.DeletionTimestamp = controller.NewTime(at(2))
			return []*corev1.Pod{p}
		}(), at(4), 8 * time.Second},
		{"finish time from the creation at last", func() []*corev1.Pod {
			p := pod("a", "Failed")
			p.Metadata.CreationTimestamp = &metav1.Time{Seconds: at(1).Unix()}
			return []*corev1.Pod{p}
		}(), at(1), 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := failureBackoff(tc.pods, DefaultPodFailureBackoff, MaxPodFailureBackoff, tc.now); got != tc.want {
				t.Errorf("failureBackoff = %v, want %v", got, tc.want)
			}
		})
	}
}

// A failed pod is replaced only once the delay has passed: the sync in between creates
// nothing and asks the queue to come back when it ends.
func TestFailedPodReplacedAfterBackoff(t *testing.T) {
	f := newFixture(t)
	clk := clocktesting.NewFakeClock(epoch)
	queue := workqueue.New(workqueue.Config[string]{Name: "test", Clock: clk})
	t.Cleanup(queue.ShutDown)
	f.c.queue = queue
	f.put(newJob(2, 1, 6))
	f.put(finishedAt("a", "Failed", epoch))
	f.now = epoch.Add(4 * time.Second)
	f.sync()
	// Counted: recorded as uncounted, finalizer removed, then moved into failed.
	f.expect([]string{"patch pods default/a", updateStatus, updateStatus})
	if j := f.stored(); j.GetStatus().GetFailed() != 1 || j.GetStatus().GetActive() != 0 {
		t.Errorf("status = %v", j.GetStatus())
	}
	if n := queue.Len(); n != 0 {
		t.Errorf("queue holds %d keys before the delay ends, want 0", n)
	}
	clk.Step(6 * time.Second) // the delay ends: the job is queued again
	for deadline := time.Now().Add(5 * time.Second); queue.Len() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the job was not queued again when its delay ended")
		}
	}

	f.put(f.stored())
	f.now = epoch.Add(10 * time.Second)
	f.sync()
	f.expect([]string{createPod, updateStatus}, "Normal SuccessfulCreate Created pod: pi-00001")
}
