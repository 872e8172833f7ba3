package node

import "testing"

func TestSelectsNode(t *testing.T) {
	for sel, want := range map[string]bool{
		"spec.nodeName=n1":                      true,
		"spec.nodeName==n1":                     true,
		"status.phase=Running,spec.nodeName=n1": true,
		"spec.nodeName=n2":                      false,
		"spec.nodeName!=n1":                     false,
		"":                                      false,
		"metadata.name=n1":                      false,
	} {
		if got := selectsNode(sel, "n1"); got != want {
			t.Errorf("selectsNode(%q) = %v, want %v", sel, got, want)
		}
	}
}
