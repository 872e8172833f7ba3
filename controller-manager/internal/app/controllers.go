package app

import (
	"kubelab.io/controller-manager/internal/clusterroleaggregation"
	"kubelab.io/controller-manager/internal/controllerctx"
	"kubelab.io/controller-manager/internal/cronjob"
	"kubelab.io/controller-manager/internal/daemon"
	"kubelab.io/controller-manager/internal/deployment"
	"kubelab.io/controller-manager/internal/disruption"
	"kubelab.io/controller-manager/internal/endpoint"
	"kubelab.io/controller-manager/internal/endpointslice"
	"kubelab.io/controller-manager/internal/garbagecollector"
	"kubelab.io/controller-manager/internal/job"
	"kubelab.io/controller-manager/internal/namespace"
	"kubelab.io/controller-manager/internal/nodeipam"
	"kubelab.io/controller-manager/internal/nodelifecycle"
	"kubelab.io/controller-manager/internal/podgc"
	"kubelab.io/controller-manager/internal/replicaset"
	"kubelab.io/controller-manager/internal/resourcequota"
	"kubelab.io/controller-manager/internal/rootcacertpublisher"
	"kubelab.io/controller-manager/internal/serviceaccount"
	"kubelab.io/controller-manager/internal/statefulset"
	"kubelab.io/controller-manager/internal/ttlafterfinished"
	"kubelab.io/controller-manager/internal/volume/binder"
	"kubelab.io/controller-manager/internal/volume/ephemeral"
	"kubelab.io/controller-manager/internal/volume/localpath"
	"kubelab.io/controller-manager/internal/volume/protection"
)

// NewControllerInitializers returns the controllers built into this binary, by their
// --controllers name. Names KnownControllers lists but this map lacks are accepted by
// --controllers and skipped with a warning.
func NewControllerInitializers() map[string]InitFunc {
	return map[string]InitFunc{
		"deployment":         Init(deployment.New, func(o controllerctx.Options) int { return o.ConcurrentDeploymentSyncs }),
		"replicaset":         Init(replicaset.New, func(o controllerctx.Options) int { return o.ConcurrentReplicaSetSyncs }),
		"garbagecollector":   Init(garbagecollector.New, func(o controllerctx.Options) int { return o.ConcurrentGCSyncs }),
		"namespace":          Init(namespace.New, func(o controllerctx.Options) int { return o.ConcurrentNamespaceSyncs }),
		"nodelifecycle":      Init(nodelifecycle.New, OneWorker),
		"nodeipam":           Init(nodeipam.New, OneWorker),
		"resourcequota":      Init(resourcequota.New, func(o controllerctx.Options) int { return o.ConcurrentResourceQuotaSyncs }),
		"job":                Init(job.New, func(o controllerctx.Options) int { return o.ConcurrentJobSyncs }),
		"daemonset":          Init(daemon.New, func(o controllerctx.Options) int { return o.ConcurrentDaemonSetSyncs }),
		"statefulset":        Init(statefulset.New, func(o controllerctx.Options) int { return o.ConcurrentStatefulSetSyncs }),
		"ttl-after-finished": Init(ttlafterfinished.New, func(o controllerctx.Options) int { return o.ConcurrentTTLSyncs }),
		"cronjob":            Init(cronjob.New, func(o controllerctx.Options) int { return o.ConcurrentCronJobSyncs }),
		// One worker, as kube-controller-manager runs it.
		"disruption": Init(disruption.New, OneWorker),
		// One loop, a pass every 20 s.
		"pod-garbage-collector": Init(podgc.New, OneWorker),
		// One worker each, as kube-controller-manager runs them: their work is one create
		// per namespace.
		"serviceaccount":         Init(serviceaccount.New, OneWorker),
		"root-ca-cert-publisher": Init(rootcacertpublisher.New, OneWorker),
		// Five workers each by default, as kube-controller-manager runs them.
		"endpointslice": Init(endpointslice.New, func(o controllerctx.Options) int { return o.ConcurrentServiceEndpointSyncs }),
		"endpoint":      Init(endpoint.New, func(o controllerctx.Options) int { return o.ConcurrentEndpointSyncs }),
		// Five workers, as kube-controller-manager runs it; every ClusterRole event queues
		// every aggregated role.
		"clusterrole-aggregation": Init(clusterroleaggregation.New, func(controllerctx.Options) int { return 5 }),
		// One worker each, as kube-controller-manager runs them.
		"pvc-protection": Init(protection.NewPVC, OneWorker),
		"pv-protection":  Init(protection.NewPV, OneWorker),
		// Upstream runs one claim and one volume worker; here both loops share a queue.
		"persistentvolume-binder": Init(binder.New, func(controllerctx.Options) int { return 2 }),
		// Five workers, kube-controller-manager's --concurrent-ephemeralvolume-syncs default.
		"ephemeral-volume": Init(ephemeral.New, func(controllerctx.Options) int { return 5 }),
		// kubelab's built-in kubelab.io/local-path provisioner (upstream runs provisioners
		// outside the controller-manager).
		"local-path-provisioner": Init(localpath.New, func(controllerctx.Options) int { return 2 }),
	}
}
