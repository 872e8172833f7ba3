package resourcequota

import (
	"slices"
	"testing"

	"kubelab.io/controller-manager/internal/controllertest"
	corev1 "kubelab.io/proto/api/core/v1"
)

func scoped(q *corev1.ResourceQuota, scopes ...string) *corev1.ResourceQuota {
	q.Spec.Scopes = scopes
	return q
}

func withDeadline(p *corev1.Pod, seconds int64) *corev1.Pod {
	p.Spec.ActiveDeadlineSeconds = &seconds
	return p
}

// A scoped quota's status.used counts only the pods that match all its scopes; finished
// pods count for none.
func TestSyncCountsOnlyPodsInTheQuotaScopes(t *testing.T) {
	c, api, ctx := fixture(t,
		scoped(resourceQuota("team", "besteffort", quantities("pods", "5"), nil), "BestEffort"),
		scoped(resourceQuota("team", "notbesteffort", quantities("pods", "5", "requests.cpu", "2"), nil), "NotBestEffort"),
		scoped(resourceQuota("team", "batch", quantities("pods", "5"), nil), "Terminating"),
		scoped(resourceQuota("team", "batch-besteffort", quantities("pods", "5"), nil), "Terminating", "BestEffort"),
		pod("team", "idle", "Running", ""),
		pod("team", "web", "Running", "500m"),
		withDeadline(pod("team", "job", "Running", ""), 600),
		withDeadline(pod("team", "cpu-job", "Pending", "250m"), 600),
		pod("team", "done", "Failed", ""),
		pod("team", "done-cpu", "Succeeded", "1"),
	)
	for _, tc := range []struct{ quota, want string }{
		{"besteffort", "pods=2"},                      // idle, job
		{"notbesteffort", "pods=2,requests.cpu=750m"}, // web, cpu-job
		{"batch", "pods=2"},                           // job, cpu-job
		{"batch-besteffort", "pods=1"},                // job
	} {
		got := syncThenRead(ctx, t, c, api, "team", tc.quota)
		if r := render(got.GetStatus().GetUsed()); r != tc.want {
			t.Errorf("%s status.used = %s, want %s", tc.quota, r, tc.want)
		}
	}
}

// A pod that moves between scopes (it was given a deadline) counts against other quotas,
// so its namespace's quotas are recomputed.
func TestPodUpdateThatChangesScopesEnqueues(t *testing.T) {
	c, _, _ := fixture(t, scoped(resourceQuota("team", "batch", quantities("pods", "5"), nil), "Terminating"))
	update := func(mutate func(*corev1.Pod)) []string {
		oldPod, newPod := pod("team", "a", "Running", ""), pod("team", "a", "Running", "")
		mutate(newPod)
		oldPod.Metadata.ResourceVersion, newPod.Metadata.ResourceVersion = "1", "2"
		c.updatePod(oldPod, newPod)
		return controllertest.DrainQueue(c.queue)
	}
	if got, want := update(func(p *corev1.Pod) { withDeadline(p, 30) }), []string{"team/batch"}; !slices.Equal(got, want) {
		t.Errorf("deadline set: queued %q, want %q", got, want)
	}
	// The kubelet reporting the QoS class it computed moves the pod nowhere.
	if got := update(func(p *corev1.Pod) { p.Status.QosClass = "BestEffort" }); len(got) != 0 {
		t.Errorf("qosClass reported: queued %q, want nothing", got)
	}
	if got := update(func(p *corev1.Pod) { p.Metadata.Labels = map[string]string{"x": "y"} }); len(got) != 0 {
		t.Errorf("label changed: queued %q, want nothing", got)
	}
}
