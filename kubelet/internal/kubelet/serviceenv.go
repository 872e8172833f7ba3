package kubelet

import (
	"errors"
	"net"
	"strconv"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/labels"
)

// errServicesNotSynced keeps containers from starting with an environment that misses the
// services: Kubernetes' kubelet refuses the same way until its service informer has synced.
var errServicesNotSynced = errors.New("services have not yet been read at least once, cannot construct envvars")

// masterServiceNamespace holds the `kubernetes` Service, whose variables every pod gets.
const masterServiceNamespace = "default"

// serviceEnvFor is the environment the services give pod's containers, as Kubernetes'
// kubelet builds it (getServiceEnvVarMap): the `kubernetes` Service of `default` for every
// pod, and, unless spec.enableServiceLinks is false, every Service of the pod's namespace
// that has a cluster IP.
func (k *Kubelet) serviceEnvFor(pod *corev1.Pod) (map[string]string, error) {
	if k.servicesSynced == nil {
		return nil, nil // no API to read them from: a kubelet without services
	}
	if !k.servicesSynced() {
		return nil, errServicesNotSynced
	}
	all, err := k.services.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	ns := pod.GetMetadata().GetNamespace()
	links := pod.GetSpec().EnableServiceLinks == nil || pod.GetSpec().GetEnableServiceLinks()
	return serviceEnv(all, ns, links), nil
}

// serviceEnv picks the services a pod of namespace ns sees and returns their variables.
// A Service of the pod's own namespace named `kubernetes` wins over the master's.
func serviceEnv(services []*corev1.Service, ns string, links bool) map[string]string {
	chosen := map[string]*corev1.Service{}
	for _, svc := range services {
		m := svc.GetMetadata()
		if !hasClusterIP(svc) {
			continue
		}
		switch {
		case m.GetNamespace() == ns && links:
			chosen[m.GetName()] = svc
		case m.GetNamespace() == masterServiceNamespace && m.GetName() == "kubernetes":
			if _, taken := chosen[m.GetName()]; !taken {
				chosen[m.GetName()] = svc
			}
		}
	}
	env := map[string]string{}
	for _, svc := range chosen {
		for _, kv := range serviceVars(svc) {
			env[kv[0]] = kv[1]
		}
	}
	return env
}

func hasClusterIP(svc *corev1.Service) bool {
	ip := svc.GetSpec().GetClusterIP()
	return ip != "" && ip != corev1.ClusterIPNone
}

// serviceVars are one Service's variables (Kubernetes' envvars.FromServices): NAME_SERVICE_HOST
// and NAME_SERVICE_PORT (its first port), NAME_SERVICE_PORT_PORTNAME per named port, and
// Docker's link variables NAME_PORT and NAME_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}.
func serviceVars(svc *corev1.Service) [][2]string {
	name := envName(svc.GetMetadata().GetName())
	ip := svc.GetSpec().GetClusterIP()
	ports := svc.GetSpec().GetPorts()
	if len(ports) == 0 {
		return [][2]string{{name + "_SERVICE_HOST", ip}}
	}
	first := strconv.Itoa(int(ports[0].GetPort()))
	vars := [][2]string{{name + "_SERVICE_HOST", ip}, {name + "_SERVICE_PORT", first}}
	for _, p := range ports {
		if p.GetName() != "" {
			vars = append(vars, [2]string{name + "_SERVICE_PORT_" + envName(p.GetName()), strconv.Itoa(int(p.GetPort()))})
		}
	}
	proto := func(p *corev1.ServicePort) string {
		if p.GetProtocol() == "" {
			return corev1.ProtocolTCP
		}
		return p.GetProtocol()
	}
	url := func(p *corev1.ServicePort) string {
		return strings.ToLower(proto(p)) + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.GetPort())))
	}
	vars = append(vars, [2]string{name + "_PORT", url(ports[0])})
	for _, p := range ports {
		prefix := name + "_PORT_" + strconv.Itoa(int(p.GetPort())) + "_" + strings.ToUpper(proto(p))
		vars = append(vars,
			[2]string{prefix, url(p)},
			[2]string{prefix + "_PROTO", strings.ToLower(proto(p))},
			[2]string{prefix + "_PORT", strconv.Itoa(int(p.GetPort()))},
			[2]string{prefix + "_ADDR", ip})
	}
	return vars
}

// envName turns a DNS label into a variable name: upper case, '-' as '_'.
func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
