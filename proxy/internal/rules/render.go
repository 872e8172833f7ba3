// Package rules renders the node proxy's iptables state: from the service ports of
// servicemap, the complete contents of the proxy's chains in the filter and nat tables as
// one iptables-restore input, as kube-proxy's iptables mode writes them (1.32: KUBE-SERVICES,
// KUBE-SVC/SVL/EXT/SEP per service port, KUBE-NODEPORTS, KUBE-MARK-MASQ and
// KUBE-POSTROUTING with mark 0x4000, REJECT and DROP for ports without endpoints).
//
// The input is meant for `iptables-restore --noflush`: each of the proxy's chains is
// declared, which empties it, and refilled; other chains of the tables are left alone; a
// stale per-service chain is declared and deleted. Rendering is pure and deterministic
// (ports and endpoints in sorted order), so the same API state gives the same bytes.
package rules

import (
	"fmt"
	"strconv"
	"strings"

	"kubelab.io/proxy/internal/servicemap"
)

// Config is what, besides the services, decides the rules.
type Config struct {
	// ClusterCIDR is the pods' range (kube-proxy's --cluster-cidr): traffic to a cluster
	// IP from outside it is masqueraded, and pods' traffic to a node port of an
	// externalTrafficPolicy Local service may use any endpoint. Empty: no such rules.
	ClusterCIDR string
	// MasqueradeAll masquerades all traffic to cluster IPs.
	MasqueradeAll bool
	// NodePortIPs, when RestrictNodePorts is set, are the only addresses node ports are
	// served on (--nodeport-addresses); otherwise every local address but loopback.
	NodePortIPs       []string
	RestrictNodePorts bool
}

// Result is one rendering.
type Result struct {
	// Data is the iptables-restore input: *filter … COMMIT, then *nat … COMMIT.
	Data []byte
	// FilterRules and NATRules count the rules written to each table (metrics).
	FilterRules, NATRules int
	// NATChains are the nat chains the rules use; DeletedChains the stale ones removed.
	NATChains     []string
	DeletedChains []string
	// NoLocalInternal and NoLocalExternal count the service ports whose Local traffic
	// policy finds no endpoint on this node while the cluster has some.
	NoLocalInternal, NoLocalExternal int
}

// buffer gathers the lines of one part of a table.
type buffer struct {
	lines []string
}

func (b *buffer) write(words ...string) { b.lines = append(b.lines, strings.Join(words, " ")) }

// quote makes a comment one iptables-restore word.
func quote(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return strconv.Quote(s)
	}
	return s
}

