package plugd

import (
	"context"
	"log/slog"
	"os"
	"strings"
)

// Logger writes JSON lines to stderr. The host reads a plugin's stderr as its log and understands these lines
// (level, msg and the other attributes as fields), so this is the simplest way to log from anywhere in a plugin:
//
//	plugd.Logger.Info("fetched", "pages", 3)
//
// Anything printed with fmt.Println also ends up in the log (Serve sends stdout to stderr), as plain info lines.
// For records tied to a run use [Run.Log] or [Run.Logger].
var Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))

// Level is the level of a structured log record (`plugin/log`).
type Level string

// The levels of `plugin/log` records.
const (
	LevelTrace Level = "trace"
	LevelDebug Level = "debug"
	LevelInfo  Level = "info"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
	LevelFatal Level = "fatal"
)

func levelOf(l slog.Level) Level {
	switch {
	case l < slog.LevelDebug:
		return LevelTrace
	case l < slog.LevelInfo:
		return LevelDebug
	case l < slog.LevelWarn:
		return LevelInfo
	case l < slog.LevelError:
		return LevelWarn
	case l < slog.LevelError+4:
		return LevelError
	default:
		return LevelFatal
	}
}

// rpcLogHandler is a slog.Handler that sends each record as a `plugin/log` notification.
type rpcLogHandler struct {
	send   func(level Level, msg string, fields map[string]any) error
	attrs  []slog.Attr
	groups []string
}

func (h *rpcLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *rpcLogHandler) Handle(_ context.Context, r slog.Record) error {
	var fields map[string]any
	put := func(a slog.Attr) {
		if a.Equal(slog.Attr{}) {
			return
		}
		if fields == nil {
			fields = map[string]any{}
		}
		key := a.Key
		if len(h.groups) > 0 {
			key = strings.Join(h.groups, ".") + "." + key
		}
		fields[key] = attrValue(a.Value)
	}
	for _, a := range h.attrs {
		fields = ensure(fields)
		fields[a.Key] = attrValue(a.Value) // already qualified by WithAttrs
	}
	r.Attrs(func(a slog.Attr) bool { put(a); return true })
	return h.send(levelOf(r.Level), r.Message, fields)
}

func ensure(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (h *rpcLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &rpcLogHandler{send: h.send, groups: h.groups, attrs: append([]slog.Attr(nil), h.attrs...)}
	prefix := ""
	if len(h.groups) > 0 {
		prefix = strings.Join(h.groups, ".") + "."
	}
	for _, a := range attrs {
		n.attrs = append(n.attrs, slog.Attr{Key: prefix + a.Key, Value: a.Value})
	}
	return n
}

func (h *rpcLogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &rpcLogHandler{send: h.send, attrs: h.attrs, groups: append(append([]string(nil), h.groups...), name)}
}

func attrValue(v slog.Value) any {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		m := map[string]any{}
		for _, a := range v.Group() {
			m[a.Key] = attrValue(a.Value)
		}
		return m
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindTime:
		return v.Time().Format("2006-01-02T15:04:05.000Z07:00")
	}
	if err, ok := v.Any().(error); ok {
		return err.Error()
	}
	return v.Any()
}
