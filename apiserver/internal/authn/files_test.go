package authn

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestTokenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(p, []byte("# comment\nt1,alice,1,\"a,b\"\nt2,bob,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := NewTokenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	u, ok, err := tf.Authenticate(context.Background(), Credentials{Authorization: "Bearer t1"})
	if err != nil || !ok || u.Name != "alice" || u.UID != "1" || !slices.Equal(u.Groups, []string{"a", "b"}) {
		t.Errorf("t1 = %+v %v %v", u, ok, err)
	}
	if _, ok, err := tf.Authenticate(context.Background(), Credentials{Authorization: "Bearer nope"}); ok || err == nil {
		t.Errorf("unknown token: ok=%v err=%v", ok, err)
	}
	if _, ok, err := tf.Authenticate(context.Background(), Credentials{Authorization: "Basic eDp5"}); ok || err != nil {
		t.Errorf("basic header: ok=%v err=%v, want no opinion", ok, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	_ = os.WriteFile(bad, []byte("t1,alice\n"), 0o600)
	if _, err := NewTokenFile(bad); err == nil {
		t.Error("a two-column file was accepted")
	}
}
