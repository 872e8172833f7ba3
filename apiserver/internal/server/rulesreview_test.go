package server

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

const selfSubjectRulesReviews = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"

// rulesReview posts a SelfSubjectRulesReview for namespace as c and returns its status.
func rulesReview(t *testing.T, c *apiClient, namespace string) map[string]any {
	t.Helper()
	r := c.post(selfSubjectRulesReviews, `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"`+namespace+`"}}`).must(t, 201)
	status, _ := r.json(t)["status"].(map[string]any)
	return status
}

// hasRule reports whether rules (resourceRules or nonResourceRules) hold one whose fields
// print as want, e.g. `verbs:[get list watch] apiGroups:[] resources:[pods]`.
func hasRule(rules any, want string) bool {
	list, _ := rules.([]any)
	for _, r := range list {
		m := r.(map[string]any)
		var parts []string
		for _, k := range []string{"verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"} {
			if v, ok := m[k]; ok {
				var s []string
				for _, x := range v.([]any) {
					s = append(s, str(x))
				}
				parts = append(parts, k+":["+strings.Join(s, " ")+"]")
			}
		}
		if strings.Join(parts, " ") == want {
			return true
		}
	}
	return false
}

// TestSelfSubjectRulesReview lists a caller's rules in a namespace: the Role bob is bound to
// in default shows there and not in kube-system, a group's ClusterRoleBinding shows in both,
// system:masters holds everything through cluster-admin, a kubelet's list is incomplete, and
// a review without a namespace is refused as Kubernetes refuses it.
func TestSelfSubjectRulesReview(t *testing.T) {
	s, _ := impersonationServer(t)
	bob := userClient(t, s, "bob")
	eventually(t, "bob's binding to take effect", func() bool { return bob.get(pods).code == 200 })

	podReader := `verbs:[get list watch] apiGroups:[] resources:[pods]`
	basicUser := `verbs:[create] apiGroups:[authorization.k8s.io] resources:[selfsubjectaccessreviews selfsubjectrulesreviews]`
	st := rulesReview(t, bob, "default")
	if !hasRule(st["resourceRules"], podReader) || !hasRule(st["resourceRules"], basicUser) ||
		!hasRule(st["nonResourceRules"], `verbs:[get] nonResourceURLs:[/healthz /livez /readyz /version /version/]`) || st["incomplete"] != false {
		t.Errorf("bob in default: %v", st)
	}
	st = rulesReview(t, bob, "kube-system")
	if hasRule(st["resourceRules"], podReader) || !hasRule(st["resourceRules"], basicUser) {
		t.Errorf("bob in kube-system: %v", st)
	}
	nodeLister := `verbs:[list] apiGroups:[] resources:[nodes]`
	if st := rulesReview(t, userClient(t, s, "bob", "devs"), "kube-system"); !hasRule(st["resourceRules"], nodeLister) {
		t.Errorf("bob in devs: %v", st)
	}
	// Under impersonation the review is of the impersonated user.
	if st := rulesReview(t, impersonating(adminClient(t, s), asUser("bob")), "default"); !hasRule(st["resourceRules"], podReader) || hasRule(st["resourceRules"], nodeLister) {
		t.Errorf("admin as bob: %v", st)
	}

	admin := adminClient(t, s)
	st = rulesReview(t, admin, "default")
	if !hasRule(st["resourceRules"], `verbs:[*] apiGroups:[*] resources:[*]`) || !hasRule(st["nonResourceRules"], `verbs:[*] nonResourceURLs:[*]`) {
		t.Errorf("admin: %v", st)
	}
	if st := rulesReview(t, userClient(t, s, "system:node:n1", "system:nodes"), "default"); st["incomplete"] != true ||
		st["evaluationError"] != "node authorizer does not support user rule resolution" {
		t.Errorf("kubelet: %v", st)
	}

	for _, body := range []string{
		`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{}}`,
		`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview"}`,
	} {
		r := bob.post(selfSubjectRulesReviews, body).must(t, http.StatusBadRequest)
		if v := r.json(t); v["message"] != "no namespace on request" || v["reason"] != "BadRequest" {
			t.Errorf("%s: %s", body, r.body)
		}
	}
	bob.get(selfSubjectRulesReviews).must(t, http.StatusMethodNotAllowed)
	bob.post(selfSubjectRulesReviews, `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":7}}`).must(t, http.StatusBadRequest)
}

// TestRulesReviewStockKubectl runs the stock kubectl's `auth can-i --list` (a protobuf
// body) as bob, in his namespace and in another, and as the admin.
func TestRulesReviewStockKubectl(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s, _ := impersonationServer(t)
	bob := userClient(t, s, "bob")
	eventually(t, "bob's binding to take effect", func() bool { return bob.get(pods).code == 200 })
	bobKC := userKubeconfig(t, s, "bob")
	row := func(cells ...string) *regexp.Regexp {
		for i, c := range cells {
			cells[i] = regexp.QuoteMeta(c)
		}
		return regexp.MustCompile(`(?m)^` + strings.Join(cells, ` +`) + `$`)
	}
	for _, tc := range []struct {
		kubeconfig string
		args       []string
		want       []*regexp.Regexp
		notWant    []*regexp.Regexp
	}{
		{bobKC, nil, []*regexp.Regexp{
			row("Resources", "Non-Resource URLs", "Resource Names", "Verbs"),
			row("pods", "[]", "[]", "[get list watch]"),
			row("selfsubjectreviews.authentication.k8s.io", "[]", "[]", "[create]"),
			row("", "[/healthz]", "[]", "[get]"),
		}, nil},
		{bobKC, []string{"-n", "kube-system"}, []*regexp.Regexp{row("selfsubjectrulesreviews.authorization.k8s.io", "[]", "[]", "[create]")},
			[]*regexp.Regexp{row("pods", "[]", "[]", "[get list watch]")}},
		{s.AdminKubeconfig(), []string{"--no-headers"}, []*regexp.Regexp{row("*.*", "[]", "[]", "[*]"), row("", "[*]", "[]", "[*]")},
			[]*regexp.Regexp{row("Resources", "Non-Resource URLs", "Resource Names", "Verbs")}},
		{s.AdminKubeconfig(), []string{"--as=bob"}, []*regexp.Regexp{row("pods", "[]", "[]", "[get list watch]")},
			[]*regexp.Regexp{row("*.*", "[]", "[]", "[*]")}},
	} {
		out, err := kubectlAs(t, tc.kubeconfig, append([]string{"auth", "can-i", "--list"}, tc.args...)...)
		if err != nil {
			t.Errorf("kubectl auth can-i --list %v: %v\n%s", tc.args, err, out)
			continue
		}
		for _, re := range tc.want {
			if !re.MatchString(out) {
				t.Errorf("kubectl auth can-i --list %v lacks %s:\n%s", tc.args, re, out)
			}
		}
		for _, re := range tc.notWant {
			if re.MatchString(out) {
				t.Errorf("kubectl auth can-i --list %v has %s:\n%s", tc.args, re, out)
			}
		}
	}
}
