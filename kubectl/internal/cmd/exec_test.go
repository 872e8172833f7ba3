package cmd

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeExecStatus(t *testing.T) {
	for _, tc := range []struct {
		name, status, want string
		code               int
	}{
		{"success", `{"metadata":{},"status":"Success"}`, "", 0},
		{"exit code", `{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"42"}]}}`, "command terminated with exit code 42", 42},
		{"failure", `{"status":"Failure","message":"Internal error occurred: pod does not exist","reason":"InternalError","code":500}`, "Internal error occurred: pod does not exist", 0},
		{"exit code without cause", `{"status":"Failure","reason":"NonZeroExitCode","details":{}}`, "error stream protocol error: no ExitCode cause given", 0},
		{"bad exit code", `{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"300"}]}}`, `error stream protocol error: invalid exit code value "300"`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeExecStatus([]byte(tc.status))
			got := ""
			if err != nil {
				got = err.Error()
			}
			var ce codeExitError
			code := 0
			if errors.As(err, &ce) {
				code = ce.code
			}
			if got != tc.want || code != tc.code {
				t.Errorf("got %q (exit %d), want %q (exit %d)", got, code, tc.want, tc.code)
			}
		})
	}
}

func TestPickContainer(t *testing.T) {
	pod := func(annotation string) Object {
		o := Object{"metadata": map[string]any{"name": "web"}, "spec": map[string]any{
			"containers":     []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}},
			"initContainers": []any{map[string]any{"name": "setup"}},
		}}
		if annotation != "" {
			o["metadata"].(map[string]any)["annotations"] = map[string]any{defaultContainerAnnotation: annotation}
		}
		return o
	}
	for _, tc := range []struct {
		name, annotation, flag, want, warning string
	}{
		{"named", "", "nope", "nope", ""}, // the apiserver checks the name
		{"first", "", "", "a", `Defaulted container "a" out of: a, b, setup (init)` + "\n"},
		{"annotation", "b", "", "b", ""},
		{"stale annotation", "gone", "", "a", `Default container name "gone" in annotation not found in a pod` + "\n" + `Defaulted container "a" out of: a, b, setup (init)` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warn bytes.Buffer
			got, err := pickContainer(pod(tc.annotation), tc.flag, false, &warn)
			if err != nil || got != tc.want || warn.String() != tc.warning {
				t.Errorf("got %q %v, warning %q; want %q, warning %q", got, err, warn.String(), tc.want, tc.warning)
			}
		})
	}
}