// Render returns the rules for ports. existingNAT are the chains now in the nat table
// (from iptables-save): those of them that look like the proxy's per-service chains and
// are no longer used are flushed and deleted by the same restore.
func Render(cfg Config, ports []servicemap.ServicePort, existingNAT []string) Result {
	var filterChains, filterRules, natChains, natRules buffer
	for _, c := range topFilterChains {
		filterChains.write(":" + c + " - [0:0]")
	}
	for _, c := range topNATChains {
		natChains.write(":" + c + " - [0:0]")
	}
	natRules.write("-A", PostroutingChain, "-m", "mark", "!", "--mark", MasqueradeMark+"/"+MasqueradeMark, "-j", "RETURN")
	// Clear the mark, so a packet that goes through the stack again is not masqueraded twice.
	natRules.write("-A", PostroutingChain, "-j", "MARK", "--xor-mark", MasqueradeMark)
	natRules.write("-A", PostroutingChain, "-m", "comment", "--comment", quote("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE", "--random-fully")
	natRules.write("-A", MarkMasqChain, "-j", "MARK", "--or-mark", MasqueradeMark)

	res := Result{}
	active := map[string]bool{}
	chain := func(name string) {
		if !active[name] {
			active[name] = true
			natChains.write(":" + name + " - [0:0]")
			res.NATChains = append(res.NATChains, name)
		}
	}

	for i := range ports {
		sp := &ports[i]
		name := sp.Name.String()
		proto := strings.ToLower(sp.Name.Protocol)
		port := strconv.Itoa(int(sp.Port))
		cat := servicemap.Categorize(sp)

		clusterChain := ServiceChain(name, proto)
		localChain := LocalChain(name, proto)
		extChain := ExternalChain(name, proto)
		usesClusterChain := len(cat.Cluster) > 0 && sp.UsesClusterEndpoints()
		usesLocalChain := len(cat.Local) > 0 && sp.UsesLocalEndpoints()

		internalChain, hasInternal := clusterChain, cat.HasAny
		if sp.InternalPolicyLocal {
			internalChain = localChain
			hasInternal = hasInternal && len(cat.Local) > 0
		}
		externalPolicyChain, hasExternal := clusterChain, cat.HasAny
		if sp.ExternalPolicyLocal {
			externalPolicyChain = localChain
			hasExternal = hasExternal && len(cat.Local) > 0
		}
		// The EXT chain exists whenever there are endpoints anywhere, so this node's own
		// traffic to a node port still short-circuits to the cluster when it has none.
		usesExtChain := cat.HasAny && sp.ExternallyAccessible()

		internalTarget, internalComment := "REJECT", quote(name+" has no endpoints")
		externalTarget, externalComment := internalTarget, internalComment
		if cat.HasAny {
			if !hasInternal {
				internalTarget, internalComment = "DROP", quote(name+" has no local endpoints")
				res.NoLocalInternal++
			}
			if !hasExternal {
				externalTarget, externalComment = "DROP", quote(name+" has no local endpoints")
				res.NoLocalExternal++
			}
		}
		match := []string{"-m", proto, "-p", proto}

		// The cluster IP.
		if hasInternal {
			natRules.write(join([]string{"-A", ServicesChain, "-m", "comment", "--comment", quote(name + " cluster IP")}, match, []string{"-d", sp.ClusterIP, "--dport", port, "-j", internalChain})...)
		} else {
			filterRules.write(join([]string{"-A", ServicesChain, "-m", "comment", "--comment", internalComment}, match, []string{"-d", sp.ClusterIP, "--dport", port, "-j", internalTarget})...)
		}
		// External IPs.
		for _, ip := range sp.ExternalIPs {
			if cat.HasAny {
				natRules.write(join([]string{"-A", ServicesChain, "-m", "comment", "--comment", quote(name + " external IP")}, match, []string{"-d", ip, "--dport", port, "-j", extChain})...)
			}
			if !hasExternal {
				filterRules.write(join([]string{"-A", ExternalServicesChain, "-m", "comment", "--comment", externalComment}, match, []string{"-d", ip, "--dport", port, "-j", externalTarget})...)
			}
		}
		// The node port.
		if sp.NodePort != 0 {
			np := strconv.Itoa(int(sp.NodePort))
			if cat.HasAny {
				natRules.write(join([]string{"-A", NodePortsChain, "-m", "comment", "--comment", quote(name)}, match, []string{"--dport", np, "-j", extChain})...)
			}
			if !hasExternal {
				filterRules.write(join([]string{"-A", ExternalServicesChain, "-m", "comment", "--comment", externalComment, "-m", "addrtype", "--dst-type", "LOCAL"}, match, []string{"--dport", np, "-j", externalTarget})...)
			}
		}

		// Masquerade cluster-IP traffic from outside the pods' range: it may have been
		// routed here from off the node and its replies must come back through here.
		if hasInternal {
			args := join([]string{"-A", internalChain, "-m", "comment", "--comment", quote(name + " cluster IP")}, match, []string{"-d", sp.ClusterIP, "--dport", port})
			switch {
			case cfg.MasqueradeAll:
				natRules.write(append(args, "-j", MarkMasqChain)...)
			case cfg.ClusterCIDR != "":
				natRules.write(append(args, "!", "-s", cfg.ClusterCIDR, "-j", MarkMasqChain)...)
			}
		}

		if usesExtChain {
			chain(extChain)
			if !sp.ExternalPolicyLocal {
				// Endpoints may be on another node: masquerade, so replies come back here.
				natRules.write("-A", extChain, "-m", "comment", "--comment", quote("masquerade traffic for "+name+" external destinations"), "-j", MarkMasqChain)
			} else {
				if cfg.ClusterCIDR != "" {
					// A pod's traffic to an external destination is treated as if it had
					// gone out to a load balancer and come back: either policy is fine.
					natRules.write("-A", extChain, "-m", "comment", "--comment", quote("pod traffic for "+name+" external destinations"), "-s", cfg.ClusterCIDR, "-j", clusterChain)
				}
				// The node's own traffic has a local source address that the endpoint
				// could not answer: masquerade it, and let it use any endpoint.
				natRules.write("-A", extChain, "-m", "comment", "--comment", quote("masquerade LOCAL traffic for "+name+" external destinations"), "-m", "addrtype", "--src-type", "LOCAL", "-j", MarkMasqChain)
				natRules.write("-A", extChain, "-m", "comment", "--comment", quote("route LOCAL traffic for "+name+" external destinations"), "-m", "addrtype", "--src-type", "LOCAL", "-j", clusterChain)
			}
			if hasExternal {
				natRules.write("-A", extChain, "-j", externalPolicyChain)
			}
		}

		if usesClusterChain {
			chain(clusterChain)
			writeBalancing(&natRules, name, sp, clusterChain, cat.Cluster)
		}
		if usesLocalChain {
			chain(localChain)
			writeBalancing(&natRules, name, sp, localChain, cat.Local)
		}
		for _, ep := range cat.AllReachable {
			sep := EndpointChain(name, proto, ep.String())
			chain(sep)
			// Hairpin: a pod reaching itself through its service must see the reply
			// come from the service, so its own traffic is masqueraded.
			natRules.write("-A", sep, "-m", "comment", "--comment", quote(name), "-s", ep.IP, "-j", MarkMasqChain)
			args := []string{"-A", sep, "-m", "comment", "--comment", quote(name)}
			if sp.StickySeconds > 0 {
				args = append(args, "-m", "recent", "--name", sep, "--set")
			}
			natRules.write(join(args, match, []string{"-j", "DNAT", "--to-destination", ep.String()})...)
		}
	}

	// Stale per-service chains: declaring one flushes it, then it can go.
	for _, c := range existingNAT {
		if IsServiceChain(c) && !active[c] {
			natChains.write(":" + c + " - [0:0]")
			natRules.write("-X", c)
			res.DeletedChains = append(res.DeletedChains, c)
		}
	}

	// Node ports last: every other service rule must have had its chance.
	nodePortsComment := quote("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
	if !cfg.RestrictNodePorts {
		natRules.write("-A", ServicesChain, "-m", "comment", "--comment", nodePortsComment, "-m", "addrtype", "--dst-type", "LOCAL", "!", "-d", "127.0.0.0/8", "-j", NodePortsChain)
	} else {
		for _, ip := range cfg.NodePortIPs {
			natRules.write("-A", ServicesChain, "-m", "comment", "--comment", nodePortsComment, "-d", ip, "-j", NodePortsChain)
		}
	}

	// Forwarding: packets the proxy marked, and their connections, pass a FORWARD chain
	// whose policy is DROP; invalid ones (which would reset connections) do not.
	filterRules.write("-A", ForwardChain, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	filterRules.write("-A", ForwardChain, "-m", "comment", "--comment", quote("kubernetes forwarding rules"), "-m", "mark", "--mark", MasqueradeMark+"/"+MasqueradeMark, "-j", "ACCEPT")
	filterRules.write("-A", ForwardChain, "-m", "comment", "--comment", quote("kubernetes forwarding conntrack rule"), "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")

	var b strings.Builder
	b.WriteString("*filter\n")
	for _, l := range append(filterChains.lines, filterRules.lines...) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n*nat\n")
	for _, l := range append(natChains.lines, natRules.lines...) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	res.Data = []byte(b.String())
	res.FilterRules = len(filterRules.lines)
	res.NATRules = len(natRules.lines) - len(res.DeletedChains)
	return res
}

// writeBalancing fills a KUBE-SVC or KUBE-SVL chain: with ClientIP affinity, first a jump
// to the endpoint a client used within the timeout; then one rule per endpoint, each
// taking its share of what the ones before left (1/n, 1/(n-1), …, the last all).
func writeBalancing(natRules *buffer, name string, sp *servicemap.ServicePort, chain string, eps []servicemap.Endpoint) {
	proto := strings.ToLower(sp.Name.Protocol)
	if sp.StickySeconds > 0 {
		for _, ep := range eps {
			sep := EndpointChain(name, proto, ep.String())
			natRules.write("-A", chain, "-m", "comment", "--comment", quote(name+" -> "+ep.String()),
				"-m", "recent", "--name", sep, "--rcheck", "--seconds", strconv.Itoa(int(sp.StickySeconds)), "--reap", "-j", sep)
		}
	}
	for i, ep := range eps {
		args := []string{"-A", chain, "-m", "comment", "--comment", quote(name + " -> " + ep.String())}
		if n := len(eps) - i; n > 1 {
			args = append(args, "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%0.10f", 1.0/float64(n)))
		}
		natRules.write(append(args, "-j", EndpointChain(name, proto, ep.String()))...)
	}
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Cleanup returns the iptables-restore input that empties and deletes every chain of the
// proxy that exists (existing maps a table to its chains, from iptables-save), or nil
// when there are none. The jumps to them (Jumps) must be gone first: a referenced chain
// cannot be deleted.
func Cleanup(existing map[string][]string) []byte {
	var b strings.Builder
	for _, table := range []string{TableFilter, TableNAT} {
		var owned []string
		for _, c := range existing[table] {
			if Owned(table, c) {
				owned = append(owned, c)
			}
		}
		if len(owned) == 0 {
			continue
		}
		b.WriteString("*" + table + "\n")
		for _, c := range owned {
			b.WriteString(":" + c + " - [0:0]\n")
		}
		for _, c := range owned {
			b.WriteString("-X " + c + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	if b.Len() == 0 {
		return nil
	}
	return []byte(b.String())
}
