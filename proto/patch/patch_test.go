package patch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	doc := []byte(`{"kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":1}}`)
	tests := []struct {
		name    string
		typ     Type
		patch   string
		want    string
		wantErr error
		errHas  string
	}{
		{name: "json patch", typ: JSONPatch, patch: `[{"op":"replace","path":"/spec/replicas","value":2}]`,
			want: `{"kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":2}}`},
		{name: "merge patch", typ: MergePatch, patch: `{"spec":{"replicas":3}}`,
			want: `{"kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":3}}`},
		{name: "strategic merge patch", typ: StrategicMerge, patch: `{"spec":{"paused":true}}`,
			want: `{"kind":"Deployment","metadata":{"name":"x"},"spec":{"paused":true,"replicas":1}}`},
		{name: "server-side apply", typ: ApplyPatch, patch: "spec:\n  replicas: 4\n",
			wantErr: ErrUnsupported, errHas: "server-side apply is not supported; use client-side apply"},
		{name: "unknown type", typ: "application/json", patch: `{}`, wantErr: ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply(tt.typ, doc, []byte(tt.patch), "Deployment")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("got %s, %v; want an error wrapping %v containing %q", got, err, tt.wantErr, tt.errHas)
				}
				if HTTPStatus(err) != 415 {
					t.Errorf("HTTPStatus = %d, want 415", HTTPStatus(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := canon(t, tt.want); string(got) != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	tests := []struct {
		in   string
		want Type
		ok   bool
	}{
		{"application/json-patch+json", JSONPatch, true},
		{"application/merge-patch+json; charset=utf-8", MergePatch, true},
		{"Application/Strategic-Merge-Patch+JSON", StrategicMerge, true},
		{"application/apply-patch+yaml", ApplyPatch, true},
		{"application/json", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseType(tt.in)
			if got != tt.want || (err == nil) != tt.ok {
				t.Fatalf("ParseType(%q) = %q, %v", tt.in, got, err)
			}
			if err != nil && !errors.Is(err, ErrUnsupported) {
				t.Errorf("error %v does not wrap ErrUnsupported", err)
			}
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 200},
		{ErrInvalidPatch, 400},
		{ErrTooManyOperations, 413},
		{ErrUnsupported, 415},
		{ErrCannotApply, 422},
		{ErrTestFailed, 422},
		{ErrInvalidDocument, 500},
		{errors.New("other"), 500},
	}
	for _, tt := range tests {
		if got := HTTPStatus(tt.err); got != tt.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestKnownKind(t *testing.T) {
	for _, k := range []string{"Pod", "Deployment", "ReplicaSet", "Node", "Namespace", "ConfigMap", "Lease", "Event"} {
		if !KnownKind(k) {
			t.Errorf("KnownKind(%q) = false", k)
		}
	}
	if KnownKind("Widget") {
		t.Error("KnownKind(Widget) = true")
	}
}

func TestCanonNumber(t *testing.T) {
	same := [][]string{
		{"80", "80.0", "8e1", "8.0E+1", "800e-1"},
		{"9007199254740993", "9007199254740993.0"},
		{"-0", "0", "0.0"},
		{"1e400", "10e399"},
	}
	for _, group := range same {
		for _, n := range group[1:] {
			if a, b := canonNumber(json.Number(group[0])), canonNumber(json.Number(n)); a != b {
				t.Errorf("canonNumber(%s) = %s, canonNumber(%s) = %s", group[0], a, n, b)
			}
		}
	}
	if canonNumber("9007199254740993") == canonNumber("9007199254740992") {
		t.Error("2^53+1 and 2^53 must differ")
	}
}
