package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"kubelab.io/apiserver/internal/admission"
	"kubelab.io/apiserver/internal/admission/defaultstorageclass"
	"kubelab.io/apiserver/internal/admission/defaulttolerationseconds"
	"kubelab.io/apiserver/internal/admission/limitranger"
	"kubelab.io/apiserver/internal/admission/namespacelifecycle"
	"kubelab.io/apiserver/internal/admission/noderestriction"
	"kubelab.io/apiserver/internal/admission/priority"
	"kubelab.io/apiserver/internal/admission/resourcequota"
	"kubelab.io/apiserver/internal/admission/serviceaccount"
	"kubelab.io/apiserver/internal/admission/storageprotection"
	"kubelab.io/apiserver/internal/admission/webhook"
	"kubelab.io/apiserver/internal/authn"
	"kubelab.io/apiserver/internal/authz"
	"kubelab.io/apiserver/internal/authz/node"
	"kubelab.io/apiserver/internal/authz/rbac"
	"kubelab.io/apiserver/internal/registry"
	"kubelab.io/apiserver/internal/request"
	admissionregistrationv1 "kubelab.io/proto/api/admissionregistration/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	schedulingv1 "kubelab.io/proto/api/scheduling/v1"
	storagev1 "kubelab.io/proto/api/storage/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// DefaultAdmissionPlugins are on unless --enable-admission-plugins says otherwise. Those
// that act on objects (LimitRanger, ResourceQuota, the webhooks) do nothing until a
// LimitRange, ResourceQuota or webhook configuration exists.
var DefaultAdmissionPlugins = []string{
	namespacelifecycle.PluginName, limitranger.PluginName, serviceaccount.PluginName, noderestriction.PluginName,
	priority.PluginName, defaulttolerationseconds.PluginName, defaultstorageclass.PluginName, storageprotection.PluginName,
	webhook.MutatingPluginName, webhook.ValidatingPluginName, resourcequota.PluginName,
}

// admissionOrder is the order plugins run in, whatever order they were enabled in (as
// kube-apiserver's recommended order): mutating webhooks see objects other plugins have
// defaulted (a pod's priority and default tolerations), and ResourceQuota counts last, so
// nothing refused later has used quota and a quota scoped by priority class sees the class
// the Priority plugin gave a pod that named none.
var admissionOrder = []string{
	namespacelifecycle.PluginName, limitranger.PluginName, serviceaccount.PluginName, noderestriction.PluginName,
	priority.PluginName, defaulttolerationseconds.PluginName, defaultstorageclass.PluginName, storageprotection.PluginName,
	webhook.MutatingPluginName, webhook.ValidatingPluginName, resourcequota.PluginName,
}

