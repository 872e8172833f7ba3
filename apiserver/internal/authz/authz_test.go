package authz_test

import (
	"context"
	"testing"

	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/authz/node"
	"kubelab.io/apiserver/internal/request"
)

// TestChainRulesFor: the chain lists what its members can list. PrivilegedGroups adds
// nothing (system:masters' rules come from its cluster-admin binding, as in Kubernetes),
// AlwaysAllow lists everything, and a kubelet's list is incomplete, with the reason.
func TestChainRulesFor(t *testing.T) {
	chain := authz.Chain{authz.PrivilegedGroups{request.GroupMasters}, &node.Authorizer{}}
	admin := &request.User{Name: "admin", Groups: []string{request.GroupMasters}}
	if rules, incomplete, err := chain.RulesFor(context.Background(), admin, "default"); len(rules) != 0 || incomplete || err != nil {
		t.Errorf("admin: %v %v %v", rules, incomplete, err)
	}
	kubelet := &request.User{Name: "system:node:n1", Groups: []string{request.GroupNodes}}
	rules, incomplete, err := chain.RulesFor(context.Background(), kubelet, "default")
	if len(rules) != 0 || !incomplete || err == nil || err.Error() != "node authorizer does not support user rule resolution" {
		t.Errorf("kubelet: %v %v %v", rules, incomplete, err)
	}
	rules, incomplete, err = append(chain, authz.AlwaysAllow{}).RulesFor(context.Background(), admin, "default")
	if len(rules) != 2 || incomplete || err != nil || rules[0].GetVerbs()[0] != "*" {
		t.Errorf("AlwaysAllow: %v %v %v", rules, incomplete, err)
	}
}
