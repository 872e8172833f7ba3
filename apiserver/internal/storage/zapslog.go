package storage

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that hands etcd's zap entries at or above a level to slog, so
// embedded etcd logs like the rest of the apiserver: one line per event, through one handler.
//
// Once muted (while etcd shuts down, when its listeners report being closed as errors),
// it drops everything.
type slogCore struct {
	log   *slog.Logger
	level zapcore.Level
	muted *atomic.Bool
	attrs []any
}

// benignEtcdErrors are messages etcd logs as errors in normal operation; they go to debug.
var benignEtcdErrors = map[string]bool{
	// Logged at the first start of a member, before the first raft term is persisted.
	"failed to update storage version": true,
}

func newSlogCore(log *slog.Logger, level zapcore.Level, muted *atomic.Bool) zapcore.Core {
	return &slogCore{log: log, level: level, muted: muted}
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.level && !c.muted.Load() }

func (c *slogCore) With(fields []zap.Field) zapcore.Core {
	return &slogCore{log: c.log, level: c.level, muted: c.muted, attrs: append(append([]any(nil), c.attrs...), fieldAttrs(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zap.Field) error {
	level := slog.LevelInfo
	switch {
	case e.Level >= zapcore.ErrorLevel:
		level = slog.LevelError
	case e.Level == zapcore.WarnLevel:
		level = slog.LevelWarn
	case e.Level <= zapcore.DebugLevel:
		level = slog.LevelDebug
	}
	if benignEtcdErrors[e.Message] {
		level = slog.LevelDebug
	}
	args := append(append([]any(nil), c.attrs...), fieldAttrs(fields)...)
	c.log.Log(context.Background(), level, e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// fieldAttrs turns zap fields into slog key/value pairs through zap's own map encoder.
func fieldAttrs(fields []zap.Field) []any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := slices.Sorted(maps.Keys(enc.Fields))
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, slog.Any(k, enc.Fields[k]))
	}
	return out
}
