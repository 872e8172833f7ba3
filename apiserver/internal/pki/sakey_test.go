package pki

import (
	"crypto/rsa"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestEnsureSAKey: the first start writes an RSA-2048 sa.key and its sa.pub; a restart
// reuses them untouched (tokens issued before it keep verifying); a lost sa.pub is
// rewritten from the key, and a corrupt sa.key is replaced.
func TestEnsureSAKey(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureSAKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := first.Key.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != 2048 {
		t.Fatalf("key = %T", first.Key)
	}
	if want := []string{filepath.Join(dir, SAKeyFile), filepath.Join(dir, SAPubFile)}; !slices.Equal(first.Written, want) {
		t.Errorf("written = %v, want %v", first.Written, want)
	}
	if fi, err := os.Stat(first.KeyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("sa.key mode: %v %v", fi.Mode(), err)
	}

	again, err := EnsureSAKey(dir)
	if err != nil || len(again.Written) != 0 || !rk.Equal(again.Key) {
		t.Fatalf("restart: written %v, same key %v, err %v", again.Written, rk.Equal(again.Key), err)
	}

	mustRemove(t, dir, SAPubFile)
	repaired, err := EnsureSAKey(dir)
	if err != nil || !rk.Equal(repaired.Key) || !slices.Equal(repaired.Written, []string{repaired.PubPath}) {
		t.Fatalf("sa.pub repair: written %v, err %v", repaired.Written, err)
	}

	mustWrite(t, dir, SAKeyFile, []byte("garbage"))
	fresh, err := EnsureSAKey(dir)
	if err != nil || rk.Equal(fresh.Key) || len(fresh.Written) != 2 {
		t.Fatalf("corrupt sa.key: written %v, err %v", fresh.Written, err)
	}
}