// buildAuthenticator assembles the authentication chain from the configuration: client
// certificates always, then service account tokens, then bearer tokens and basic auth when
// their files are given. Service account tokens come before the token file because the
// file refuses every token it does not list, while the service account authenticator
// passes on every token that is not a JWT of its issuers.
func (s *Server) buildAuthenticator() (*authn.Chain, error) {
	chain := &authn.Chain{Authenticators: []authn.Authenticator{authn.X509{}}, Anonymous: s.cfg.AnonymousAuth}
	sa, err := s.loadServiceAccountKeys()
	if err != nil {
		return nil, err
	}
	s.serviceAccounts = sa
	chain.Authenticators = append(chain.Authenticators, s.tokenAuthenticator(sa))
	if s.cfg.TokenAuthFile != "" {
		t, err := authn.NewTokenFile(s.cfg.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		chain.Authenticators = append(chain.Authenticators, t)
	}
	if s.cfg.BasicAuthFile != "" {
		b, err := authn.NewBasicAuthFile(s.cfg.BasicAuthFile)
		if err != nil {
			return nil, fmt.Errorf("--basic-auth-file: %w", err)
		}
		s.log.Warn("basic authentication is enabled (--basic-auth-file): passwords travel with every request and cannot be rotated without a restart; Kubernetes removed it in 1.19, use it only to learn why")
		chain.Authenticators = append(chain.Authenticators, b)
	}
	if s.cfg.AnonymousAuth {
		s.log.Warn("anonymous requests are enabled (--anonymous-auth): unauthenticated clients act as system:anonymous")
	}
	return chain, nil
}

// buildAuthorizer assembles the authorization chain: system:masters first (always allowed),
// then each mode in the order given. RBAC starts its cache and the bootstrap policy is
// written before the server serves, so the first request is decided on a full picture.
// With RBAC, the admission chain gets RBAC's escalation check in front of its validators:
// it asks the finished chain about "bind" and "escalate". The bootstrap policy is written
// before the check is in place, and as the server itself (no user), which it lets through.
func (s *Server) buildAuthorizer(ctx context.Context) (authz.Authorizer, error) {
	chain := authz.Chain{authz.PrivilegedGroups{request.GroupMasters}}
	var escalation *rbac.EscalationCheck
	seen := map[string]bool{}
	for _, mode := range s.cfg.AuthorizationModes {
		if seen[mode] {
			return nil, fmt.Errorf("--authorization-mode: %q given twice", mode)
		}
		seen[mode] = true
		switch mode {
		case authz.ModeAlwaysAllow:
			s.log.Warn("authorization mode AlwaysAllow: every request is allowed")
			chain = append(chain, authz.AlwaysAllow{})
		case authz.ModeAlwaysDeny:
			chain = append(chain, authz.AlwaysDeny{})
		case authz.ModeNode:
			pods, claims := s.store("", "pods"), s.store("", "persistentvolumeclaims")
			chain = append(chain, &node.Authorizer{GetPod: func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
				obj, err := cachedGet(ctx, pods, ns, name)
				if err != nil {
					return nil, err
				}
				return obj.(*corev1.Pod), nil
			}, ListNodePods: func(ctx context.Context, ns, nodeName string) ([]*corev1.Pod, error) {
				// ns "" lists every namespace: the pods that may mount a PersistentVolume's claim.
				return listAs[*corev1.Pod](ctx, pods, ns, registry.ListOptions{ResourceVersion: "0", FieldSelector: "spec.nodeName=" + nodeName})
			}, GetClaim: func(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
				obj, err := cachedGet(ctx, claims, ns, name)
				if err != nil {
					return nil, err
				}
				return obj.(*corev1.PersistentVolumeClaim), nil
			}})
		case authz.ModeRBAC:
			st := rbac.Stores{
				Roles: s.store(scheme.GroupRBAC, "roles"), ClusterRoles: s.store(scheme.GroupRBAC, "clusterroles"),
				RoleBindings: s.store(scheme.GroupRBAC, "rolebindings"), ClusterRoleBindings: s.store(scheme.GroupRBAC, "clusterrolebindings"),
			}
			if err := rbac.Ensure(ctx, st); err != nil {
				return nil, fmt.Errorf("bootstrap RBAC policy: %w", err)
			}
			cacheCtx, cancel := context.WithCancel(context.Background())
			s.stops = append([]func(){cancel}, s.stops...) // before the storage it watches stops
			cache := rbac.NewCache(cacheCtx, st, s.log)
			syncCtx, cancelSync := context.WithTimeout(ctx, 30*time.Second)
			err := cache.WaitForSync(syncCtx)
			cancelSync()
			if err != nil {
				return nil, fmt.Errorf("RBAC cache: %w", err)
			}
			chain = append(chain, &rbac.Authorizer{Cache: cache})
			escalation = &rbac.EscalationCheck{Cache: cache, Stores: st}
		default:
			return nil, fmt.Errorf("--authorization-mode: unknown mode %q (want AlwaysAllow, AlwaysDeny, Node or RBAC)", mode)
		}
	}
	if escalation != nil {
		escalation.Authorizer = chain
		*s.admission = append(admission.Chain{escalation}, *s.admission...)
	}
	return chain, nil
}

