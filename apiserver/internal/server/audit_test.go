package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	servicev1 "kubelab.io/proto/api/service/v1"
)

// TestAuditLog: one JSON line per request from either front door, naming the user, the verb,
// the object and how it ended — refused requests included.
func TestAuditLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	s, err := Start(context.Background(), Config{
		DataDir: dir, BindAddress: "127.0.0.1", UnsafeNoFsync: true, AuditLogPath: path,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := adminClient(t, s)
	c.post(deployments, seedDeployment).must(t, http.StatusCreated)
	anonymousClient(t, s).get("/api/v1/pods").must(t, http.StatusUnauthorized)
	g := grpcClient(t, s, false)
	if _, err := g.Get(context.Background(), &servicev1.GetRequest{Ref: &servicev1.ResourceRef{
		Group: "apps", Version: "v1", Resource: "deployments", Namespace: "default", Name: "example-deployment"}}); err != nil {
		t.Fatal(err)
	}
	s.Close() // flushes and closes the log

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		events = append(events, ev)
	}
	find := func(door, verb, user string, code float64) map[string]any {
		for _, ev := range events {
			if ev["frontDoor"] == door && ev["verb"] == verb && ev["user"] == user && ev["code"] == code {
				return ev
			}
		}
		t.Fatalf("no %s %s by %q with code %v in:\n%s", door, verb, user, code, b)
		return nil
	}
	ev := find("rest", "create", "kubernetes-admin", 201)
	if ev["resource"] != "deployments" || ev["namespace"] != "default" || ev["apiGroup"] != "apps" || ev["latencyMs"] == nil {
		t.Errorf("create event = %v", ev)
	}
	find("rest", "list", "", 401)
	ev = find("grpc", "get", "test-user", 200)
	if ev["name"] != "example-deployment" || ev["resource"] != "deployments" {
		t.Errorf("grpc event = %v", ev)
	}
}
