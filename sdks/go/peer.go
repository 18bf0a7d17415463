package plugd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MethodCancelRequest is the notification that cancels a request in flight: params {"id": <the request's id>}.
const MethodCancelRequest = "$/cancelRequest"

// RequestHandler answers one incoming request. ctx is cancelled when the other side sends `$/cancelRequest` for
// it or the connection closes. The result is marshalled as JSON; an error becomes the JSON-RPC error (see
// [NewError]; context cancellation becomes 1004 CANCELLED, any other error 1013 ENTRY_FAILED).
type RequestHandler func(ctx context.Context, params json.RawMessage) (any, error)

// NotificationHandler receives one incoming notification. Notifications are handled one at a time, in the order
// they arrived, on a goroutine of their own (so a handler may make requests to the other side).
type NotificationHandler func(params json.RawMessage)

// PeerOptions tune a [Peer]. The zero value is fine.
type PeerOptions struct {
	// MaxMessageBytes is the largest message accepted or sent (default DefaultMaxMessageBytes).
	MaxMessageBytes int
	// OnWarning receives protocol warnings (skipped garbage, unparseable bodies, unknown responses…).
	// Default: a line on stderr through Logger.
	OnWarning func(kind, message string)
	// DrainTimeout is how long handlers still running when the input ends get to return, so that their answers
	// are written (their contexts are cancelled at once). Default 200 ms; negative: do not wait.
	DrainTimeout time.Duration
}

// Peer is a JSON-RPC 2.0 peer over a pair of byte streams with Content-Length framing: it sends requests and
// notifications, answers the other side's (each request in its own goroutine), matches responses by id, turns
// `$/cancelRequest` into context cancellation and handles batches. A plugin uses it through [Plugin]; tests use
// it directly to play the host.
type Peer struct {
	reader   *FrameReader
	writer   *FrameWriter
	maxBytes int
	warn     func(kind, message string)

	requestHandlers      map[string]RequestHandler
	notificationHandlers map[string]NotificationHandler
	fallback             func(method string, params json.RawMessage)

	nextID   atomic.Int64
	mu       sync.Mutex
	pending  map[string]chan *wireMessage
	incoming map[string]context.CancelCauseFunc

	baseCtx    context.Context
	baseCancel context.CancelCauseFunc
	closed     chan struct{}
	closeOnce  sync.Once
	closeErr   error

	notes    notificationQueue
	inflight sync.WaitGroup
	drain    time.Duration
}

// NewPeer makes a peer reading frames from r and writing them to w. Register handlers, then call [Peer.Run].
func NewPeer(r io.Reader, w io.Writer, opts *PeerOptions) *Peer {
	if opts == nil {
		opts = &PeerOptions{}
	}
	limit := opts.MaxMessageBytes
	if limit <= 0 {
		limit = DefaultMaxMessageBytes
	}
	p := &Peer{
		reader:               NewFrameReader(r),
		writer:               NewFrameWriter(w),
		maxBytes:             limit,
		warn:                 opts.OnWarning,
		requestHandlers:      map[string]RequestHandler{},
		notificationHandlers: map[string]NotificationHandler{},
		pending:              map[string]chan *wireMessage{},
		incoming:             map[string]context.CancelCauseFunc{},
		closed:               make(chan struct{}),
		drain:                opts.DrainTimeout,
	}
	if p.drain == 0 {
		p.drain = 200 * time.Millisecond
	}
	if p.warn == nil {
		p.warn = func(kind, message string) { Logger.Warn(message, "kind", kind, "source", "plugd-sdk") }
	}
	p.reader.MaxMessageBytes = limit
	p.reader.OnGarbage = func(b []byte) {
		text := b
		if len(text) > 512 {
			text = text[:512]
		}
		p.warn("garbage", fmt.Sprintf("skipped %d bytes that are not a frame: %q", len(b), text))
	}
	p.baseCtx, p.baseCancel = context.WithCancelCause(context.Background())
	p.notes.init()
	return p
}

// Handle registers the handler of a request method. Not safe to call once Run has started.
func (p *Peer) Handle(method string, h RequestHandler) { p.requestHandlers[method] = h }

// HandleNotification registers the handler of a notification method. Not safe to call once Run has started.
func (p *Peer) HandleNotification(method string, h NotificationHandler) {
	p.notificationHandlers[method] = h
}

// HandleOtherNotifications receives the notifications no specific handler is registered for.
func (p *Peer) HandleOtherNotifications(h func(method string, params json.RawMessage)) {
	p.fallback = h
}

// Done is closed when the peer closes (the input ended, a read or write failed, or Close was called).
func (p *Peer) Done() <-chan struct{} { return p.closed }

// Err is why the peer closed (io.EOF when the other side closed the stream), or nil while it is open.
func (p *Peer) Err() error {
	select {
	case <-p.closed:
		return p.closeErr
	default:
		return nil
	}
}

// Run reads and dispatches messages until the input ends or fails, then closes the peer. It returns nil when
// the input ended cleanly (EOF), else the error.
func (p *Peer) Run() error {
	go p.notes.run(p.closed, p.dispatchNotification)
	for {
		body, err := p.reader.ReadFrame()
		if err != nil {
			var big *OversizeError
			if errors.As(err, &big) {
				p.receiveOversize(big)
				continue
			}
			p.drainHandlers(err)
			p.Close(err)
			if err == io.EOF {
				return nil
			}
			return err
		}
		p.receive(body)
	}
}

// drainHandlers cancels every request still being handled and waits (at most the drain timeout) for the
// handlers to return, so their answers still go out before the peer closes.
func (p *Peer) drainHandlers(reason error) {
	if reason == io.EOF {
		reason = errInputClosed
	}
	p.mu.Lock()
	for _, cancel := range p.incoming {
		cancel(reason)
	}
	n := len(p.incoming)
	p.mu.Unlock()
	if n == 0 || p.drain < 0 {
		return
	}
	done := make(chan struct{})
	go func() { p.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(p.drain):
	}
}

var errInputClosed = errors.New("the other side closed the connection")

// Close closes the peer: requests still waiting for an answer fail with CONNECTION_CLOSED, every incoming
// request's context is cancelled and nothing more is sent. Idempotent. It does not close the streams.
func (p *Peer) Close(reason error) {
	p.closeOnce.Do(func() {
		if reason == nil {
			reason = errors.New("closed")
		}
		// Writers flush as they go; this catches an answer written just before a shutdown. Bounded, so a host
		// that stopped reading cannot keep us from closing.
		flushed := make(chan struct{})
		go func() { _ = p.writer.Flush(); close(flushed) }()
		select {
		case <-flushed:
		case <-time.After(500 * time.Millisecond):
		}
		p.mu.Lock()
		p.closeErr = reason
		close(p.closed)
		p.mu.Unlock()
		p.baseCancel(reason)
	})
}

func (p *Peer) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// Notify sends a notification.
func (p *Peer) Notify(method string, params any) error {
	if p.isClosed() {
		return p.closedError(method)
	}
	body, err := marshal(outMessage{JSONRPC: "2.0", Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("plugd: cannot encode the params of %q: %w", method, err)
	}
	if len(body) > p.maxBytes {
		return p.tooLarge(method, len(body))
	}
	return p.writer.WriteFrame(body)
}

// Request sends a request and waits for its answer. A JSON-RPC error answer is returned as *Error. When ctx ends
// first, the other side is told with `$/cancelRequest` and the returned *Error (CANCELLED or TIMEOUT) wraps
// ctx's error, so errors.Is(err, context.Canceled) works.
func (p *Peer) Request(ctx context.Context, method string, params any) (json.RawMessage, error) {
	if p.isClosed() {
		return nil, p.closedError(method)
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(method, err)
	}
	id := p.nextID.Add(1)
	body, err := marshal(outMessage{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("plugd: cannot encode the params of %q: %w", method, err)
	}
	if len(body) > p.maxBytes {
		return nil, p.tooLarge(method, len(body))
	}
	key := "n:" + strconv.FormatInt(id, 10)
	ch := make(chan *wireMessage, 1)
	p.mu.Lock()
	p.pending[key] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pending, key)
		p.mu.Unlock()
	}()
	if err := p.writer.WriteFrame(body); err != nil {
		p.Close(err)
		return nil, p.closedError(method)
	}
	select {
	case res := <-ch:
		if res.Error != nil {
			var e struct {
				Code    int             `json:"code"`
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(res.Error, &e); err != nil {
				return nil, ErrorOf(CodeInternalError, fmt.Sprintf("malformed error answer to %q: %s", method, res.Error), nil)
			}
			out := &Error{Code: e.Code, Message: e.Message}
			if e.Data != nil {
				// Raw JSON, so callers can decode data into their own types.
				out.Data = e.Data
			}
			return nil, out
		}
		if res.Result == nil {
			return json.RawMessage("null"), nil
		}
		return res.Result, nil
	case <-ctx.Done():
		_ = p.Notify(MethodCancelRequest, map[string]any{"id": id})
		return nil, ctxError(method, ctx.Err())
	case <-p.closed:
		return nil, p.closedError(method)
	}
}

func ctxError(method string, err error) error {
	code, what := CodeCancelled, "was cancelled by the caller"
	if errors.Is(err, context.DeadlineExceeded) {
		code, what = CodeTimeout, "timed out"
	}
	e := ErrorOf(code, fmt.Sprintf("'%s' %s", method, what), nil)
	e.cause = err
	return e
}

func (p *Peer) closedError(method string) error {
	reason := "closed"
	if err := p.Err(); err != nil {
		reason = err.Error()
		if err == io.EOF {
			reason = "the other side closed the connection"
		}
	}
	e := ErrorOf(CodeConnectionClosed, fmt.Sprintf("cannot complete '%s': connection closed (%s)", method, reason),
		map[string]any{"method": method})
	return e
}

func (p *Peer) tooLarge(method string, n int) error {
	return ErrorOf(CodeMessageTooLarge, fmt.Sprintf("'%s' is %d bytes, over the %d-byte message limit", method, n, p.maxBytes),
		map[string]any{"bytes": n, "limit": p.maxBytes})
}

// outMessage is every message we send (request, notification or response), fields in the usual order.
type outMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      any             `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  any             `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// wireMessage is every message we receive, each member kept raw until we know what it is.
type wireMessage struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

var nullID = json.RawMessage("null")

// marshal encodes v without escaping <, > and & (plain JSON, as every other SDK writes it).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // Encode appends '\n'
}

func (p *Peer) receive(body []byte) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			p.parseError(body, err)
			return
		}
		p.receiveBatch(items)
		return
	}
	var m wireMessage
	if err := json.Unmarshal(body, &m); err != nil {
		if !json.Valid(body) {
			p.parseError(body, err)
			return
		}
		p.send(p.invalid(nil, body, "not a JSON-RPC 2.0 message (not an object)"))
		return
	}
	if res, _ := p.dispatch(&m, body, p.send); res != nil {
		p.send(res)
	}
}

