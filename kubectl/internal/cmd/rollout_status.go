package cmd

import (
	"errors"
	"fmt"
)

// statusViewers are kubectl's StatusViewers, by kind: a progress message for the object's
// rollout and whether it is done.
var statusViewers = map[string]func(Object) (string, bool, error){
	"Deployment":  deploymentStatus,
	"DaemonSet":   daemonSetStatus,
	"StatefulSet": statefulSetStatus,
}

// errOnlyRollingUpdate is what both set viewers say of another update strategy; upstream
// names the StatefulSet constant in both, whose value is the DaemonSet's too.
var errOnlyRollingUpdate = errors.New("rollout status is only available for RollingUpdate strategy type")

// daemonSetStatus is kubectl's DaemonSetStatusViewer: a progress message and whether the
// rollout is done.
func daemonSetStatus(ds Object) (string, bool, error) {
	if t := nestedString(ds, "spec", "updateStrategy", "type"); t != "RollingUpdate" {
		return "", true, errOnlyRollingUpdate
	}
	name := nestedString(ds, "metadata", "name")
	gen, _ := nestedInt(ds, "metadata", "generation")
	observed, _ := nestedInt(ds, "status", "observedGeneration")
	if gen > observed {
		return "Waiting for daemon set spec update to be observed...\n", false, nil
	}
	desired, _ := nestedInt(ds, "status", "desiredNumberScheduled")
	updated, _ := nestedInt(ds, "status", "updatedNumberScheduled")
	available, _ := nestedInt(ds, "status", "numberAvailable")
	switch {
	case updated < desired:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...\n", name, updated, desired), false, nil
	case available < desired:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...\n", name, available, desired), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out\n", name), true, nil
}

// statefulSetStatus is kubectl's StatefulSetStatusViewer. The apiserver defaults
// rollingUpdate.partition to 0, so a RollingUpdate set reports its end as a partitioned
// roll out; the revision message is for a set whose rollingUpdate is unset.
func statefulSetStatus(sts Object) (string, bool, error) {
	if t := nestedString(sts, "spec", "updateStrategy", "type"); t != "RollingUpdate" {
		return "", true, errOnlyRollingUpdate
	}
	gen, _ := nestedInt(sts, "metadata", "generation")
	observed, _ := nestedInt(sts, "status", "observedGeneration")
	if observed == 0 || gen > observed {
		return "Waiting for statefulset spec update to be observed...\n", false, nil
	}
	replicas, hasReplicas := nestedInt(sts, "spec", "replicas")
	ready, _ := nestedInt(sts, "status", "readyReplicas")
	if hasReplicas && ready < replicas {
		return fmt.Sprintf("Waiting for %d pods to be ready...\n", replicas-ready), false, nil
	}
	updated, _ := nestedInt(sts, "status", "updatedReplicas")
	if nestedMap(sts, "spec", "updateStrategy", "rollingUpdate") != nil {
		if partition, ok := nestedInt(sts, "spec", "updateStrategy", "rollingUpdate", "partition"); ok && hasReplicas && updated < replicas-partition {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...\n", updated, replicas-partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...\n", updated), true, nil
	}
	current, update := nestedString(sts, "status", "currentRevision"), nestedString(sts, "status", "updateRevision")
	if update != current {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...\n", updated, update), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...\n", num(sts, "status", "currentReplicas"), current), true, nil
}
