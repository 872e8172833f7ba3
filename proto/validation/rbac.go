package validation

import (
	"fmt"

	admissionregistrationv1 "kubelab.io/proto/api/admissionregistration/v1"
	authorizationv1 "kubelab.io/proto/api/authorization/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
	"kubelab.io/proto/apierrors"
)

// ---- RBAC (pkg/apis/rbac/validation) ----

const rbacGroup = "rbac.authorization.k8s.io"

// ValidateRole checks a Role's rules; a namespaced rule may not name non-resource URLs.
func ValidateRole(r *rbacv1.Role) apierrors.FieldErrors {
	return validateRules(r.GetRules(), true, "rules")
}

// ValidateClusterRole checks a ClusterRole's rules.
func ValidateClusterRole(r *rbacv1.ClusterRole) apierrors.FieldErrors {
	errs := validateRules(r.GetRules(), false, "rules")
	for i, sel := range r.GetAggregationRule().GetClusterRoleSelectors() {
		errs = append(errs, ValidateLabelSelector(sel, index("aggregationRule.clusterRoleSelectors", i))...)
	}
	return errs
}

func validateRules(rules []*rbacv1.PolicyRule, namespaced bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	for i, r := range rules {
		errs = append(errs, ValidatePolicyRule(r, namespaced, index(p, i))...)
	}
	return errs
}