func (p *Peer) parseError(body []byte, err error) {
	text := body
	if len(text) > 200 {
		text = text[:200]
	}
	p.warn("parse_error", fmt.Sprintf("a frame is not JSON (%v): %q", err, text))
	p.send(mustMarshal(outMessage{JSONRPC: "2.0", ID: nullID,
		Error: &Error{Code: CodeParseError, Message: "parse error: " + err.Error()}}))
}

func (p *Peer) receiveBatch(items []json.RawMessage) {
	if len(items) == 0 {
		p.send(mustMarshal(outMessage{JSONRPC: "2.0", ID: nullID,
			Error: &Error{Code: CodeInvalidRequest, Message: "invalid request: empty batch"}}))
		return
	}
	var mu sync.Mutex
	var answers []json.RawMessage
	var wg sync.WaitGroup
	add := func(res []byte) {
		mu.Lock()
		answers = append(answers, res)
		mu.Unlock()
	}
	for _, raw := range items {
		var m wireMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			if res := p.invalid(nil, raw, "not a JSON-RPC 2.0 message (not an object)"); res != nil {
				add(res)
			}
			continue
		}
		wg.Add(1)
		res, started := p.dispatch(&m, raw, func(res []byte) { add(res); wg.Done() })
		if !started {
			if res != nil {
				add(res)
			}
			wg.Done()
		}
	}
	go func() {
		wg.Wait()
		if len(answers) == 0 || p.isClosed() {
			return
		}
		p.send(mustMarshal(answers))
	}()
}

