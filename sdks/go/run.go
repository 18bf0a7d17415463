package plugd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"time"
)

// Run is one invoke of an entry, handed to its handler: who it is, and how to report progress, output, exports
// and logs for it, or call the host on its behalf. Its methods are safe for concurrent use.
type Run struct {
	id, entry string
	plugin    *Plugin
	peer      *Peer
	callChain []string
	meta      map[string]any
	timeout   time.Duration
}

// ID is the run id the host gave this invoke.
func (r *Run) ID() string { return r.id }

// Entry is the id of the entry being run.
func (r *Run) Entry() string { return r.entry }

// Config is the plugin's current config.
func (r *Run) Config() map[string]any { return r.plugin.Config() }

// Plugin is the plugin serving this run.
func (r *Run) Plugin() *Plugin { return r.plugin }

// Meta is the invoke's metadata from the host (e.g. parentRunId for a nested call); may be nil.
func (r *Run) Meta() map[string]any { return r.meta }

// CallChain lists the plugin ids of the calls this one is nested in, outermost first.
func (r *Run) CallChain() []string { return r.callChain }

// Timeout is the timeout the host applies to this run (0 if none). When it fires the host cancels ctx.
func (r *Run) Timeout() time.Duration { return r.timeout }

// Progress is a progress report ([Run.Progress]). Zero fields are not sent.
type Progress struct {
	// Progress is the fraction done, 0..1 (clamped). Zero is not sent: leave it zero to report only a stage or
	// a message.
	Progress float64
	Stage    string
	Message  string
	// Step of StepTotal steps.
	Step      int
	StepTotal int
	// ETA is the time left, if the plugin can tell (sent as seconds).
	ETA     time.Duration
	Metrics map[string]float64
}

type progressParams struct {
	RunID     string             `json:"runId"`
	Progress  float64            `json:"progress,omitempty"`
	Stage     string             `json:"stage,omitempty"`
	Message   string             `json:"message,omitempty"`
	Step      int                `json:"step,omitempty"`
	StepTotal int                `json:"stepTotal,omitempty"`
	ETA       float64            `json:"eta,omitempty"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
}

// Progress reports progress (`run/progress`).
func (r *Run) Progress(p Progress) error {
	return r.peer.Notify(MethodProgress, progressParams{
		RunID: r.id, Progress: min(1, max(0, p.Progress)), Stage: p.Stage, Message: p.Message, Step: p.Step,
		StepTotal: p.StepTotal, ETA: p.ETA.Seconds(), Metrics: p.Metrics,
	})
}

// Output streams a chunk of the run's output (`run/output`).
func (r *Run) Output(chunk string) error {
	return r.peer.Notify(MethodOutput, outputParams{RunID: r.id, Chunk: chunk})
}

type outputParams struct {
	RunID string `json:"runId"`
	Chunk string `json:"chunk"`
}

// ExportOption sets an optional field of an export.
type ExportOption func(*exportParams)

// WithMime sets an export's MIME type.
func WithMime(mime string) ExportOption { return func(e *exportParams) { e.Mime = mime } }

// WithDescription sets an export's description.
func WithDescription(d string) ExportOption { return func(e *exportParams) { e.Description = d } }

// WithMetadata sets an export's metadata.
func WithMetadata(m map[string]any) ExportOption { return func(e *exportParams) { e.Metadata = m } }

type exportParams struct {
	RunID       string         `json:"runId"`
	Type        string         `json:"type"`
	Label       string         `json:"label,omitempty"`
	Description string         `json:"description,omitempty"`
	Mime        string         `json:"mime,omitempty"`
	Data        any            `json:"data,omitempty"`
	URL         string         `json:"url,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

func (r *Run) export(e exportParams, opts []ExportOption) error {
	e.RunID = r.id
	for _, o := range opts {
		o(&e)
	}
	return r.peer.Notify(MethodExport, e)
}

// ExportText exports a piece of text (`run/export` type "text") under a label.
func (r *Run) ExportText(label, text string, opts ...ExportOption) error {
	return r.export(exportParams{Type: "text", Label: label, Data: text}, opts)
}

// ExportJSON exports any JSON value (type "json").
func (r *Run) ExportJSON(label string, value any, opts ...ExportOption) error {
	if value == nil {
		value = json.RawMessage("null")
	}
	return r.export(exportParams{Type: "json", Label: label, Data: value}, opts)
}

// ExportURL exports a link (type "url").
func (r *Run) ExportURL(label, url string, opts ...ExportOption) error {
	return r.export(exportParams{Type: "url", Label: label, URL: url}, opts)
}

// ExportBinary exports bytes (type "binary", sent as base64; MIME application/octet-stream unless WithMime).
func (r *Run) ExportBinary(label string, data []byte, opts ...ExportOption) error {
	return r.export(exportParams{Type: "binary", Label: label, Mime: "application/octet-stream",
		Data: base64.StdEncoding.EncodeToString(data)}, opts)
}

type logParams struct {
	Level  Level          `json:"level"`
	Msg    string         `json:"msg"`
	RunID  string         `json:"runId,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
}

// Log sends a structured log record tied to this run (`plugin/log`); fields may be nil.
func (r *Run) Log(level Level, msg string, fields map[string]any) error {
	return r.peer.Notify(MethodLog, logParams{Level: level, Msg: msg, RunID: r.id, Fields: fields})
}

// Logger is a *slog.Logger whose records go to the host as `plugin/log` notifications tied to this run.
func (r *Run) Logger() *slog.Logger {
	return slog.New(&rpcLogHandler{send: r.Log})
}

// Call calls another plugin's entry through the host (`host/call`, reverse RPC; the plugin's manifest must allow
// it) as part of this run, and returns that entry's output. A deadline on ctx is passed on as the call's timeout;
// cancelling ctx cancels the call. Errors from the host (PERMISSION_DENIED, CIRCULAR_CALL, the callee's own
// failure…) are *Error.
func (r *Run) Call(ctx context.Context, plugin, entry string, input any) (json.RawMessage, error) {
	return r.plugin.call(ctx, plugin, entry, input, r.id)
}

// PushMessage pushes a message to the host (`host/pushMessage`); see [Plugin.PushMessage].
func (r *Run) PushMessage(ctx context.Context, message any) error {
	return r.plugin.PushMessage(ctx, message)
}

// EmitEvent emits a custom event on the host's bus (`host/emitEvent`).
func (r *Run) EmitEvent(ctx context.Context, eventType string, payload any) error {
	return r.plugin.EmitEvent(ctx, eventType, payload)
}
