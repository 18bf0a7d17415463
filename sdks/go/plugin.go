package plugd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The protocol this SDK speaks and how it introduces itself in the handshake.
const (
	ProtocolVersion = "1.0"
	SDKName         = "plugd-go"
	SDKVersion      = "0.1.0"
)

// The methods of the plugd protocol (packages/protocol/src/methods.ts).
const (
	MethodHandshake     = "plugin/handshake"
	MethodInvoke        = "plugin/invoke"
	MethodHealth        = "plugin/health"
	MethodShutdown      = "plugin/shutdown"
	MethodOnEvent       = "plugin/onEvent"
	MethodConfigChanged = "plugin/configChanged"
	MethodProgress      = "run/progress"
	MethodOutput        = "run/output"
	MethodExport        = "run/export"
	MethodLog           = "plugin/log"
	MethodCall          = "host/call"
	MethodPushMessage   = "host/pushMessage"
	MethodEmitEvent     = "host/emitEvent"
	MethodQueryBus      = "host/queryBus"
	MethodGetConfig     = "host/getConfig"
	MethodUpdateConfig  = "host/updateConfig"
	MethodUpdateStatus  = "host/updateStatus"
)

// Schema is a JSON Schema, written as a Go map: plugd.Schema{"type": "object"}.
type Schema = map[string]any

// EntrySpec describes an entry in the handshake. Everything is optional.
type EntrySpec struct {
	// Name is a human-readable name (the id is the key callers use).
	Name        string
	Description string
	// InputSchema is the JSON Schema of the input; the host validates input against it before the plugin sees it.
	InputSchema  Schema
	OutputSchema Schema
	// Timeout is the entry's default timeout (the host enforces it and cancels the handler's context).
	Timeout time.Duration
	// Streaming says the entry sends output chunks while it runs.
	Streaming bool
	Metadata  map[string]any
}

// Handler runs one invoke of an entry. ctx is cancelled when the caller cancels the run, its timeout fires or the
// host goes away. input is the raw JSON input (already validated against InputSchema by the host). The returned
// value is marshalled as the run's output. Return [NewError] to fail with your own code; returning ctx.Err()
// (or an error wrapping it) after a cancellation gives 1004 CANCELLED; any other error gives 1013 ENTRY_FAILED.
type Handler func(ctx context.Context, run *Run, input json.RawMessage) (any, error)