// dispatch handles one message. It returns the answer to send now (nil if none), or started = true when a handler
// goroutine was started that will call reply with its answer.
func (p *Peer) dispatch(m *wireMessage, raw []byte, reply func([]byte)) (answer []byte, started bool) {
	if !bytes.Equal(bytes.TrimSpace(m.JSONRPC), []byte(`"2.0"`)) {
		return p.invalid(m, raw, `not a JSON-RPC 2.0 message (missing jsonrpc: "2.0")`), false
	}
	if m.Method != nil {
		var method string
		if err := json.Unmarshal(m.Method, &method); err != nil {
			return p.invalid(m, raw, "method must be a string"), false
		}
		if m.ID == nil || isNull(m.ID) {
			p.receiveNotification(method, m.Params)
			return nil, false
		}
		key, ok := idKey(m.ID)
		if !ok {
			return p.invalid(m, raw, "id must be a number or string"), false
		}
		return p.receiveRequest(key, m.ID, method, m.Params, reply)
	}
	if m.Result != nil || m.Error != nil {
		p.receiveResponse(m)
		return nil, false
	}
	return p.invalid(m, raw, "neither a request, a notification nor a response"), false
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// idKey is a map key for a request id: numbers and strings never collide, 1 and 1.0 are the same.
func idKey(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return "s:" + s, true
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return "", false
		}
		return "n:" + strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return "", false
}

