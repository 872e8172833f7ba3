// Package serviceaccount is the service account controller, Kubernetes'
// pkg/controller/serviceaccount ServiceAccountsController: every namespace that is not
// terminating has a ServiceAccount named "default", created when the namespace appears and
// again whenever it is deleted. Pods that name no service account run as it (the apiserver's
// ServiceAccount admission sets it), and are refused while it does not exist.
//
// The queue holds namespace names. Namespace events and the deletion of an ensured service
// account enqueue its namespace; sync reads both caches and creates what is missing, so a
// restart converges from the initial list alone.
package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// DefaultServiceAccountName is the service account every namespace gets, and the one pods
// that name none run as.
const DefaultServiceAccountName = "default"

// Config is what the controller needs; New builds it from a controllerctx.Context.
type Config struct {
	Client          *kube.Clientset
	Namespaces      cache.SharedIndexInformer
	ServiceAccounts cache.SharedIndexInformer
	// Names are the service accounts ensured in every namespace; [DefaultServiceAccountName]
	// when empty, as kube-controller-manager configures upstream's controller.
	Names []string
	// Log is the controller's logger (the controller-manager labels it controller=serviceaccount).
	Log *slog.Logger
	// Queue defaults to a rate-limited work queue named "serviceaccount".
	Queue workqueue.Interface[string]
}

// Controller creates the ensured service accounts in every active namespace.
type Controller struct {
	client          *kube.Clientset
	namespaces      cache.Lister[*corev1.Namespace]
	serviceAccounts cache.Lister[*corev1.ServiceAccount]
	names           []string
	synced          []func() bool
	queue           workqueue.Interface[string]
	log             *slog.Logger
}

// New builds the controller on the shared informers of cc.
func New(_ context.Context, cc *controllerctx.Context) (*Controller, error) {
	return NewController(Config{
		Client:          cc.Client,
		Namespaces:      cc.Informers.Namespaces().Informer(),
		ServiceAccounts: cc.Informers.ServiceAccounts().Informer(),
		Log:             cc.Log,
	})
}

// NewController validates cfg, fills its defaults and registers the event handlers.
func NewController(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Namespaces == nil || cfg.ServiceAccounts == nil {
		return nil, errors.New("serviceaccount: Client and the Namespace and ServiceAccount informers are required")
	}
	if len(cfg.Names) == 0 {
		cfg.Names = []string{DefaultServiceAccountName}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("serviceaccount")
	}
	c := &Controller{
		client:          cfg.Client,
		namespaces:      cache.NewLister[*corev1.Namespace](cfg.Namespaces.GetIndexer(), controller.CoreMapping("Namespace")),
		serviceAccounts: cache.NewLister[*corev1.ServiceAccount](cfg.ServiceAccounts.GetIndexer(), controller.CoreMapping("ServiceAccount")),
		names:           slices.Clone(cfg.Names),
		queue:           cfg.Queue,
		log:             cfg.Log,
	}
	nsReg, err := cfg.Namespaces.AddEventHandler(controller.NamespaceHandlers(c.queue))
	if err != nil {
		return nil, fmt.Errorf("serviceaccount: %w", err)
	}
	// Only a deletion can take an ensured account away; creates and updates leave it there.
	saReg, err := cfg.ServiceAccounts.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			sa, ok := controller.ObjectFromTombstone(obj)
			if ok && slices.Contains(c.names, sa.GetMetadata().GetName()) {
				c.queue.Add(sa.GetMetadata().GetNamespace())
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("serviceaccount: %w", err)
	}
	c.synced = []func() bool{cfg.Namespaces.HasSynced, cfg.ServiceAccounts.HasSynced, nsReg.HasSynced, saReg.HasSynced}
	return c, nil
}

// Run waits for the caches, then runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, c.synced, c.queue, workers, c.log, c.sync)
}

// sync creates the ensured service accounts the namespace name lacks. A namespace that is
// gone or terminating needs none. AlreadyExists means the cache was behind: the account is
// there, which is all sync wants. A NamespaceTerminating refusal means the cache was behind
// the namespace's deletion: nothing is to be created, so it is no failure either (as
// upstream).
func (c *Controller) sync(ctx context.Context, name string) error {
	if active, err := controller.ActiveNamespace(c.namespaces, name); !active || err != nil {
		return err
	}
	var errs []error
	for _, saName := range c.names {
		_, err := c.serviceAccounts.Namespace(name).Get(saName)
		switch {
		case err == nil:
			continue
		case !apierrors.IsNotFound(err):
			errs = append(errs, err)
			continue
		}
		sa := &corev1.ServiceAccount{Metadata: &metav1.ObjectMeta{Name: saName, Namespace: name}}
		_, err = c.client.ServiceAccounts(name).Create(ctx, sa)
		switch {
		case err == nil:
			c.log.Info("created service account", "namespace", name, "name", saName)
		case apierrors.IsAlreadyExists(err), apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating):
		default:
			errs = append(errs, fmt.Errorf("create serviceaccount %s/%s: %w", name, saName, err))
		}
	}
	return errors.Join(errs...)
}
