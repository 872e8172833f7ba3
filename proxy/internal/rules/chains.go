package rules

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// The chains the proxy owns. The top-level ones exist in every sync; the per-service ones
// are named by a hash of the service port (and endpoint), as kube-proxy names them, so
// `iptables-save` here reads like it does on a kube-proxy node.
const (
	ServicesChain         = "KUBE-SERVICES"
	ExternalServicesChain = "KUBE-EXTERNAL-SERVICES"
	NodePortsChain        = "KUBE-NODEPORTS"
	PostroutingChain      = "KUBE-POSTROUTING"
	MarkMasqChain         = "KUBE-MARK-MASQ"
	ForwardChain          = "KUBE-FORWARD"

	svcPrefix = "KUBE-SVC-" // a service port's endpoints for Cluster traffic policy
	svlPrefix = "KUBE-SVL-" // its endpoints for Local traffic policy
	extPrefix = "KUBE-EXT-" // its node-port and external-IP traffic
	sepPrefix = "KUBE-SEP-" // one endpoint: DNAT
	fwPrefix  = "KUBE-FW-"  // kube-proxy's load-balancer firewall; never made here, deleted if found
)

// MasqueradeMark is the packet mark (kube-proxy's --iptables-masquerade-bit 14) that
// KUBE-MARK-MASQ sets and KUBE-POSTROUTING masquerades.
const MasqueradeMark = "0x4000"

// Tables the proxy writes to.
const (
	TableFilter = "filter"
	TableNAT    = "nat"
	// TableMangle holds only the canary.
	TableMangle = "mangle"
)

// CanaryChain is kube-proxy's KUBE-PROXY-CANARY: an empty chain kept in CanaryTables,
// mangle first, whose disappearance says someone flushed iptables under the proxy.
const CanaryChain = "KUBE-PROXY-CANARY"

// CanaryTables are where the canary lives, the one watched first.
var CanaryTables = []string{TableMangle, TableNAT, TableFilter}

// portProtoHash is kube-proxy's: the first 16 characters of the base32 of the sha256 of
// the service port's name and its lower-case protocol.
func portProtoHash(servicePortName, protocol string) string {
	hash := sha256.Sum256([]byte(servicePortName + protocol))
	return base32.StdEncoding.EncodeToString(hash[:])[:16]
}

// ServiceChain is KUBE-SVC-<hash> of a service port ("ns/name:port") and protocol.
func ServiceChain(servicePortName, protocol string) string {
	return svcPrefix + portProtoHash(servicePortName, strings.ToLower(protocol))
}

// LocalChain is KUBE-SVL-<hash>.
func LocalChain(servicePortName, protocol string) string {
	return svlPrefix + portProtoHash(servicePortName, strings.ToLower(protocol))
}

// ExternalChain is KUBE-EXT-<hash>.
func ExternalChain(servicePortName, protocol string) string {
	return extPrefix + portProtoHash(servicePortName, strings.ToLower(protocol))
}

// EndpointChain is KUBE-SEP-<hash> of a service port, protocol and endpoint ("ip:port").
func EndpointChain(servicePortName, protocol, endpoint string) string {
	hash := sha256.Sum256([]byte(servicePortName + strings.ToLower(protocol) + endpoint))
	return sepPrefix + base32.StdEncoding.EncodeToString(hash[:])[:16]
}

// IsServiceChain reports whether a nat chain is one of the per-service ones a sync
// replaces, so one that is no longer needed is deleted.
func IsServiceChain(chain string) bool {
	for _, p := range []string{svcPrefix, svlPrefix, extPrefix, sepPrefix, fwPrefix} {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// topFilterChains and topNATChains are declared (so emptied) at the start of every sync.
var (
	topFilterChains = []string{ServicesChain, ExternalServicesChain, ForwardChain, NodePortsChain}
	topNATChains    = []string{ServicesChain, NodePortsChain, PostroutingChain, MarkMasqChain}
)

// Jump is a rule in a built-in chain that sends packets to one of the proxy's chains.
// iptables-restore --noflush cannot keep such a rule without duplicating it, so the
// proxy checks for it and inserts it first in its chain, as kube-proxy does.
type Jump struct {
	Table, Chain, Target, Comment string
	// Extra are matches before the comment.
	Extra []string
}

// Args is the rule's specification for iptables -C/-I/-D.
func (j Jump) Args() []string {
	args := append([]string(nil), j.Extra...)
	if j.Comment != "" {
		args = append(args, "-m", "comment", "--comment", j.Comment)
	}
	return append(args, "-j", j.Target)
}

var ctNew = []string{"-m", "conntrack", "--ctstate", "NEW"}

// Jumps are kube-proxy's jumps from the built-in chains, less the load-balancer firewall
// (kubelab has no load balancers) and the localhost-nodeport firewall (the proxy does not
// turn on route_localnet).
var Jumps = []Jump{
	{TableFilter, "INPUT", ExternalServicesChain, "kubernetes externally-visible service portals", ctNew},
	{TableFilter, "FORWARD", ExternalServicesChain, "kubernetes externally-visible service portals", ctNew},
	{TableFilter, "INPUT", NodePortsChain, "kubernetes health check service ports", nil},
	{TableFilter, "FORWARD", ServicesChain, "kubernetes service portals", ctNew},
	{TableFilter, "OUTPUT", ServicesChain, "kubernetes service portals", ctNew},
	{TableFilter, "FORWARD", ForwardChain, "kubernetes forwarding rules", nil},
	{TableNAT, "OUTPUT", ServicesChain, "kubernetes service portals", nil},
	{TableNAT, "PREROUTING", ServicesChain, "kubernetes service portals", nil},
	{TableNAT, "POSTROUTING", PostroutingChain, "kubernetes postrouting rules", nil},
}

// Owned reports whether a chain of table is the proxy's (what --cleanup removes).
func Owned(table, chain string) bool {
	top := topFilterChains
	if table == TableNAT {
		if IsServiceChain(chain) {
			return true
		}
		top = topNATChains
	}
	for _, c := range top {
		if c == chain {
			return true
		}
	}
	return false
}