func (p *Peer) invalid(m *wireMessage, raw []byte, why string) []byte {
	text := raw
	if len(text) > 200 {
		text = text[:200]
	}
	p.warn("invalid_message", fmt.Sprintf("%s: %s", why, text))
	// Answer only what looks like a request; answering an invalid response would start a ping-pong.
	if m != nil && (m.Result != nil || m.Error != nil) {
		return nil
	}
	id := nullID
	if m != nil {
		if _, ok := idKey(m.ID); ok {
			id = m.ID
		}
	}
	return mustMarshal(outMessage{JSONRPC: "2.0", ID: id,
		Error: &Error{Code: CodeInvalidRequest, Message: "invalid request: " + why}})
}

func (p *Peer) receiveNotification(method string, params json.RawMessage) {
	if method == MethodCancelRequest {
		var c struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(params, &c) != nil {
			return
		}
		if key, ok := idKey(c.ID); ok {
			p.mu.Lock()
			cancel := p.incoming[key]
			p.mu.Unlock()
			if cancel != nil {
				cancel(errCancelledByCaller)
			}
		}
		return
	}
	p.notes.push(notification{method, params})
}

var errCancelledByCaller = errors.New("cancelled by the caller ($/cancelRequest)")

func (p *Peer) dispatchNotification(n notification) {
	defer func() {
		if r := recover(); r != nil {
			p.warn("handler_panic", fmt.Sprintf("handler for notification '%s' panicked: %v\n%s", n.method, r, debug.Stack()))
		}
	}()
	if h := p.notificationHandlers[n.method]; h != nil {
		h(n.params)
	} else if p.fallback != nil {
		p.fallback(n.method, n.params)
	}
}

func (p *Peer) receiveRequest(key string, id json.RawMessage, method string, params json.RawMessage, reply func([]byte)) ([]byte, bool) {
	h := p.requestHandlers[method]
	if h == nil {
		return mustMarshal(outMessage{JSONRPC: "2.0", ID: id,
			Error: &Error{Code: CodeMethodNotFound, Message: "method not found: " + method}}), false
	}
	ctx, cancel := context.WithCancelCause(p.baseCtx)
	p.mu.Lock()
	p.incoming[key] = cancel
	p.mu.Unlock()
	p.inflight.Add(1)
	go func() {
		defer p.inflight.Done()
		result, err := p.runHandler(ctx, h, method, params)
		cancelled := ctx.Err() != nil
		p.mu.Lock()
		delete(p.incoming, key)
		p.mu.Unlock()
		cancel(nil)
		var then func()
		if ar, ok := result.(*afterReply); ok {
			result, then = ar.result, ar.then
		}
		reply(p.response(id, method, result, err, cancelled))
		if then != nil {
			then()
		}
	}()
	return nil, true
}

