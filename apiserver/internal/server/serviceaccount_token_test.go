package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	servicev1 "kubelab.io/proto/api/service/v1"
)

// saPodJSON is a pod running as a service account, bound to node when node is set.
func saPodJSON(name, sa, node string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"},"spec":{"serviceAccountName":"` + sa +
		`","nodeName":"` + node + `","containers":[{"name":"c","image":"nginx:1.14.2"}]}}`
}

const tokenPath = "/api/v1/namespaces/default/serviceaccounts/%s/token"

// requestToken asks for a token of a service account in default and returns the answer.
func requestToken(t *testing.T, c *apiClient, sa, spec string) response {
	t.Helper()
	return c.post(fmt.Sprintf(tokenPath, sa), `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":`+spec+`}`)
}

// issue returns a fresh token of a service account in default.
func issue(t *testing.T, c *apiClient, sa, spec string) string {
	t.Helper()
	tok := str(dig(requestToken(t, c, sa, spec).must(t, http.StatusCreated).json(t), "status", "token"))
	if tok == "" {
		t.Fatal("no token in the answer")
	}
	return tok
}

func createSA(t *testing.T, c *apiClient, name string) string {
	t.Helper()
	r := c.post("/api/v1/namespaces/default/serviceaccounts", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"`+name+`"}}`).must(t, http.StatusCreated)
	return str(dig(r.json(t), "metadata", "uid"))
}

func bearer(t *testing.T, s *Server, token string) *apiClient {
	return headerClient(t, s, "Bearer "+token)
}

// TestServiceAccountTokenRequest: a token requested through serviceaccounts/token
// authenticates as the service account, RBAC decides what it may do, and the request is
// validated as upstream's TokenREST validates it.
func TestServiceAccountTokenRequest(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	uid := createSA(t, admin, "robot")

	before := time.Now().Truncate(time.Second)
	r := requestToken(t, admin, "robot", `{}`).must(t, http.StatusCreated)
	v := r.json(t)
	if v["kind"] != "TokenRequest" || v["apiVersion"] != "authentication.k8s.io/v1" || dig(v, "metadata", "name") != "robot" ||
		dig(v, "metadata", "namespace") != "default" || dig(v, "metadata", "uid") != uid ||
		dig(v, "spec", "expirationSeconds") != float64(3600) ||
		!reflect.DeepEqual(dig(v, "spec", "audiences"), []any{"https://kubernetes.default.svc.cluster.local"}) {
		t.Errorf("answer = %s", r.body)
	}
	exp, err := time.Parse(time.RFC3339, str(dig(v, "status", "expirationTimestamp")))
	if err != nil || exp.Before(before.Add(time.Hour)) || exp.After(time.Now().Add(time.Hour)) {
		t.Errorf("expirationTimestamp = %v (%v)", dig(v, "status", "expirationTimestamp"), err)
	}
	token := str(dig(v, "status", "token"))

	// whoami with the token: the service account, its groups, and the token's jti.
	sa := bearer(t, s, token)
	info := whoami(t, sa)
	if info["username"] != "system:serviceaccount:default:robot" || info["uid"] != uid ||
		!reflect.DeepEqual(info["groups"], []any{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"}) {
		t.Errorf("userInfo = %v", info)
	}
	if jti, _ := dig(info, "extra", "authentication.kubernetes.io/credential-id", 0).(string); !strings.HasPrefix(jti, "JTI=") {
		t.Errorf("credential-id = %v", dig(info, "extra"))
	}

	// RBAC: nothing until a RoleBinding names the account.
	r = sa.get("/api/v1/namespaces/default/pods").must(t, http.StatusForbidden)
	if msg := str(r.json(t)["message"]); msg != `pods is forbidden: User "system:serviceaccount:default:robot" cannot list resource "pods" in API group "" in the namespace "default"` {
		t.Errorf("forbidden message = %q", msg)
	}
	admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
		`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"pod-reader"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}]}`).must(t, http.StatusCreated)
	admin.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
		`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"robot-reads"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"},"subjects":[{"kind":"ServiceAccount","name":"robot","namespace":"default"}]}`).must(t, http.StatusCreated)
	eventually(t, "the RoleBinding to take effect", func() bool { return sa.get("/api/v1/namespaces/default/pods").code == http.StatusOK })

	// Validation and lookups, with upstream's codes and messages.
	for _, tc := range []struct {
		name, sa, spec string
		code           int
		msg            string
	}{
		{"short", "robot", `{"expirationSeconds":300}`, http.StatusUnprocessableEntity,
			`TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes`},
		{"no such account", "nobody", `{}`, http.StatusNotFound, `serviceaccounts "nobody" not found`},
		{"bound to a configmap", "robot", `{"boundObjectRef":{"kind":"ConfigMap","apiVersion":"v1","name":"x"}}`, http.StatusBadRequest,
			"cannot bind token to object of type /v1, Kind=ConfigMap"},
		{"bound to a missing pod", "robot", `{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"ghost"}}`, http.StatusNotFound, `pods "ghost" not found`},
	} {
		r := requestToken(t, admin, tc.sa, tc.spec).must(t, tc.code)
		if msg := str(r.json(t)["message"]); msg != tc.msg {
			t.Errorf("%s: message = %q, want %q", tc.name, msg, tc.msg)
		}
	}
	r = admin.post(fmt.Sprintf(tokenPath, "robot"), `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{"name":"other"},"spec":{}}`).must(t, http.StatusUnprocessableEntity)
	if msg := str(r.json(t)["message"]); !strings.Contains(msg, "metadata.name: Invalid value: \"other\": must match the service account name if specified") {
		t.Errorf("name mismatch: %q", msg)
	}

	// A token for another audience is not for this server.
	vault := issue(t, admin, "robot", `{"audiences":["https://vault.example"]}`)
	bearer(t, s, vault).post(selfSubjectReviews, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`).must(t, http.StatusUnauthorized)

	// A forged token of our issuer is refused; a bearer token that is no JWT of ours is
	// left to the other authenticators (none here), also a 401.
	parts := strings.Split(token, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claims), "robot", "admin", -1))) + "." + parts[2]
	bearer(t, s, forged).get("/api/v1/namespaces/default/pods").must(t, http.StatusUnauthorized)
	bearer(t, s, "not-a-jwt").get("/api/v1/namespaces/default/pods").must(t, http.StatusUnauthorized)

	// Deleting the account and creating it again (a new uid) ends its tokens.
	admin.del("/api/v1/namespaces/default/serviceaccounts/robot").must(t, http.StatusOK)
	createSA(t, admin, "robot")
	r = sa.get("/api/v1/namespaces/default/pods").must(t, http.StatusUnauthorized)
	if v := r.json(t); v["reason"] != "Unauthorized" || v["kind"] != "Status" {
		t.Errorf("401 body = %s", r.body)
	}
}

// TestServiceAccountTokenBoundToPod: a token bound to a pod carries the pod (and its node)
// and stops working when the pod is deleted.
func TestServiceAccountTokenBoundToPod(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	createSA(t, admin, "robot")
	createSA(t, admin, "other")
	admin.post("/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}`).must(t, http.StatusCreated)
	pod := admin.post("/api/v1/namespaces/default/pods", saPodJSON("web", "robot", "n1")).must(t, http.StatusCreated).json(t)
	podUID := str(dig(pod, "metadata", "uid"))

	ref := func(uid string) string {
		return `{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web","uid":"` + uid + `"}}`
	}
	token := issue(t, admin, "robot", ref(podUID))
	info := whoami(t, bearer(t, s, token))
	extra, _ := info["extra"].(map[string]any)
	if !reflect.DeepEqual(extra["authentication.kubernetes.io/pod-name"], []any{"web"}) ||
		!reflect.DeepEqual(extra["authentication.kubernetes.io/pod-uid"], []any{podUID}) ||
		!reflect.DeepEqual(extra["authentication.kubernetes.io/node-name"], []any{"n1"}) || extra["authentication.kubernetes.io/node-uid"] == nil {
		t.Errorf("extra = %v", extra)
	}

	r := requestToken(t, admin, "robot", ref("stale-uid")).must(t, http.StatusConflict)
	if msg := str(r.json(t)["message"]); !strings.Contains(msg, "the UID in the bound object reference (stale-uid) does not match the UID in record. The object might have been deleted and then recreated") {
		t.Errorf("uid mismatch: %q", msg)
	}
	r = requestToken(t, admin, "other", ref(podUID)).must(t, http.StatusBadRequest)
	if msg := str(r.json(t)["message"]); msg != `cannot bind token for serviceaccount "other" to pod running with different serviceaccount name.` {
		t.Errorf("other account: %q", msg)
	}

	admin.do("DELETE", "/api/v1/namespaces/default/pods/web", "application/json", `{"gracePeriodSeconds":0}`).must(t, http.StatusOK)
	bearer(t, s, token).post(selfSubjectReviews, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`).must(t, http.StatusUnauthorized)
}

// TestServiceAccountTokenGRPC requests a token through the gRPC front door, as the kubelet
// does: Create with ref.subresource "token".
func TestServiceAccountTokenGRPC(t *testing.T) {
	s := testServer(t)
	createSA(t, adminClient(t, s), "robot")
	c := grpcClient(t, s, false)
	ref := &servicev1.ResourceRef{Version: "v1", Resource: "serviceaccounts", Namespace: "default", Name: "robot", Subresource: "token"}
	resp, err := c.Create(context.Background(), &servicev1.CreateRequest{Ref: ref, Object: mustPack(t, &authenticationv1.TokenRequest{
		Spec: &authenticationv1.TokenRequestSpec{Audiences: []string{"api"}},
	})})
	if err != nil {
		t.Fatal(err)
	}
	var tr authenticationv1.TokenRequest
	if err := resp.GetObject().UnmarshalTo(&tr); err != nil {
		t.Fatal(err)
	}
	if tr.GetStatus().GetToken() == "" || tr.GetSpec().GetExpirationSeconds() != 3600 || tr.GetKind() != "TokenRequest" {
		t.Errorf("answer = %v", &tr)
	}
	short := &authenticationv1.TokenRequest{Spec: &authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64)}}
	_, err = c.Create(context.Background(), &servicev1.CreateRequest{Ref: ref, Object: mustPack(t, short)})
	wantCode(t, err, codes.InvalidArgument)
	ref.Name = "nobody"
	_, err = c.Create(context.Background(), &servicev1.CreateRequest{Ref: ref, Object: mustPack(t, &authenticationv1.TokenRequest{})})
	wantCode(t, err, codes.NotFound)
}

// TestServiceAccountIssuerDiscovery: the OIDC documents are served to service accounts
// (system:service-account-issuer-discovery), and the JWKS holds the key tokens name.
func TestServiceAccountIssuerDiscovery(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	createSA(t, admin, "robot")
	token := issue(t, admin, "robot", `{}`)
	sa := bearer(t, s, token)

	r := sa.get("/.well-known/openid-configuration").must(t, http.StatusOK)
	cfg := r.json(t)
	if cfg["issuer"] != "https://kubernetes.default.svc.cluster.local" || cfg["jwks_uri"] != s.URL()+"/openid/v1/jwks" ||
		!reflect.DeepEqual(cfg["id_token_signing_alg_values_supported"], []any{"RS256"}) || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("openid-configuration = %s (%s)", r.body, r.header.Get("Content-Type"))
	}
	r = sa.get("/openid/v1/jwks").must(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("jwks content type %q", ct)
	}
	var header struct {
		Kid string `json:"kid"`
	}
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	_ = json.Unmarshal(h, &header)
	if kid := dig(r.json(t), "keys", 0, "kid"); header.Kid == "" || kid != header.Kid {
		t.Errorf("jwks kid %v, token kid %q: %s", kid, header.Kid, r.body)
	}
	userClient(t, s, "carol").get("/openid/v1/jwks").must(t, http.StatusForbidden)
}

// TestServiceAccountKeySurvivesRestart: sa.key is generated once; a token issued before a
// restart still authenticates after it.
func TestServiceAccountKeySurvivesRestart(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	createSA(t, admin, "robot")
	token := issue(t, admin, "robot", `{}`)
	key, err := os.ReadFile(filepath.Join(s.cfg.CertDir, "sa.key"))
	if err != nil || !strings.Contains(string(key), "RSA PRIVATE KEY") {
		t.Fatalf("sa.key: %v", err)
	}
	s = restart(t, s)
	if info := whoami(t, bearer(t, s, token)); info["username"] != "system:serviceaccount:default:robot" {
		t.Errorf("after restart: %v", info)
	}
	if again, _ := os.ReadFile(filepath.Join(s.cfg.CertDir, "sa.key")); string(again) != string(key) {
		t.Error("sa.key was replaced on restart")
	}
}

// TestServiceAccountTokenMaxExpirationAndIssuer: --service-account-max-token-expiration
// shortens requests; --service-account-issuer and --api-audiences set iss and aud.
func TestServiceAccountTokenMaxExpirationAndIssuer(t *testing.T) {
	s := configuredServer(t, func(c *Config) {
		c.ServiceAccountMaxTokenExpiration = 20 * time.Minute
		c.ServiceAccountIssuers = []string{"https://issuer.example"}
		c.APIAudiences = []string{"kubelab"}
	})
	admin := adminClient(t, s)
	createSA(t, admin, "robot")
	v := requestToken(t, admin, "robot", `{"expirationSeconds":7200}`).must(t, http.StatusCreated).json(t)
	if dig(v, "spec", "expirationSeconds") != float64(1200) || !reflect.DeepEqual(dig(v, "spec", "audiences"), []any{"kubelab"}) {
		t.Errorf("spec = %v", v["spec"])
	}
	claims, _ := base64.RawURLEncoding.DecodeString(strings.Split(str(dig(v, "status", "token")), ".")[1])
	var c struct {
		Iss string   `json:"iss"`
		Aud []string `json:"aud"`
	}
	if err := json.Unmarshal(claims, &c); err != nil || c.Iss != "https://issuer.example" || !reflect.DeepEqual(c.Aud, []string{"kubelab"}) {
		t.Errorf("claims = %s", claims)
	}
	if info := whoami(t, bearer(t, s, str(dig(v, "status", "token")))); info["username"] != "system:serviceaccount:default:robot" {
		t.Errorf("userInfo = %v", info)
	}
}

// TestNodeServiceAccountTokens: a kubelet may request tokens only for the service accounts
// of pods bound to its node (Node authorizer), and only bound to such a pod
// (NodeRestriction), with upstream's messages.
func TestNodeServiceAccountTokens(t *testing.T) {
	s := testServer(t)
	admin := adminClient(t, s)
	for _, sa := range []string{"robot", "stranger"} {
		createSA(t, admin, sa)
	}
	uid := func(r response) string { return str(dig(r.json(t), "metadata", "uid")) }
	web := uid(admin.post("/api/v1/namespaces/default/pods", saPodJSON("web", "robot", "n1")).must(t, http.StatusCreated))
	db := uid(admin.post("/api/v1/namespaces/default/pods", saPodJSON("db", "robot", "n2")).must(t, http.StatusCreated))
	admin.post("/api/v1/namespaces/default/pods", saPodJSON("far", "stranger", "n2")).must(t, http.StatusCreated)
	kubelet := userClient(t, s, "system:node:n1", "system:nodes")
	bound := func(pod, uid string) string {
		return `{"audiences":["api"],"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"` + pod + `","uid":"` + uid + `"}}`
	}

	// Allowed, for the kubelet's pod; the token is for audience "api", not for this server.
	tok := issue(t, kubelet, "robot", bound("web", web))
	bearer(t, s, tok).post(selfSubjectReviews, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`).must(t, http.StatusUnauthorized)
	for _, tc := range []struct {
		name, sa, spec, msg string
	}{
		{"unbound", "robot", `{}`, `serviceaccounts "robot" is forbidden: node requested token not bound to a pod`},
		{"pod on another node", "robot", bound("db", db), `serviceaccounts "robot" is forbidden: node requested token bound to a pod scheduled on a different node`},
		{"account of no pod on the node", "stranger", `{}`,
			`serviceaccounts "stranger" is forbidden: User "system:node:n1" cannot create resource "serviceaccounts/token" in API group "" in the namespace "default": no relationship found between node 'n1' and this object`},
	} {
		r := requestToken(t, kubelet, tc.sa, tc.spec).must(t, http.StatusForbidden)
		if msg := str(r.json(t)["message"]); msg != tc.msg {
			t.Errorf("%s: message = %q\nwant %q", tc.name, msg, tc.msg)
		}
	}
	kubelet.get("/api/v1/namespaces/default/serviceaccounts/robot").must(t, http.StatusForbidden)
}

// TestServiceAccountStockKubectl: the stock kubectl's `create serviceaccount` and `create
// token` (protobuf bodies), and `auth whoami` with the token.
func TestServiceAccountStockKubectl(t *testing.T) {
	s, _ := seedServer(t)
	out := kubectl(t, s, "create", "serviceaccount", "robot")
	if strings.TrimSpace(out) != "serviceaccount/robot created" {
		t.Errorf("create serviceaccount: %q", out)
	}
	token := strings.TrimSpace(kubectl(t, s, "create", "token", "robot", "--duration", "15m"))
	if strings.Count(token, ".") != 2 {
		t.Fatalf("create token printed %q", token)
	}
	claims, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	var c struct {
		Exp, Iat int64
	}
	if err := json.Unmarshal(claims, &c); err != nil || c.Exp-c.Iat != 900 {
		t.Errorf("claims %s: %v", claims, err)
	}
	// A kubeconfig that trusts the server but holds no client certificate, so the token
	// is what authenticates.
	kc := filepath.Join(t.TempDir(), "token.kubeconfig")
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, s.Bundle().CA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority: %s\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n", s.URL(), ca)
	if err := os.WriteFile(kc, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := kubectlAs(t, kc, "--token", token, "auth", "whoami")
	if err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), "Username system:serviceaccount:default:robot") ||
		!strings.Contains(out, "authentication.kubernetes.io/credential-id   [JTI=") ||
		!strings.Contains(out, "[system:serviceaccounts system:serviceaccounts:default system:authenticated]") {
		t.Errorf("kubectl --token auth whoami = %v\n%s", err, out)
	}
	out, err = kubectlAs(t, kc, "--token", token, "get", "pods")
	if err == nil || !strings.Contains(out, `User "system:serviceaccount:default:robot" cannot list resource "pods"`) {
		t.Errorf("kubectl --token get pods = %v\n%s", err, out)
	}
}
