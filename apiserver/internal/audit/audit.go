// Package audit writes the apiserver's audit log (--audit-log-path): one JSON line per
// request, from either front door, saying who did what to which object and how it ended.
// Lines are written under a lock in one write each, so concurrent requests never interleave.
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Event is one audit line.
type Event struct {
	Time      time.Time `json:"time"`
	FrontDoor string    `json:"frontDoor"` // "rest" or "grpc"
	User      string    `json:"user"`
	Groups    []string  `json:"groups,omitempty"`
	// ImpersonatedUser is who the request ran as when User impersonated someone
	// (Kubernetes' impersonatedUser); User and Groups stay the requester's.
	ImpersonatedUser *UserInfo `json:"impersonatedUser,omitempty"`
	SourceIP         string    `json:"sourceIP,omitempty"`
	Verb             string    `json:"verb"`
	APIGroup         string    `json:"apiGroup,omitempty"`
	Resource         string    `json:"resource,omitempty"`
	Subresource      string    `json:"subresource,omitempty"`
	Namespace        string    `json:"namespace,omitempty"`
	Name             string    `json:"name,omitempty"`
	URI              string    `json:"requestURI,omitempty"`
	Code             int       `json:"code"`
	LatencyMs        float64   `json:"latencyMs"`
}

// UserInfo is an identity as Kubernetes' audit events write it.
type UserInfo struct {
	Username string              `json:"username"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// Logger appends events to a file. A nil *Logger logs nothing, so callers need no checks.
type Logger struct {
	mu sync.Mutex
	w  io.WriteCloser
}

// Open appends to path, creating it with mode 0600 (audit lines name users and objects).
func Open(path string) (*Logger, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &Logger{w: f}, nil
}

// New logs to w (tests).
func New(w io.WriteCloser) *Logger { return &Logger{w: w} }

// Log writes one event. Failures to write are not the request's failure: they are dropped.
func (l *Logger) Log(ev Event) {
	if l == nil {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b)
}

// Close closes the file.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Close()
}
