package storage_test

import (
	"context"
	"errors"
	"testing"

	"kubelab.io/apiserver/internal/storage"
	"kubelab.io/proto/runtime"
)

// TestClaims: claims are taken and given up in the object's own transaction: a key can be
// taken once, a failed write takes nothing, an update moves claims, and a delete frees them
// (but never a key another owner holds).
func TestClaims(t *testing.T) {
	ctx := context.Background()
	c := startEtcd(t)
	s := newPods(t, c, storage.ResourceConfig{}).(storage.Claimer)
	const ip1, ip2 = "/registry/ranges/test/1", "/registry/ranges/test/2"
	claimed := func() map[string]string {
		t.Helper()
		m, err := s.Claimed(ctx, "/registry/ranges/test/")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	if _, err := s.CreateWithClaims(ctx, key("a"), pod("a", nil), storage.Claims{Owner: "a", Take: []string{ip1}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateWithClaims(ctx, key("b"), pod("b", nil), storage.Claims{Owner: "b", Take: []string{ip2, ip1}})
	var taken *storage.ClaimTakenError
	if !errors.As(err, &taken) || taken.Key != ip1 || !errors.Is(err, storage.ErrClaimTaken) {
		t.Fatalf("second claim of %s: %v", ip1, err)
	}
	if m := claimed(); len(m) != 1 || m[ip1] != "a" {
		t.Errorf("claims after a failed create = %v", m)
	}
	if _, err := s.(storage.Interface).Get(ctx, key("b")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("b was written without its claims: %v", err)
	}
	_, err = s.CreateWithClaims(ctx, key("a"), pod("a", nil), storage.Claims{Owner: "a2", Take: []string{ip2}})
	wantErr(t, err, storage.ErrExists)

	// An update moves a's claim from ip1 to ip2; one that loses its claim chooses again.
	tries := 0
	_, err = s.GuaranteedUpdateWithClaims(ctx, key("a"), nil, func(cur runtime.Object) (runtime.Object, storage.Claims, error) {
		tries++
		return cur, storage.Claims{Owner: "a", Take: []string{ip2}, Release: []string{ip1}}, nil
	})
	if err != nil || tries != 1 {
		t.Fatalf("update: %v after %d tries", err, tries)
	}
	if m := claimed(); len(m) != 1 || m[ip2] != "a" {
		t.Errorf("claims after the move = %v", m)
	}
	if _, err := s.CreateWithClaims(ctx, key("b"), pod("b", nil), storage.Claims{Owner: "b", Take: []string{ip1}}); err != nil {
		t.Fatal(err)
	}
	tries = 0
	_, err = s.GuaranteedUpdateWithClaims(ctx, key("a"), nil, func(cur runtime.Object) (runtime.Object, storage.Claims, error) {
		tries++
		return cur, storage.Claims{Owner: "a", Take: []string{ip1}, Release: []string{ip2}}, nil
	})
	if !errors.Is(err, storage.ErrClaimTaken) || tries < 2 {
		t.Errorf("update onto b's claim: %v after %d tries", err, tries)
	}

	// Deleting a frees ip2, and not ip1, which b holds even though a names it.
	if _, err := s.DeleteWithClaims(ctx, key("a"), nil, func(runtime.Object) storage.Claims {
		return storage.Claims{Owner: "a", Release: []string{ip1, ip2}}
	}); err != nil {
		t.Fatal(err)
	}
	if m := claimed(); len(m) != 1 || m[ip1] != "b" {
		t.Errorf("claims after deleting a = %v", m)
	}
}
