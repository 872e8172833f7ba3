package defaults

import (
	"google.golang.org/protobuf/proto"

	admissionregistrationv1 "kubelab.io/proto/api/admissionregistration/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
)

// MutatingWebhookConfiguration defaults each webhook as Kubernetes' admissionregistration/v1
// defaults do: failurePolicy Fail, matchPolicy Equivalent, empty (match-all) selectors,
// timeoutSeconds 10, reinvocationPolicy Never, and scope "*" and port 443 in their places.
func MutatingWebhookConfiguration(c *admissionregistrationv1.MutatingWebhookConfiguration) {
	for _, w := range c.GetWebhooks() {
		setString(&w.FailurePolicy, "Fail")
		setString(&w.MatchPolicy, "Equivalent")
		setString(&w.ReinvocationPolicy, "Never")
		if w.TimeoutSeconds == nil {
			w.TimeoutSeconds = proto.Int32(10)
		}
		if w.NamespaceSelector == nil {
			w.NamespaceSelector = &metav1.LabelSelector{}
		}
		if w.ObjectSelector == nil {
			w.ObjectSelector = &metav1.LabelSelector{}
		}
		webhookClientConfig(w.ClientConfig)
		webhookRules(w.Rules)
	}
}

// ValidatingWebhookConfiguration defaults each webhook as MutatingWebhookConfiguration does.
func ValidatingWebhookConfiguration(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
	for _, w := range c.GetWebhooks() {
		setString(&w.FailurePolicy, "Fail")
		setString(&w.MatchPolicy, "Equivalent")
		if w.TimeoutSeconds == nil {
			w.TimeoutSeconds = proto.Int32(10)
		}
		if w.NamespaceSelector == nil {
			w.NamespaceSelector = &metav1.LabelSelector{}
		}
		if w.ObjectSelector == nil {
			w.ObjectSelector = &metav1.LabelSelector{}
		}
		webhookClientConfig(w.ClientConfig)
		webhookRules(w.Rules)
	}
}

func webhookClientConfig(cc *admissionregistrationv1.WebhookClientConfig) {
	if s := cc.GetService(); s != nil && s.Port == nil {
		s.Port = proto.Int32(443)
	}
}

func webhookRules(rules []*admissionregistrationv1.RuleWithOperations) {
	for _, r := range rules {
		setString(&r.Scope, "*")
	}
}

// rbacSubjects defaults each subject's apiGroup: rbac.authorization.k8s.io for users and
// groups, as Kubernetes' rbac/v1 defaults do.
func rbacSubjects(subjects []*rbacv1.Subject) {
	for _, s := range subjects {
		if s.ApiGroup == "" && (s.Kind == "User" || s.Kind == "Group") {
			s.ApiGroup = "rbac.authorization.k8s.io"
		}
	}
}

// RoleBinding defaults its subjects and the roleRef's apiGroup.
func RoleBinding(b *rbacv1.RoleBinding) {
	rbacSubjects(b.Subjects)
	if b.RoleRef != nil && b.RoleRef.ApiGroup == "" {
		b.RoleRef.ApiGroup = "rbac.authorization.k8s.io"
	}
}

// ClusterRoleBinding defaults its subjects and the roleRef's apiGroup.
func ClusterRoleBinding(b *rbacv1.ClusterRoleBinding) {
	rbacSubjects(b.Subjects)
	if b.RoleRef != nil && b.RoleRef.ApiGroup == "" {
		b.RoleRef.ApiGroup = "rbac.authorization.k8s.io"
	}
}

func setString(p **string, v string) {
	if *p == nil {
		*p = proto.String(v)
	}
}
