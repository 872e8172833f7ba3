package kubeproto

import (
	"reflect"
	"testing"
)

// TestServiceAccountAndTokenRequest reads what `kubectl create serviceaccount` and `kubectl
// create token --bound-object-kind Pod` send.
func TestServiceAccountAndTokenRequest(t *testing.T) {
	sa := msgb{}.sub(1, meta("robot", nil)).sub(3, msgb{}.str(1, "regcred")).varint(4, 0)
	got, err := ToJSON(body("v1", "ServiceAccount", sa))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"robot"},
		"imagePullSecrets":[{"name":"regcred"}],"automountServiceAccountToken":false}`
	if !reflect.DeepEqual(decodeJSON(t, got), decodeJSON(t, []byte(want))) {
		t.Errorf("serviceaccount: %s\nwant %s", got, want)
	}

	ref := msgb{}.str(1, "Pod").str(2, "v1").str(3, "web").str(4, "uid-1")
	spec := msgb{}.str(1, "https://vault").sub(3, ref).varint(4, 600)
	tr := msgb{}.sub(1, meta("", nil)).sub(2, spec).sub(3, msgb{}.str(1, ""))
	got, err = ToJSON(body("authentication.k8s.io/v1", "TokenRequest", tr))
	if err != nil {
		t.Fatal(err)
	}
	want = `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{},"spec":{"audiences":["https://vault"],
		"expirationSeconds":600,"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web","uid":"uid-1"}}}`
	if !reflect.DeepEqual(decodeJSON(t, got), decodeJSON(t, []byte(want))) {
		t.Errorf("tokenrequest: %s\nwant %s", got, want)
	}
}

// TestProjectedVolume reads a pod template with a projected volume like the one the
// ServiceAccount admission plugin adds to every pod, and a configMap volume.
func TestProjectedVolume(t *testing.T) {
	token := msgb{}.sub(4, msgb{}.str(1, "").varint(2, 3607).str(3, "token"))
	ca := msgb{}.sub(3, msgb{}.sub(1, msgb{}.str(1, "kube-root-ca.crt")).sub(2, msgb{}.str(1, "ca.crt").str(2, "ca.crt")))
	ns := msgb{}.sub(2, msgb{}.sub(1, msgb{}.str(1, "namespace").sub(2, msgb{}.str(1, "v1").str(2, "metadata.namespace"))))
	projected := msgb{}.sub(1, token).sub(1, ca).sub(1, ns).varint(2, 420)
	vol := msgb{}.str(1, "kube-api-access-x").sub(2, msgb{}.sub(26, projected))
	cm := msgb{}.str(1, "cfg").sub(2, msgb{}.sub(19, msgb{}.sub(1, msgb{}.str(1, "settings")).varint(3, 0o600)))
	template := msgb{}.sub(2, msgb{}.sub(1, vol).sub(1, cm).str(8, "robot").varint(21, 1))
	got, err := ToJSON(body("apps/v1", "Deployment", msgb{}.sub(1, meta("d", nil)).sub(2, msgb{}.sub(3, template))))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"serviceAccountName":"robot","automountServiceAccountToken":true,
		"volumes":[{"name":"kube-api-access-x","projected":{"defaultMode":420,"sources":[
			{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},
			{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},
			{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}]}},
		{"name":"cfg","configMap":{"name":"settings","defaultMode":384}}]}}}}`
	if !reflect.DeepEqual(decodeJSON(t, got), decodeJSON(t, []byte(want))) {
		t.Errorf("pod: %s\nwant %s", got, want)
	}
}