// buildAdmission builds the enabled admission plugins, in admissionOrder.
func (s *Server) buildAdmission(_ context.Context) (admission.Chain, error) {
	for _, name := range s.cfg.AdmissionPlugins {
		if !slices.Contains(admissionOrder, name) {
			return nil, fmt.Errorf("--enable-admission-plugins: unknown plugin %q", name)
		}
	}
	for _, name := range s.cfg.DisableAdmissionPlugins {
		if !slices.Contains(admissionOrder, name) {
			return nil, fmt.Errorf("--disable-admission-plugins: unknown plugin %q", name)
		}
	}
	var chain admission.Chain
	for _, name := range admissionOrder {
		if !slices.Contains(s.cfg.AdmissionPlugins, name) || slices.Contains(s.cfg.DisableAdmissionPlugins, name) {
			continue
		}
		switch name {
		case namespacelifecycle.PluginName:
			namespaces := s.store("", "namespaces")
			chain = append(chain, namespacelifecycle.New(func(ctx context.Context, ns string) (*corev1.Namespace, error) {
				// From the namespaces' watch cache, which holds every namespace write made
				// through this server; only a namespace it does not hold (created a moment ago
				// elsewhere) costs an etcd read, as in Kubernetes' plugin.
				obj, err := cachedGet(ctx, namespaces, "", ns)
				if err != nil {
					return nil, err
				}
				return obj.(*corev1.Namespace), nil
			}))
		case limitranger.PluginName:
			ranges := s.store("", "limitranges")
			chain = append(chain, limitranger.New(func(ctx context.Context, ns string) ([]*corev1.LimitRange, error) {
				return listAs[*corev1.LimitRange](ctx, ranges, ns, cacheRead)
			}))
		case serviceaccount.PluginName:
			accounts := s.store("", "serviceaccounts")
			chain = append(chain, serviceaccount.New(func(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
				// From the watch cache, falling back to etcd for an account created a moment
				// ago through another apiserver, as Kubernetes' plugin does.
				obj, err := cachedGet(ctx, accounts, ns, name)
				if err != nil {
					return nil, err
				}
				return obj.(*corev1.ServiceAccount), nil
			}, registry.GenerateName))
		case noderestriction.PluginName:
			chain = append(chain, noderestriction.New(s.cachedPods()))
		case priority.PluginName:
			classes := s.store(scheme.GroupScheduling, "priorityclasses")
			chain = append(chain, priority.New(priority.Classes{
				Get: func(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
					obj, err := cachedGet(ctx, classes, "", name)
					if err != nil {
						return nil, err
					}
					return obj.(*schedulingv1.PriorityClass), nil
				},
				List: func(ctx context.Context) ([]*schedulingv1.PriorityClass, error) {
					return listAs[*schedulingv1.PriorityClass](ctx, classes, "", cacheRead)
				},
			}))
		case defaulttolerationseconds.PluginName:
			chain = append(chain, defaulttolerationseconds.New(tolerationSeconds(s.cfg.DefaultNotReadyTolerationSeconds),
				tolerationSeconds(s.cfg.DefaultUnreachableTolerationSeconds)))
		case defaultstorageclass.PluginName:
			classes := s.store(scheme.GroupStorage, "storageclasses")
			chain = append(chain, defaultstorageclass.New(func(ctx context.Context) ([]*storagev1.StorageClass, error) {
				return listAs[*storagev1.StorageClass](ctx, classes, "", cacheRead)
			}, s.log))
		case storageprotection.PluginName:
			chain = append(chain, storageprotection.New())
		case webhook.MutatingPluginName, webhook.ValidatingPluginName:
			mutating := s.store(scheme.GroupAdmissionRegistration, "mutatingwebhookconfigurations")
			validating := s.store(scheme.GroupAdmissionRegistration, "validatingwebhookconfigurations")
			namespaces := s.store("", "namespaces")
			src := webhook.Source{
				Mutating: func(ctx context.Context) ([]*admissionregistrationv1.MutatingWebhookConfiguration, error) {
					return listAs[*admissionregistrationv1.MutatingWebhookConfiguration](ctx, mutating, "", cacheRead)
				},
				Validating: func(ctx context.Context) ([]*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
					return listAs[*admissionregistrationv1.ValidatingWebhookConfiguration](ctx, validating, "", cacheRead)
				},
				GetNamespace: func(ctx context.Context, name string) (*corev1.Namespace, error) {
					obj, err := cachedGet(ctx, namespaces, "", name)
					if err != nil {
						return nil, err
					}
					return obj.(*corev1.Namespace), nil
				},
				Log: s.log,
			}
			if name == webhook.MutatingPluginName {
				chain = append(chain, webhook.NewMutating(src))
			} else {
				chain = append(chain, webhook.NewValidating(src))
			}
		case resourcequota.PluginName:
			chain = append(chain, resourcequota.New(&quotaStorage{quotas: s.store("", "resourcequotas"), pods: s.store("", "pods"), claims: s.store("", "persistentvolumeclaims")}))
		}
	}
	return chain, nil
}

// listAs lists the objects of one resource in a namespace that match opts, as their Go type.
func listAs[T runtime.Object](ctx context.Context, st *registry.Store, namespace string, opts registry.ListOptions) ([]T, error) {
	res, err := st.ListItems(ctx, namespace, opts)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(res.Items))
	for i, it := range res.Items {
		out[i] = it.(T)
	}
	return out, nil
}

// cacheRead lists from the watch cache (resourceVersion "0"); etcdRead from etcd.
var cacheRead, etcdRead = registry.ListOptions{ResourceVersion: "0"}, registry.ListOptions{}

// quotaStorage is the ResourceQuota plugin's view of storage.
type quotaStorage struct {
	quotas, pods, claims *registry.Store
}

// List reads from the watch cache: the charge itself is a compare-and-swap on the quota as
// stored, so a stale list can only miss a quota created a moment ago.
func (q *quotaStorage) List(ctx context.Context, namespace string) ([]*corev1.ResourceQuota, error) {
	return listAs[*corev1.ResourceQuota](ctx, q.quotas, namespace, cacheRead)
}

func (q *quotaStorage) Pods(ctx context.Context, namespace string) ([]*corev1.Pod, error) {
	return listAs[*corev1.Pod](ctx, q.pods, namespace, etcdRead)
}

func (q *quotaStorage) Claims(ctx context.Context, namespace string) ([]*corev1.PersistentVolumeClaim, error) {
	return listAs[*corev1.PersistentVolumeClaim](ctx, q.claims, namespace, etcdRead)
}

func (q *quotaStorage) Update(ctx context.Context, namespace, name string, fn func(*corev1.ResourceQuota) error) error {
	_, err := q.quotas.Storage.GuaranteedUpdate(ctx, q.quotas.Resource.Key(namespace, name), nil, func(cur runtime.Object) (runtime.Object, error) {
		next := proto.Clone(cur).(*corev1.ResourceQuota)
		if err := fn(next); err != nil {
			return nil, err
		}
		return next, nil
	})
	return err
}

// tolerationSeconds is a --default-*-toleration-seconds value, DefaultSeconds when unset.
func tolerationSeconds(v *int64) int64 {
	if v == nil {
		return defaulttolerationseconds.DefaultSeconds
	}
	return *v
}