func (p *Peer) runHandler(ctx context.Context, h RequestHandler, method string, params json.RawMessage) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			p.warn("handler_panic", fmt.Sprintf("handler for '%s' panicked: %v\n%s", method, r, stack))
			result, err = nil, ErrorOf(CodeInternalError, fmt.Sprintf("the plugin panicked: %v", r), nil)
		}
	}()
	return h(ctx, params)
}

func (p *Peer) response(id json.RawMessage, method string, result any, err error, cancelled bool) []byte {
	var msg outMessage
	if err != nil {
		msg = outMessage{JSONRPC: "2.0", ID: id, Error: toWireError(err, cancelled)}
	} else {
		b, merr := marshal(result)
		if merr != nil {
			msg = outMessage{JSONRPC: "2.0", ID: id, Error: ErrorOf(CodeInternalError,
				fmt.Sprintf("the result of '%s' cannot be encoded as JSON: %v", method, merr), nil)}
		} else {
			msg = outMessage{JSONRPC: "2.0", ID: id, Result: b}
		}
	}
	body, merr := marshal(msg)
	if merr != nil && msg.Error != nil {
		// Only an error's data can fail here; send the error without it.
		msg.Error = &Error{Code: msg.Error.Code, Message: msg.Error.Message}
		body = mustMarshal(msg)
	}
	if len(body) > p.maxBytes {
		e := p.tooLarge("response", len(body)).(*Error)
		body = mustMarshal(outMessage{JSONRPC: "2.0", ID: id, Error: e})
	}
	return body
}

func (p *Peer) receiveResponse(m *wireMessage) {
	key, ok := idKey(m.ID)
	var ch chan *wireMessage
	if ok {
		p.mu.Lock()
		ch = p.pending[key]
		delete(p.pending, key)
		p.mu.Unlock()
	}
	if ch == nil {
		// Late answers to requests we cancelled end up here; expected, not an error.
		p.warn("unknown_response", fmt.Sprintf("response for unknown request id %s", m.ID))
		return
	}
	ch <- m
}

var (
	peekID     = regexp.MustCompile(`"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")`)
	peekMethod = regexp.MustCompile(`"method"\s*:`)
)

func (p *Peer) receiveOversize(e *OversizeError) {
	p.warn("oversize", e.Error())
	match := peekID.FindSubmatch(e.Peek)
	if match == nil {
		return
	}
	id := json.RawMessage(match[1])
	err := ErrorOf(CodeMessageTooLarge, e.Error(), map[string]any{"bytes": e.Length, "limit": e.Limit})
	if peekMethod.Match(e.Peek) {
		p.send(mustMarshal(outMessage{JSONRPC: "2.0", ID: id, Error: err}))
		return
	}
	errJSON := mustMarshal(err)
	p.receiveResponse(&wireMessage{ID: id, Error: errJSON})
}

func (p *Peer) send(body []byte) {
	if body == nil || p.isClosed() {
		return
	}
	if err := p.writer.WriteFrame(body); err != nil {
		p.Close(fmt.Errorf("write error: %w", err))
	}
}

func mustMarshal(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

type notification struct {
	method string
	params json.RawMessage
}

// notificationQueue is an unbounded FIFO: the reader never blocks on a slow notification handler (which may be
// waiting for the answer to a request of its own, an answer only the reader can deliver).
type notificationQueue struct {
	mu    sync.Mutex
	items []notification
	ready chan struct{}
}

func (q *notificationQueue) init() { q.ready = make(chan struct{}, 1) }

func (q *notificationQueue) push(n notification) {
	q.mu.Lock()
	q.items = append(q.items, n)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *notificationQueue) run(done <-chan struct{}, handle func(notification)) {
	for {
		select {
		case <-done:
			return
		case <-q.ready:
		}
		for {
			q.mu.Lock()
			if len(q.items) == 0 {
				q.mu.Unlock()
				break
			}
			n := q.items[0]
			q.items[0] = notification{}
			q.items = q.items[1:]
			q.mu.Unlock()
			select {
			case <-done:
				return
			default:
			}
			handle(n)
		}
	}
}
