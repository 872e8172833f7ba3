// Package rootcacertpublisher is the root CA certificate publisher, Kubernetes'
// pkg/controller/certificates/rootcacertpublisher: every namespace that is not terminating
// has a ConfigMap "kube-root-ca.crt" whose "ca.crt" is the CA bundle that verifies the
// apiserver, so a pod can trust the apiserver from inside the cluster (the
// kube-api-access-* projected volume mounts it next to the token). The ConfigMap is
// re-created when deleted and its data restored when edited.
//
// The queue holds namespace names: namespace events, and changes to or the deletion of a
// kube-root-ca.crt ConfigMap, enqueue the namespace; sync compares the cached ConfigMap with
// what it should be and writes only on a difference.
package rootcacertpublisher

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"google.golang.org/protobuf/proto"

	"kubelab.io/client/cache"
	"kubelab.io/client/kube"
	"kubelab.io/client/workqueue"
	"kubelab.io/controller-manager/internal/controller"
	"kubelab.io/controller-manager/internal/controllerctx"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/runtime"
)

const (
	// ConfigMapName is the ConfigMap published in every namespace.
	ConfigMapName = "kube-root-ca.crt"
	// DataKey holds the PEM bundle.
	DataKey = "ca.crt"
	// DescriptionAnnotation and Description say what the ConfigMap is for, in upstream's
	// words (clients of other distributions read the same text).
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints " +
		"such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Config is what the publisher needs; New builds it from a controllerctx.Context.
type Config struct {
	Client     *kube.Clientset
	Namespaces cache.SharedIndexInformer
	ConfigMaps cache.SharedIndexInformer
	// RootCA is the PEM bundle to publish; it must hold at least one certificate.
	RootCA []byte
	// Log is the controller's logger (the controller-manager labels it
	// controller=root-ca-cert-publisher).
	Log *slog.Logger
	// Queue defaults to a rate-limited work queue named "root_ca_cert_publisher".
	Queue workqueue.Interface[string]
}

// Publisher keeps kube-root-ca.crt in every active namespace.
type Publisher struct {
	client     *kube.Clientset
	namespaces cache.Lister[*corev1.Namespace]
	configMaps cache.Lister[*corev1.ConfigMap]
	rootCA     string
	synced     []func() bool
	queue      workqueue.Interface[string]
	log        *slog.Logger
}

// New builds the publisher on the shared informers of cc, publishing cc.Options.RootCA
// (which the controller-manager fills from --root-ca-file or its kubeconfig).
func New(_ context.Context, cc *controllerctx.Context) (*Publisher, error) {
	return NewPublisher(Config{
		Client:     cc.Client,
		Namespaces: cc.Informers.Namespaces().Informer(),
		ConfigMaps: cc.Informers.ConfigMaps().Informer(),
		RootCA:     cc.Options.RootCA,
		Log:        cc.Log,
	})
}

// NewPublisher validates cfg, fills its defaults and registers the event handlers.
func NewPublisher(cfg Config) (*Publisher, error) {
	if cfg.Client == nil || cfg.Namespaces == nil || cfg.ConfigMaps == nil {
		return nil, errors.New("root-ca-cert-publisher: Client and the Namespace and ConfigMap informers are required")
	}
	if err := CheckBundle(cfg.RootCA); err != nil {
		return nil, fmt.Errorf("root-ca-cert-publisher: %w", err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Queue == nil {
		cfg.Queue = workqueue.NewNamed[string]("root_ca_cert_publisher")
	}
	p := &Publisher{
		client:     cfg.Client,
		namespaces: cache.NewLister[*corev1.Namespace](cfg.Namespaces.GetIndexer(), controller.CoreMapping("Namespace")),
		configMaps: cache.NewLister[*corev1.ConfigMap](cfg.ConfigMaps.GetIndexer(), controller.CoreMapping("ConfigMap")),
		rootCA:     string(cfg.RootCA),
		queue:      cfg.Queue,
		log:        cfg.Log,
	}
	nsReg, err := cfg.Namespaces.AddEventHandler(controller.NamespaceHandlers(p.queue))
	if err != nil {
		return nil, fmt.Errorf("root-ca-cert-publisher: %w", err)
	}
	// An add matters too: a kube-root-ca.crt someone else created (or an old CA's, from
	// before a restart with another --root-ca-file) may hold the wrong data.
	cmReg, err := cfg.ConfigMaps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: p.enqueueConfigMap,
		UpdateFunc: func(oldObj, newObj runtime.Object) {
			if !controller.IsResync(oldObj, newObj) {
				p.enqueueConfigMap(newObj)
			}
		},
		DeleteFunc: func(obj any) {
			if cm, ok := controller.ObjectFromTombstone(obj); ok {
				p.enqueueConfigMap(cm)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("root-ca-cert-publisher: %w", err)
	}
	p.synced = []func() bool{cfg.Namespaces.HasSynced, cfg.ConfigMaps.HasSynced, nsReg.HasSynced, cmReg.HasSynced}
	return p, nil
}

// CheckBundle returns an error unless pem holds one or more certificates and nothing else,
// as kube-controller-manager checks --root-ca-file before publishing it.
func CheckBundle(bundle []byte) error {
	n := 0
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("the CA bundle holds a %q PEM block, not only certificates", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("the CA bundle's certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("the CA bundle holds no PEM certificate")
	}
	return nil
}

func (p *Publisher) enqueueConfigMap(obj runtime.Object) {
	if obj.GetMetadata().GetName() == ConfigMapName {
		p.queue.Add(obj.GetMetadata().GetNamespace())
	}
}

// Run waits for the caches, then runs workers until ctx ends.
func (p *Publisher) Run(ctx context.Context, workers int) {
	controller.RunWhenSynced(ctx, p.synced, p.queue, workers, p.log, p.sync)
}

// sync makes the namespace's kube-root-ca.crt what it should be: created when missing, its
// data and description restored when they differ (as upstream: other data keys are dropped,
// other annotations and binaryData kept). The update carries the cached
// resourceVersion, so an edit meanwhile is a conflict and the sync runs again.
func (p *Publisher) sync(ctx context.Context, name string) error {
	if active, err := controller.ActiveNamespace(p.namespaces, name); !active || err != nil {
		return err
	}
	want := map[string]string{DataKey: p.rootCA}
	cm, err := p.configMaps.Namespace(name).Get(ConfigMapName)
	switch {
	case apierrors.IsNotFound(err):
		_, err = p.client.ConfigMaps(name).Create(ctx, &corev1.ConfigMap{
			Metadata: &metav1.ObjectMeta{Name: ConfigMapName, Namespace: name, Annotations: map[string]string{DescriptionAnnotation: Description}},
			Data:     want,
		})
		switch {
		case err == nil:
			p.log.Info("published the root CA", "namespace", name, "name", ConfigMapName)
			return nil
		case apierrors.IsAlreadyExists(err):
			return nil // the cache was behind; its add event queues the namespace again
		case apierrors.IsNotFound(err), apierrors.HasStatusCause(err, apierrors.CauseNamespaceTerminating):
			// As upstream: the namespace went away or began terminating since the cache
			// saw it, and there is nothing to publish in it; retrying would only fail again.
			return nil
		}
		return fmt.Errorf("create configmap %s/%s: %w", name, ConfigMapName, err)
	case err != nil:
		return err
	}
	if maps.Equal(cm.GetData(), want) && cm.GetMetadata().GetAnnotations()[DescriptionAnnotation] != "" {
		return nil
	}
	next := proto.Clone(cm).(*corev1.ConfigMap)
	next.Data = want
	if next.Metadata.Annotations == nil {
		next.Metadata.Annotations = map[string]string{}
	}
	next.Metadata.Annotations[DescriptionAnnotation] = Description
	if _, err := p.client.ConfigMaps(name).Update(ctx, next); err != nil {
		return fmt.Errorf("update configmap %s/%s: %w", name, ConfigMapName, err)
	}
	p.log.Info("restored the root CA", "namespace", name, "name", ConfigMapName)
	return nil
}
