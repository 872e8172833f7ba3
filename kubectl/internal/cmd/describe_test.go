package cmd

import (
	"encoding/json"
	"testing"
)

func TestSelectorQuery(t *testing.T) {
	var sel map[string]any
	if err := json.Unmarshal([]byte(`{"matchLabels":{"tier":"a","app":"x"},"matchExpressions":[
		{"key":"zone","operator":"NotIn","values":["b","a"]},{"key":"env","operator":"Exists"},{"key":"beta","operator":"DoesNotExist"}]}`), &sel); err != nil {
		t.Fatal(err)
	}
	// metav1.LabelSelectorAsSelector: requirements by key, values sorted.
	if got, want := selectorQuery(sel), "app=x,!beta,env,tier=a,zone notin (a,b)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