// ValidatePolicyRule checks one rule with Kubernetes' messages: verbs are required, and a
// rule names either resources (with api groups) or non-resource URLs, never both.
func ValidatePolicyRule(r *rbacv1.PolicyRule, namespaced bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if len(r.GetVerbs()) == 0 {
		errs = append(errs, apierrors.Required(child(p, "verbs"), "verbs must contain at least one value"))
	}
	if len(r.GetNonResourceURLs()) > 0 {
		if namespaced {
			errs = append(errs, apierrors.Invalid(child(p, "nonResourceURLs"), goSyntax{r.GetNonResourceURLs()}, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(r.GetApiGroups()) > 0 || len(r.GetResources()) > 0 {
			errs = append(errs, apierrors.Invalid(child(p, "nonResourceURLs"), goSyntax{r.GetNonResourceURLs()}, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return errs
	}
	if len(r.GetApiGroups()) == 0 {
		errs = append(errs, apierrors.Required(child(p, "apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(r.GetResources()) == 0 {
		errs = append(errs, apierrors.Required(child(p, "resources"), "resource rules must supply at least one resource"))
	}
	return errs
}

// ValidateRoleBinding checks a RoleBinding: a Role or ClusterRole reference and valid subjects.
func ValidateRoleBinding(b *rbacv1.RoleBinding) apierrors.FieldErrors {
	return validateBinding(b.GetRoleRef(), b.GetSubjects(), []string{"Role", "ClusterRole"}, false)
}

// ValidateClusterRoleBinding checks a ClusterRoleBinding: a ClusterRole reference and valid
// subjects (ServiceAccounts need a namespace).
func ValidateClusterRoleBinding(b *rbacv1.ClusterRoleBinding) apierrors.FieldErrors {
	return validateBinding(b.GetRoleRef(), b.GetSubjects(), []string{"ClusterRole"}, true)
}

func validateBinding(ref *rbacv1.RoleRef, subjects []*rbacv1.Subject, kinds []string, cluster bool) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if ref.GetApiGroup() != rbacGroup {
		errs = append(errs, apierrors.NotSupported("roleRef.apiGroup", ref.GetApiGroup(), []string{rbacGroup}))
	}
	if !contains(kinds, ref.GetKind()) {
		errs = append(errs, apierrors.NotSupported("roleRef.kind", ref.GetKind(), kinds))
	}
	if ref.GetName() == "" {
		errs = append(errs, apierrors.Required("roleRef.name", ""))
	}
	for i, s := range subjects {
		errs = append(errs, validateSubject(s, cluster, index("subjects", i))...)
	}
	return errs
}

func validateSubject(s *rbacv1.Subject, cluster bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if s.GetName() == "" {
		errs = append(errs, apierrors.Required(child(p, "name"), ""))
	}
	switch s.GetKind() {
	case "ServiceAccount":
		if s.GetApiGroup() != "" {
			errs = append(errs, apierrors.NotSupported(child(p, "apiGroup"), s.GetApiGroup(), []string{""}))
		}
		if cluster && s.GetNamespace() == "" {
			errs = append(errs, apierrors.Required(child(p, "namespace"), ""))
		}
	case "User", "Group":
		if s.GetApiGroup() != rbacGroup {
			errs = append(errs, apierrors.NotSupported(child(p, "apiGroup"), s.GetApiGroup(), []string{rbacGroup}))
		}
	default:
		errs = append(errs, apierrors.NotSupported(child(p, "kind"), s.GetKind(), []string{"ServiceAccount", "User", "Group"}))
	}
	return errs
}

// validateRoleRefUpdate refuses a changed roleRef: a binding's role is fixed at creation.
func validateRoleRefUpdate(ref, old *rbacv1.RoleRef) apierrors.FieldErrors {
	if ref.GetApiGroup() != old.GetApiGroup() || ref.GetKind() != old.GetKind() || ref.GetName() != old.GetName() {
		return apierrors.FieldErrors{apierrors.Invalid("roleRef", goSyntax{ref}, "cannot change roleRef")}
	}
	return nil
}

// ---- authorization.k8s.io ----

// ValidateSelfSubjectAccessReview requires exactly one of the attribute sets.
func ValidateSelfSubjectAccessReview(r *authorizationv1.SelfSubjectAccessReview) apierrors.FieldErrors {
	spec := r.GetSpec()
	switch {
	case spec.GetResourceAttributes() == nil && spec.GetNonResourceAttributes() == nil:
		return apierrors.FieldErrors{apierrors.Invalid("spec.resourceAttributes", "null", "exactly one of nonResourceAttributes or resourceAttributes must be specified")}
	case spec.GetResourceAttributes() != nil && spec.GetNonResourceAttributes() != nil:
		return apierrors.FieldErrors{apierrors.Invalid("spec.nonResourceAttributes", goSyntax{spec.GetNonResourceAttributes()}, "cannot be specified in combination with resourceAttributes")}
	}
	return nil
}

// ---- admissionregistration.k8s.io ----

var (
	webhookOperations     = []string{"*", "CONNECT", "CREATE", "DELETE", "UPDATE"}
	webhookFailurePolicy  = []string{"Fail", "Ignore"}
	webhookSideEffects    = []string{"None", "NoneOnDryRun"}
	webhookScopes         = []string{"*", "Cluster", "Namespaced"}
	webhookReviewVersions = []string{"v1", "v1beta1"}
)

// webhookFields are what mutating and validating webhooks share.
type webhookFields struct {
	name                    string
	clientConfig            *admissionregistrationv1.WebhookClientConfig
	rules                   []*admissionregistrationv1.RuleWithOperations
	failurePolicy           *string
	sideEffects             *string
	timeoutSeconds          *int32
	admissionReviewVersions []string
	namespaceSelector       *metav1.LabelSelector
	objectSelector          *metav1.LabelSelector
}

// ValidateMutatingWebhookConfiguration checks every webhook of the configuration.
func ValidateMutatingWebhookConfiguration(c *admissionregistrationv1.MutatingWebhookConfiguration) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	seen := map[string]bool{}
	for i, w := range c.GetWebhooks() {
		errs = append(errs, validateWebhook(webhookFields{
			w.GetName(), w.GetClientConfig(), w.GetRules(), w.FailurePolicy, w.SideEffects, w.TimeoutSeconds,
			w.GetAdmissionReviewVersions(), w.GetNamespaceSelector(), w.GetObjectSelector(),
		}, seen, index("webhooks", i))...)
		if rp := w.ReinvocationPolicy; rp != nil && *rp != "Never" && *rp != "IfNeeded" {
			errs = append(errs, apierrors.NotSupported(child(index("webhooks", i), "reinvocationPolicy"), *rp, []string{"IfNeeded", "Never"}))
		}
	}
	return errs
}

// ValidateValidatingWebhookConfiguration checks every webhook of the configuration.
func ValidateValidatingWebhookConfiguration(c *admissionregistrationv1.ValidatingWebhookConfiguration) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	seen := map[string]bool{}
	for i, w := range c.GetWebhooks() {
		errs = append(errs, validateWebhook(webhookFields{
			w.GetName(), w.GetClientConfig(), w.GetRules(), w.FailurePolicy, w.SideEffects, w.TimeoutSeconds,
			w.GetAdmissionReviewVersions(), w.GetNamespaceSelector(), w.GetObjectSelector(),
		}, seen, index("webhooks", i))...)
	}
	return errs
}

func validateWebhook(w webhookFields, seen map[string]bool, p string) apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	switch {
	case w.name == "":
		errs = append(errs, apierrors.Required(child(p, "name"), ""))
	case seen[w.name]:
		errs = append(errs, apierrors.Duplicate(child(p, "name"), w.name))
	default:
		errs = append(errs, validateDNS1123Subdomain(w.name, child(p, "name"))...)
		if len(NameIsDNSSubdomain(w.name, false)) == 0 && !containsDot(w.name) {
			errs = append(errs, apierrors.Invalid(child(p, "name"), w.name, "should be a domain with at least three segments separated by dots"))
		}
	}
	seen[w.name] = true
	cc := w.clientConfig
	switch {
	case cc.GetUrl() == "" && cc.GetService() == nil:
		errs = append(errs, apierrors.Required(child(p, "clientConfig"), "exactly one of url or service is required"))
	case cc.Url != nil && cc.GetService() != nil:
		errs = append(errs, apierrors.Required(child(p, "clientConfig"), "exactly one of url or service is required"))
	case cc.Url != nil:
		if len(*cc.Url) < 8 || (*cc.Url)[:8] != "https://" {
			errs = append(errs, apierrors.Invalid(child(p, "clientConfig.url"), *cc.Url, "'https' is the only allowed URL scheme"))
		}
	}
	for i, r := range w.rules {
		rp := index(child(p, "rules"), i)
		if len(r.GetOperations()) == 0 {
			errs = append(errs, apierrors.Required(child(rp, "operations"), ""))
		}
		for j, op := range r.GetOperations() {
			if !contains(webhookOperations, op) {
				errs = append(errs, apierrors.NotSupported(index(child(rp, "operations"), j), op, webhookOperations))
			}
		}
		if len(r.GetApiGroups()) == 0 {
			errs = append(errs, apierrors.Required(child(rp, "apiGroups"), ""))
		}
		if len(r.GetApiVersions()) == 0 {
			errs = append(errs, apierrors.Required(child(rp, "apiVersions"), ""))
		}
		if len(r.GetResources()) == 0 {
			errs = append(errs, apierrors.Required(child(rp, "resources"), ""))
		}
		if r.Scope != nil && !contains(webhookScopes, *r.Scope) {
			errs = append(errs, apierrors.NotSupported(child(rp, "scope"), *r.Scope, webhookScopes))
		}
	}
	if w.failurePolicy != nil && !contains(webhookFailurePolicy, *w.failurePolicy) {
		errs = append(errs, apierrors.NotSupported(child(p, "failurePolicy"), *w.failurePolicy, webhookFailurePolicy))
	}
	if w.sideEffects == nil {
		errs = append(errs, apierrors.Required(child(p, "sideEffects"), fmt.Sprintf("must specify one of %s", quotedList(webhookSideEffects))))
	} else if !contains(webhookSideEffects, *w.sideEffects) {
		errs = append(errs, apierrors.NotSupported(child(p, "sideEffects"), *w.sideEffects, webhookSideEffects))
	}
	if w.timeoutSeconds != nil && (*w.timeoutSeconds < 1 || *w.timeoutSeconds > 30) {
		errs = append(errs, apierrors.Invalid(child(p, "timeoutSeconds"), int64(*w.timeoutSeconds), "the timeout value must be between 1 and 30 seconds"))
	}
	if len(w.admissionReviewVersions) == 0 {
		errs = append(errs, apierrors.Required(child(p, "admissionReviewVersions"), fmt.Sprintf("must specify one of %s", quotedList(webhookReviewVersions))))
	} else {
		ok := false
		for _, v := range w.admissionReviewVersions {
			ok = ok || contains(webhookReviewVersions, v)
		}
		if !ok {
			errs = append(errs, apierrors.Invalid(child(p, "admissionReviewVersions"), goSyntax{w.admissionReviewVersions}, fmt.Sprintf("must include at least one of %s", quotedList(webhookReviewVersions))))
		}
	}
	if w.namespaceSelector != nil {
		errs = append(errs, ValidateLabelSelector(w.namespaceSelector, child(p, "namespaceSelector"))...)
	}
	if w.objectSelector != nil {
		errs = append(errs, ValidateLabelSelector(w.objectSelector, child(p, "objectSelector"))...)
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsDot(s string) bool {
	n := 0
	for _, c := range s {
		if c == '.' {
			n++
		}
	}
	return n >= 2
}

func quotedList(l []string) string {
	out := ""
	for i, s := range l {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", s)
	}
	return out
}