// Typed adapts a handler with a typed input and output:
//
//	p.Entry("greet", spec, plugd.Typed(func(ctx context.Context, run *plugd.Run, in GreetIn) (GreetOut, error) {…}))
//
// Input that does not decode into In fails with 1002 INVALID_INPUT. A null or absent input leaves In zero.
func Typed[In, Out any](fn func(ctx context.Context, run *Run, in In) (Out, error)) Handler {
	return func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		var in In
		if len(input) > 0 && !isNull(input) {
			if err := json.Unmarshal(input, &in); err != nil {
				return nil, ErrorOf(CodeInvalidInput, fmt.Sprintf("input of '%s' does not fit: %v", run.Entry(), err),
					map[string]any{"problems": []string{err.Error()}})
			}
		}
		out, err := fn(ctx, run, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// Event is a host event delivered to an [Plugin.OnEvent] handler.
type Event struct {
	Type     string          `json:"eventType"`
	Payload  json.RawMessage `json:"payload"`
	Metadata map[string]any  `json:"metadata,omitempty"`
	// Timestamp is milliseconds since the Unix epoch.
	Timestamp float64 `json:"timestamp"`
}

// Time is the event's timestamp as a time.Time.
func (e Event) Time() time.Time { return time.UnixMilli(int64(e.Timestamp)) }

// EventHandler handles one event. Events (and config changes) are handled one at a time, in order; start a
// goroutine for long work.
type EventHandler func(ctx context.Context, ev Event) error

type entry struct {
	info    entryInfo
	handler Handler
}

type entryInfo struct {
	ID           string         `json:"id"`
	Name         string         `json:"name,omitempty"`
	Description  string         `json:"description,omitempty"`
	InputSchema  Schema         `json:"inputSchema,omitempty"`
	OutputSchema Schema         `json:"outputSchema,omitempty"`
	TimeoutMs    int64          `json:"timeoutMs,omitempty"`
	Streaming    bool           `json:"streaming,omitempty"`
	Kind         string         `json:"kind,omitempty"`
	IntervalMs   int64          `json:"intervalMs,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

// Plugin is a plugd plugin: its entries, hooks and event handlers. Make one with [New], register everything,
// then call [Plugin.Serve]. Registration is not safe once serving has started.
type Plugin struct {
	name, version   string
	entries         []*entry
	byID            map[string]*entry
	eventTypes      []string
	events          map[string]EventHandler
	onStartup       func(ctx context.Context, cfg map[string]any) error
	onShutdown      func(ctx context.Context) error
	onConfigChanged func(ctx context.Context, cfg map[string]any) error
	onHealth        func(ctx context.Context) error
	maxMessageBytes int

	mu      sync.RWMutex
	id      string
	config  map[string]any
	dataDir string
	peer    *Peer
}

// New makes a plugin. name is what the handshake reports (usually the plugin id), version its version.
func New(name, version string) *Plugin {
	return &Plugin{name: name, version: version, id: name, byID: map[string]*entry{},
		events: map[string]EventHandler{}, config: map[string]any{}}
}

var entryIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// Entry registers an entry. It panics on an invalid or duplicate id, or a nil handler (programming errors).
func (p *Plugin) Entry(id string, spec EntrySpec, h Handler) {
	p.add(id, h, entryInfo{
		ID: id, Name: spec.Name, Description: spec.Description, InputSchema: spec.InputSchema,
		OutputSchema: spec.OutputSchema, TimeoutMs: spec.Timeout.Milliseconds(), Streaming: spec.Streaming,
		Metadata: spec.Metadata,
	})
}

// Timer registers an entry the host fires every interval (an entry of kind "timer"). It gets no input.
func (p *Plugin) Timer(id string, every time.Duration, description string, fn func(ctx context.Context, run *Run) error) {
	if every <= 0 {
		panic(fmt.Sprintf("plugd: timer %q needs a positive interval", id))
	}
	if fn == nil {
		panic(fmt.Sprintf("plugd: timer %q has a nil handler", id))
	}
	p.add(id, func(ctx context.Context, run *Run, _ json.RawMessage) (any, error) { return nil, fn(ctx, run) },
		entryInfo{ID: id, Description: description, Kind: "timer", IntervalMs: max(1, every.Milliseconds())})
}

func (p *Plugin) add(id string, h Handler, info entryInfo) {
	if !entryIDPattern.MatchString(id) {
		panic(fmt.Sprintf("plugd: entry id %q must match %s", id, entryIDPattern))
	}
	if _, dup := p.byID[id]; dup {
		panic(fmt.Sprintf("plugd: entry %q registered twice", id))
	}
	if h == nil {
		panic(fmt.Sprintf("plugd: entry %q has a nil handler", id))
	}
	e := &entry{info: info, handler: h}
	p.entries = append(p.entries, e)
	p.byID[id] = e
}

// OnStartup runs during the handshake, with the plugin's effective config; an error fails the handshake (the
// host then marks the plugin unavailable with that message).
func (p *Plugin) OnStartup(fn func(ctx context.Context, cfg map[string]any) error) { p.onStartup = fn }

// OnShutdown runs when the host sends plugin/shutdown, before the plugin answers and exits.
func (p *Plugin) OnShutdown(fn func(ctx context.Context) error) { p.onShutdown = fn }

// OnConfigChanged runs when the host sends a new config (plugin/configChanged). [Plugin.Config] already returns
// the new config when it runs.
func (p *Plugin) OnConfigChanged(fn func(ctx context.Context, cfg map[string]any) error) {
	p.onConfigChanged = fn
}

// OnEvent subscribes to a host event type ("*" receives every event nothing else handles). The types are listed
// in the handshake so the host delivers them.
func (p *Plugin) OnEvent(eventType string, fn EventHandler) {
	if _, ok := p.events[eventType]; !ok {
		p.eventTypes = append(p.eventTypes, eventType)
	}
	p.events[eventType] = fn
}

// OnHealth sets a health check for plugin/health: nil means "ok", an error means "degraded" (with the error
// message in details). Without one, the plugin is always "ok".
func (p *Plugin) OnHealth(fn func(ctx context.Context) error) { p.onHealth = fn }

// SetMaxMessageBytes sets the largest message accepted or sent (default DefaultMaxMessageBytes).
func (p *Plugin) SetMaxMessageBytes(n int) { p.maxMessageBytes = n }

// ID is the plugin id the host gave in the handshake (the name given to New until then).
func (p *Plugin) ID() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.id
}

// Config is the plugin's current config: from the handshake, replaced on every plugin/configChanged. Treat it
// as read-only.
func (p *Plugin) Config() map[string]any {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.config
}

// DataDir is the directory the host gave the plugin for its data ("" if none).
func (p *Plugin) DataDir() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.dataDir
}

func (p *Plugin) currentPeer() (*Peer, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.peer == nil {
		return nil, ErrorOf(CodeConnectionClosed, "the plugin is not serving (call Serve first)", nil)
	}
	return p.peer, nil
}

// Serve serves the plugin on stdin/stdout until the host sends plugin/shutdown or closes stdin, and returns the
// exit code for os.Exit: os.Exit(p.Serve()).
//
// Before anything is read, stdout is taken for the protocol: a private duplicate of fd 1 carries the frames and
// fd 1 and os.Stdout are pointed at stderr, so fmt.Println, the log package and child processes write to the
// plugin's log instead of corrupting the protocol (on Linux and the BSDs/macOS; elsewhere only os.Stdout moves).
func (p *Plugin) Serve() int {
	out, err := takeStdout()
	if err != nil {
		Logger.Warn("cannot move stdout to stderr; prints to stdout will be skipped as noise by the host",
			"error", err.Error())
		out = os.Stdout
	}
	return p.ServeIO(os.Stdin, out)
}

var errShutdown = errors.New("plugin/shutdown")

// ServeIO serves the plugin over r (frames from the host) and w (frames to the host) and returns an exit code
// (0 after plugin/shutdown or when r ends, 1 if reading or writing failed). When r ends, the contexts of handlers
// still running are cancelled; the answers of those that return within 200 ms are written, the others are not
// waited for. Tests use it with pipes.
func (p *Plugin) ServeIO(r io.Reader, w io.Writer) int {
	peer := NewPeer(r, w, &PeerOptions{MaxMessageBytes: p.maxMessageBytes})
	p.mu.Lock()
	p.peer = peer
	p.mu.Unlock()

	shutdown := make(chan struct{})
	var once sync.Once
	peer.Handle(MethodHandshake, p.handshake)
	peer.Handle(MethodInvoke, p.invoke)
	peer.Handle(MethodHealth, p.health)
	peer.Handle(MethodShutdown, func(ctx context.Context, _ json.RawMessage) (any, error) {
		if p.onShutdown != nil {
			if err := p.onShutdown(ctx); err != nil {
				Logger.Error("shutdown hook failed", "error", err.Error())
			}
		}
		return &afterReply{result: struct{}{}, then: func() { once.Do(func() { close(shutdown) }) }}, nil
	})
	peer.HandleNotification(MethodOnEvent, p.event)
	peer.HandleNotification(MethodConfigChanged, p.configChanged)

	go peer.Run() //nolint:errcheck // the outcome is read from peer.Err()
	select {
	case <-peer.Done():
	case <-shutdown:
		peer.Close(errShutdown)
	}
	err := peer.Err()
	if err == nil || err == io.EOF || err == errShutdown {
		return 0
	}
	Logger.Error("plugd: connection to the host failed", "error", err.Error())
	return 1
}

// afterReply is a handler result whose `then` runs once the answer has been written.
type afterReply struct {
	result any
	then   func()
}

type handshakeParams struct {
	ProtocolVersion string `json:"protocolVersion"`
	Host            struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"host"`
	Plugin struct {
		ID      string         `json:"id"`
		Config  map[string]any `json:"config"`
		DataDir string         `json:"dataDir"`
	} `json:"plugin"`
	SupportsReverseRPC bool `json:"supportsReverseRpc"`
}

type handshakeResult struct {
	ProtocolVersion string      `json:"protocolVersion"`
	Name            string      `json:"name,omitempty"`
	Version         string      `json:"version,omitempty"`
	SDK             sdkInfo     `json:"sdk"`
	Entries         []entryInfo `json:"entries"`
	Events          []string    `json:"events"`
	Capabilities    []string    `json:"capabilities"`
}

type sdkInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

var versionPattern = regexp.MustCompile(`^(\d+)(?:\.\d+)*$`)

func majorOf(v string) (int, bool) {
	m := versionPattern.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

func (p *Plugin) handshake(ctx context.Context, params json.RawMessage) (any, error) {
	var hp handshakeParams
	if len(params) > 0 && !isNull(params) {
		if err := json.Unmarshal(params, &hp); err != nil {
			return nil, ErrorOf(CodeInvalidParams, "plugin/handshake params: "+err.Error(), nil)
		}
	}
	ours, _ := majorOf(ProtocolVersion)
	theirs, ok := majorOf(hp.ProtocolVersion)
	if !ok {
		return nil, ErrorOf(CodeVersionMismatch,
			fmt.Sprintf("%q is not a protocol version (expected e.g. \"1.0\")", hp.ProtocolVersion),
			map[string]any{"ours": ProtocolVersion, "theirs": hp.ProtocolVersion})
	}
	if ours != theirs {
		return nil, ErrorOf(CodeVersionMismatch,
			fmt.Sprintf("protocol major version mismatch: this side speaks %s, the other side %s", ProtocolVersion, hp.ProtocolVersion),
			map[string]any{"ours": ProtocolVersion, "theirs": hp.ProtocolVersion})
	}
	cfg := hp.Plugin.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	p.mu.Lock()
	if hp.Plugin.ID != "" {
		p.id = hp.Plugin.ID
	}
	p.config = cfg
	p.dataDir = hp.Plugin.DataDir
	p.mu.Unlock()
	if p.onStartup != nil {
		if err := p.onStartup(ctx, cfg); err != nil {
			return nil, err
		}
	}
	entries := make([]entryInfo, 0, len(p.entries))
	for _, e := range p.entries {
		entries = append(entries, e.info)
	}
	events := append([]string{}, p.eventTypes...)
	return handshakeResult{
		ProtocolVersion: ProtocolVersion,
		Name:            p.name,
		Version:         p.version,
		SDK:             sdkInfo{Name: SDKName, Version: SDKVersion},
		Entries:         entries,
		Events:          events,
		Capabilities:    []string{"cancel", "progress", "output", "export", "log", "reverse-rpc"},
	}, nil
}

type invokeParams struct {
	RunID     string          `json:"runId"`
	Entry     string          `json:"entry"`
	Input     json.RawMessage `json:"input"`
	TimeoutMs float64         `json:"timeoutMs"`
	CallChain []string        `json:"callChain"`
	Meta      map[string]any  `json:"meta"`
}

type invokeResult struct {
	Output any `json:"output"`
}

func (p *Plugin) invoke(ctx context.Context, params json.RawMessage) (any, error) {
	var ip invokeParams
	if err := json.Unmarshal(params, &ip); err != nil {
		return nil, ErrorOf(CodeInvalidParams, "plugin/invoke params: "+err.Error(), nil)
	}
	e := p.byID[ip.Entry]
	if e == nil {
		available := make([]string, 0, len(p.entries))
		for _, x := range p.entries {
			available = append(available, x.info.ID)
		}
		return nil, ErrorOf(CodeEntryNotFound, fmt.Sprintf("plugin '%s' has no entry '%s'", p.ID(), ip.Entry),
			map[string]any{"available": available})
	}
	input := ip.Input
	if len(input) == 0 {
		input = json.RawMessage("null")
	}
	run := &Run{id: ip.RunID, entry: ip.Entry, plugin: p, peer: p.peerOf(), callChain: ip.CallChain, meta: ip.Meta,
		timeout: time.Duration(ip.TimeoutMs * float64(time.Millisecond))}
	out, err := e.handler(ctx, run, input)
	if err != nil {
		return nil, err
	}
	return invokeResult{Output: out}, nil
}

func (p *Plugin) peerOf() *Peer {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.peer
}

type healthResult struct {
	Status  string         `json:"status"`
	Details map[string]any `json:"details,omitempty"`
}

func (p *Plugin) health(ctx context.Context, _ json.RawMessage) (any, error) {
	if p.onHealth != nil {
		if err := p.onHealth(ctx); err != nil {
			return healthResult{Status: "degraded", Details: map[string]any{"error": err.Error()}}, nil
		}
	}
	return healthResult{Status: "ok"}, nil
}

func (p *Plugin) event(params json.RawMessage) {
	var ev Event
	if err := json.Unmarshal(params, &ev); err != nil {
		Logger.Warn("plugd: malformed plugin/onEvent", "error", err.Error())
		return
	}
	h := p.events[ev.Type]
	if h == nil {
		h = p.events["*"]
	}
	if h == nil {
		return
	}
	if err := h(p.peerOf().baseCtx, ev); err != nil {
		p.Log(LevelError, fmt.Sprintf("event handler for '%s' failed: %v", ev.Type, err), nil) //nolint:errcheck
	}
}

func (p *Plugin) configChanged(params json.RawMessage) {
	var cp struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(params, &cp); err != nil {
		Logger.Warn("plugd: malformed plugin/configChanged", "error", err.Error())
		return
	}
	if cp.Config == nil {
		cp.Config = map[string]any{}
	}
	p.mu.Lock()
	p.config = cp.Config
	p.mu.Unlock()
	if p.onConfigChanged != nil {
		if err := p.onConfigChanged(p.peerOf().baseCtx, cp.Config); err != nil {
			p.Log(LevelError, fmt.Sprintf("config hook failed: %v", err), nil) //nolint:errcheck
		}
	}
}

// Log sends a structured log record (`plugin/log`) not tied to a run.
func (p *Plugin) Log(level Level, msg string, fields map[string]any) error {
	peer, err := p.currentPeer()
	if err != nil {
		return err
	}
	return peer.Notify(MethodLog, logParams{Level: level, Msg: msg, Fields: fields})
}

// Logger is a *slog.Logger whose records go to the host as `plugin/log` notifications.
func (p *Plugin) Logger() *slog.Logger {
	return slog.New(&rpcLogHandler{send: p.Log})
}

// Call calls another plugin's entry through the host (reverse RPC; the manifest must allow it) and returns its
// output. For a call made while serving a run use [Run.Call], which records the parent run.
func (p *Plugin) Call(ctx context.Context, plugin, entry string, input any) (json.RawMessage, error) {
	return p.call(ctx, plugin, entry, input, "")
}

func (p *Plugin) call(ctx context.Context, plugin, entry string, input any, parentRunID string) (json.RawMessage, error) {
	peer, err := p.currentPeer()
	if err != nil {
		return nil, err
	}
	if raw, ok := input.(json.RawMessage); input == nil || ok && len(raw) == 0 {
		input = struct{}{}
	}
	cp := callParams{Plugin: plugin, Entry: entry, Input: input, ParentRunID: parentRunID}
	if dl, ok := ctx.Deadline(); ok {
		cp.TimeoutMs = max(1, time.Until(dl).Milliseconds())
	}
	return peer.Request(ctx, MethodCall, cp)
}

type callParams struct {
	Plugin      string `json:"plugin"`
	Entry       string `json:"entry"`
	Input       any    `json:"input"`
	TimeoutMs   int64  `json:"timeoutMs,omitempty"`
	ParentRunID string `json:"parentRunId,omitempty"`
}

// Message is a message pushed to the host's message plane ([Plugin.PushMessage]). Any JSON object will do;
// this struct has the usual fields.
type Message struct {
	Type        string         `json:"type,omitempty"`
	Source      string         `json:"source,omitempty"`
	Description string         `json:"description,omitempty"`
	Priority    int            `json:"priority,omitempty"`
	Content     any            `json:"content,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

// PushMessage pushes a message (a [Message], or any JSON object) to the host (`host/pushMessage`).
func (p *Plugin) PushMessage(ctx context.Context, message any) error {
	return p.request(ctx, MethodPushMessage, message, nil)
}

// EmitEvent emits a custom event on the host's bus (`host/emitEvent`).
func (p *Plugin) EmitEvent(ctx context.Context, eventType string, payload any) error {
	return p.request(ctx, MethodEmitEvent, map[string]any{"type": eventType, "payload": payload}, nil)
}

// GetConfig asks the host for the plugin's effective config (`host/getConfig`).
func (p *Plugin) GetConfig(ctx context.Context) (map[string]any, error) {
	var cfg map[string]any
	err := p.request(ctx, MethodGetConfig, struct{}{}, &cfg)
	return cfg, err
}

// UpdateStatus publishes the plugin's status (any JSON object) to the host (`host/updateStatus`).
func (p *Plugin) UpdateStatus(ctx context.Context, status any) error {
	return p.request(ctx, MethodUpdateStatus, status, nil)
}

// Request sends any host/* request and returns the raw result (for methods without a helper, e.g.
// host/queryBus).
func (p *Plugin) Request(ctx context.Context, method string, params any) (json.RawMessage, error) {
	peer, err := p.currentPeer()
	if err != nil {
		return nil, err
	}
	return peer.Request(ctx, method, params)
}

func (p *Plugin) request(ctx context.Context, method string, params, into any) error {
	raw, err := p.Request(ctx, method, params)
	if err != nil || into == nil {
		return err
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("plugd: unexpected answer to %s: %w", method, err)
	}
	return nil
}
