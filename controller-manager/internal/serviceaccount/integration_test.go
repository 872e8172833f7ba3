package serviceaccount

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"kubelab.io/apiserver/apiservertest"
	"kubelab.io/client/informers"
	"kubelab.io/controller-manager/internal/controllertest"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// TestDefaultServiceAccountGetsTokens runs the controller against a real apiserver: a new
// namespace gets "default", and the apiserver issues tokens for it through
// Clientset.CreateToken over both transports (the serviceaccounts/token subresource); an
// account that does not exist gets none.
func TestDefaultServiceAccountGetsTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts etcd and an apiserver")
	}
	srv := apiservertest.Start(t)
	admin := srv.Clientset(true)
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	factory := informers.NewSharedInformerFactory(admin.Transport(), 0, informers.WithLogger(log))
	c, err := NewController(Config{Client: admin, Namespaces: factory.Namespaces().Informer(),
		ServiceAccounts: factory.ServiceAccounts().Informer(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx)
	done := make(chan struct{})
	go func() { c.Run(ctx, 1); close(done) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	bg := context.Background()
	if _, err := admin.Namespaces().Create(bg, &corev1.Namespace{Metadata: &metav1.ObjectMeta{Name: "ci"}}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the default service account", func() (bool, string) {
		_, err := admin.ServiceAccounts("ci").Get(bg, DefaultServiceAccountName)
		return err == nil, errString(err)
	})
	exp := int64(3600)
	for name, cs := range map[string]bool{"grpc": true, "rest": false} {
		t.Run(name, func(t *testing.T) {
			tr, err := srv.Clientset(cs).CreateToken(bg, "ci", DefaultServiceAccountName, &authenticationv1.TokenRequest{
				Spec: &authenticationv1.TokenRequestSpec{Audiences: []string{"https://api.example"}, ExpirationSeconds: &exp}})
			if err != nil {
				t.Fatal(err)
			}
			if tok := tr.GetStatus().GetToken(); strings.Count(tok, ".") != 2 || tr.GetStatus().GetExpirationTimestamp() == nil {
				t.Fatalf("status %v: want a JWT and its expiry", tr.GetStatus())
			}
			if got := tr.GetSpec().GetAudiences(); len(got) != 1 || got[0] != "https://api.example" {
				t.Fatalf("audiences %q", got)
			}
		})
	}
	if _, err := admin.CreateToken(bg, "ci", "nobody", nil); !apierrors.IsNotFound(err) {
		t.Fatalf("token for a missing account: %v, want NotFound", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
