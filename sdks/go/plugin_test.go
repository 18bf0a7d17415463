package plugd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("PLUGD_TEST_CHILD") == "1" && childMain != nil {
		os.Exit(childMain())
	}
	// Protocol warnings (expected in these tests) go to the log only with -v.
	flag.Parse()
	if !testing.Verbose() {
		Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	os.Exit(m.Run())
}

// childMain is the plugin serve_test.go runs as a process (set there, on the platforms it supports).
var childMain func() int

type greetIn struct {
	Name string `json:"name"`
}

type greetOut struct {
	Greeting string `json:"greeting"`
}

type testPlugin struct {
	*Plugin
	shutdownHook atomic.Bool
	events       chan string
	blocked      chan struct{}
}

func newTestPlugin() *testPlugin {
	tp := &testPlugin{Plugin: New("test-plugin", "1.2.3"), events: make(chan string, 10), blocked: make(chan struct{})}
	p := tp.Plugin
	p.Entry("echo", EntrySpec{Description: "Returns its input", InputSchema: Schema{"type": "object"}},
		func(ctx context.Context, run *Run, input json.RawMessage) (any, error) { return input, nil })
	p.Entry("greet", EntrySpec{Timeout: 3 * time.Second}, Typed(func(ctx context.Context, run *Run, in greetIn) (greetOut, error) {
		prefix, _ := run.Config()["greeting"].(string)
		return greetOut{Greeting: prefix + ", " + in.Name + "!"}, nil
	}))
	p.Entry("progress", EntrySpec{Streaming: true}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		for i := 1; i <= 3; i++ {
			if err := run.Progress(Progress{Progress: float64(i) / 3, Step: i, StepTotal: 3, Message: fmt.Sprintf("step %d", i)}); err != nil {
				return nil, err
			}
		}
		run.Output("done\n")
		run.ExportText("t", "hello")
		run.ExportJSON("j", map[string]any{"a": 1})
		run.ExportBinary("b", []byte{1, 2, 3}, WithMime("application/x-test"))
		run.Log(LevelInfo, "hello log", map[string]any{"n": 1})
		run.Logger().Warn("via slog", "k", "v")
		return map[string]any{"steps": 3}, nil
	})
	p.Entry("fail", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		var in struct{ Code, Message string }
		json.Unmarshal(input, &in)
		if in.Code == "" {
			return nil, errors.New(in.Message)
		}
		return nil, NewError(in.Code, in.Message, nil)
	})
	p.Entry("panic", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		panic("oops")
	})
	p.Entry("slow", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		var in struct{ Ms int }
		json.Unmarshal(input, &in)
		select {
		case <-time.After(time.Duration(in.Ms) * time.Millisecond):
			return map[string]any{"slept": in.Ms}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	p.Entry("stubborn", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		<-tp.blocked // ignores its context on purpose
		return nil, nil
	})
	p.Entry("call", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		var in struct {
			Plugin, Entry string
			Input         any
		}
		json.Unmarshal(input, &in)
		res, err := run.Call(ctx, in.Plugin, in.Entry, in.Input)
		if err != nil {
			return nil, err
		}
		return map[string]any{"result": res}, nil
	})
	p.OnShutdown(func(ctx context.Context) error { tp.shutdownHook.Store(true); return nil })
	p.OnEvent("Ping", func(ctx context.Context, ev Event) error {
		tp.events <- "Ping:" + string(ev.Payload)
		return nil
	})
	p.OnConfigChanged(func(ctx context.Context, cfg map[string]any) error {
		tp.events <- fmt.Sprintf("config:%v", cfg["greeting"])
		return nil
	})
	return tp
}

func TestHandshake(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	res := h.handshake()
	if res["protocolVersion"] != "1.0" || res["name"] != "test-plugin" || res["version"] != "1.2.3" {
		t.Fatalf("handshake result %v", res)
	}
	jsonEq(t, res["sdk"], `{"name":"plugd-go","version":"0.1.0"}`)
	entries := res["entries"].([]any)
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	if strings.Join(ids, ",") != "echo,greet,progress,fail,panic,slow,stubborn,call" {
		t.Fatalf("entries %v", ids)
	}
	jsonEq(t, entries[0], `{"id":"echo","description":"Returns its input","inputSchema":{"type":"object"}}`)
	jsonEq(t, entries[1], `{"id":"greet","timeoutMs":3000}`)
	jsonEq(t, entries[2], `{"id":"progress","streaming":true}`)
	jsonEq(t, res["events"], `["Ping"]`)
	// The same list as every plugd SDK (packages/sdk/src/runtime.ts).
	jsonEq(t, res["capabilities"], `["cancel","progress","output","export","log","reverse-rpc"]`)
}

func TestHandshakeVersionMismatch(t *testing.T) {
	for _, v := range []string{"2.0", "0.9", "one", ""} {
		h := startPlugin(t, newTestPlugin().Plugin)
		res := h.call(1, MethodHandshake, map[string]any{"protocolVersion": v, "plugin": map[string]any{"id": "x"}})
		code, msg, sym := errorOf(t, res)
		if code != CodeVersionMismatch || sym != "VERSION_MISMATCH" {
			t.Fatalf("version %q: got %d %s %q", v, code, sym, msg)
		}
	}
	h := startPlugin(t, newTestPlugin().Plugin)
	res := h.call(1, MethodHandshake, map[string]any{"protocolVersion": "1.7"})
	resultOf(t, res)
}

func TestStartupHookError(t *testing.T) {
	p := New("x", "1")
	p.OnStartup(func(ctx context.Context, cfg map[string]any) error {
		if cfg["token"] == nil {
			return NewError("NO_TOKEN", "token is not configured", nil)
		}
		return nil
	})
	h := startPlugin(t, p)
	res := h.call(1, MethodHandshake, map[string]any{"protocolVersion": "1.0", "plugin": map[string]any{"id": "x", "config": map[string]any{}}})
	if code, _, sym := errorOf(t, res); code != CodeEntryFailed || sym != "NO_TOKEN" {
		t.Fatalf("got %d %s", code, sym)
	}
}

func TestInvoke(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()

	h.request(2, MethodInvoke, map[string]any{"runId": "r-2", "entry": "echo", "input": map[string]any{"a": []any{1, "ü", nil}, "b": "<&>"}})
	res, _ := h.response(2)
	jsonEq(t, outputOf(t, res), `{"a":[1,"ü",null],"b":"<&>"}`)

	res = h.invoke(3, "greet", map[string]any{"name": "Ada"})
	jsonEq(t, outputOf(t, res), `{"greeting":"Hi, Ada!"}`)

	res = h.invoke(4, "greet", map[string]any{"name": 42})
	if code, _, sym := errorOf(t, res); code != CodeInvalidInput || sym != "INVALID_INPUT" {
		t.Fatalf("typed input error: %d %s", code, sym)
	}

	res = h.invoke(5, "nope", map[string]any{})
	if code, msg, sym := errorOf(t, res); code != CodeEntryNotFound || sym != "ENTRY_NOT_FOUND" || !strings.Contains(msg, "nope") {
		t.Fatalf("unknown entry: %d %s %s", code, sym, msg)
	}
}

func TestEchoKeepsBytes(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()
	h.sendRaw(`{"jsonrpc":"2.0","id":"e1","method":"plugin/invoke","params":{"runId":"r","entry":"echo","input":{"z":1,"a":{"y":2.50,"x":"\u00e9<"}}}}`)
	for {
		raw := <-h.raw
		if strings.Contains(raw, `"e1"`) {
			if raw != `{"jsonrpc":"2.0","id":"e1","result":{"output":{"z":1,"a":{"y":2.50,"x":"\u00e9<"}}}}` {
				t.Fatalf("echo answer %s", raw)
			}
			return
		}
	}
}

func TestProgressOutputExportLog(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()
	h.request(10, MethodInvoke, map[string]any{"runId": "r-10", "entry": "progress", "input": map[string]any{}})
	res, before := h.response(10)
	jsonEq(t, outputOf(t, res), `{"steps":3}`)
	var methods []string
	for _, m := range before {
		methods = append(methods, m["method"].(string))
		if m["params"].(map[string]any)["runId"] != "r-10" {
			t.Fatalf("notification without the run id: %v", m)
		}
	}
	want := "run/progress,run/progress,run/progress,run/output,run/export,run/export,run/export,plugin/log,plugin/log"
	if strings.Join(methods, ",") != want {
		t.Fatalf("notifications %v", methods)
	}
	jsonEq(t, before[0]["params"], `{"runId":"r-10","progress":0.3333333333333333,"message":"step 1","step":1,"stepTotal":3}`)
	jsonEq(t, before[2]["params"], `{"runId":"r-10","progress":1,"message":"step 3","step":3,"stepTotal":3}`)
	jsonEq(t, before[3]["params"], `{"runId":"r-10","chunk":"done\n"}`)
	jsonEq(t, before[4]["params"], `{"runId":"r-10","type":"text","label":"t","data":"hello"}`)
	jsonEq(t, before[5]["params"], `{"runId":"r-10","type":"json","label":"j","data":{"a":1}}`)
	jsonEq(t, before[6]["params"], `{"runId":"r-10","type":"binary","label":"b","mime":"application/x-test","data":"AQID"}`)
	jsonEq(t, before[7]["params"], `{"level":"info","msg":"hello log","runId":"r-10","fields":{"n":1}}`)
	jsonEq(t, before[8]["params"], `{"level":"warn","msg":"via slog","runId":"r-10","fields":{"k":"v"}}`)
}

func TestErrors(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()

	res := h.invoke(1, "fail", map[string]any{"code": "MY_CODE", "message": "boom"})
	jsonEq(t, res["error"], `{"code":1013,"message":"boom","data":{"code":"MY_CODE"}}`)

	res = h.invoke(2, "fail", map[string]any{"message": "plain"})
	jsonEq(t, res["error"], `{"code":1013,"message":"plain","data":{"code":"ENTRY_FAILED"}}`)

	res = h.invoke(3, "panic", map[string]any{})
	if code, msg, _ := errorOf(t, res); code != CodeInternalError || !strings.Contains(msg, "oops") {
		t.Fatalf("panic: %d %s", code, msg)
	}

	res = h.call(4, "no/such/method", nil)
	if code, _, _ := errorOf(t, res); code != CodeMethodNotFound {
		t.Fatalf("unknown method: %d", code)
	}

	h.sendRaw(`{"jsonrpc":"2.0","id":5,"method":`)
	m := h.next(time.Second)
	jsonEq(t, m["id"], `null`)
	if code, _, _ := errorOf(t, m); code != CodeParseError {
		t.Fatalf("parse error: %v", m)
	}

	for _, body := range []string{`42`, `"x"`, `{"id":6,"method":"plugin/health"}`, `{"jsonrpc":"2.0","id":{},"method":"plugin/health"}`, `{"jsonrpc":"2.0","id":7,"method":5}`, `{"jsonrpc":"2.0","id":8}`} {
		h.sendRaw(body)
		m := h.next(time.Second)
		if code, _, _ := errorOf(t, m); code != CodeInvalidRequest {
			t.Fatalf("%s: %v", body, m)
		}
	}
	// A malformed response is not answered (no ping-pong); the next request still works.
	h.sendRaw(`{"id":99,"result":1}`)
	jsonEq(t, resultOf(t, h.call(9, MethodHealth, nil)), `{"status":"ok"}`)
}

func TestBatch(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()
	h.sendRaw(`[{"jsonrpc":"2.0","id":1,"method":"plugin/health"},{"jsonrpc":"2.0","method":"plugin/configChanged","params":{"config":{}}},{"jsonrpc":"2.0","id":2,"method":"plugin/invoke","params":{"runId":"r","entry":"echo","input":{"x":1}}},5]`)
	m := h.waitFor(func(m map[string]any) bool { return m["batch"] != nil })
	arr := m["batch"].([]any)
	if len(arr) != 3 {
		t.Fatalf("batch answer %v", arr)
	}
	h.sendRaw(`[]`)
	m = h.next(time.Second)
	if code, _, _ := errorOf(t, m); code != CodeInvalidRequest {
		t.Fatalf("empty batch: %v", m)
	}
}

func TestHealth(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()
	jsonEq(t, resultOf(t, h.call(1, MethodHealth, nil)), `{"status":"ok"}`)

	p := New("x", "1")
	p.OnHealth(func(ctx context.Context) error { return errors.New("db down") })
	h = startPlugin(t, p)
	jsonEq(t, resultOf(t, h.call(1, MethodHealth, map[string]any{})), `{"status":"degraded","details":{"error":"db down"}}`)
}

func TestCancel(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()
	h.request(7, MethodInvoke, map[string]any{"runId": "r-7", "entry": "slow", "input": map[string]any{"ms": 10000}})
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	h.notify(MethodCancelRequest, map[string]any{"id": 7})
	res, _ := h.response(7)
	if code, _, sym := errorOf(t, res); code != CodeCancelled || sym != "CANCELLED" {
		t.Fatalf("got %d %s", code, sym)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// A cancel for a string id, and one for an id that is not running, are harmless.
	h.request("s-1", MethodInvoke, map[string]any{"runId": "r-s", "entry": "slow", "input": map[string]any{"ms": 10000}})
	h.notify(MethodCancelRequest, map[string]any{"id": 12345})
	h.notify(MethodCancelRequest, map[string]any{"id": "s-1"})
	res, _ = h.response("s-1")
	if code, _, _ := errorOf(t, res); code != CodeCancelled {
		t.Fatalf("string id: %d", code)
	}
}

func TestConcurrentInvokes(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()
	start := time.Now()
	for i := 1; i <= 10; i++ {
		h.request(i, MethodInvoke, map[string]any{"runId": fmt.Sprint(i), "entry": "slow", "input": map[string]any{"ms": 200}})
	}
	seen := map[string]bool{}
	for len(seen) < 10 {
		m := h.next(5 * time.Second)
		jsonEq(t, outputOf(t, m), `{"slept":200}`)
		seen[fmt.Sprint(m["id"])] = true
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("10 invokes of 200 ms took %v: not concurrent", d)
	}
}

func TestReverseCall(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()
	h.request(3, MethodInvoke, map[string]any{"runId": "r-3", "entry": "call", "input": map[string]any{"plugin": "weather", "entry": "today", "input": map[string]any{"city": "Oslo"}}})
	req := h.waitFor(func(m map[string]any) bool { return m["method"] == MethodCall })
	jsonEq(t, req["params"], `{"plugin":"weather","entry":"today","input":{"city":"Oslo"},"parentRunId":"r-3"}`)
	h.send(map[string]any{"id": req["id"], "result": map[string]any{"temp": 3}})
	res, _ := h.response(3)
	jsonEq(t, outputOf(t, res), `{"result":{"temp":3}}`)

	// The host's error reaches the entry as *Error and, returned as is, the caller keeps its code.
	h.request(4, MethodInvoke, map[string]any{"runId": "r-4", "entry": "call", "input": map[string]any{"plugin": "x", "entry": "y"}})
	req = h.waitFor(func(m map[string]any) bool { return m["method"] == MethodCall })
	jsonEq(t, req["params"].(map[string]any)["input"], `{}`)
	h.send(map[string]any{"id": req["id"], "error": map[string]any{"code": 1010, "message": "not allowed", "data": map[string]any{"code": "PERMISSION_DENIED"}}})
	res, _ = h.response(4)
	if code, msg, sym := errorOf(t, res); code != CodePermissionDenied || sym != "PERMISSION_DENIED" || msg != "not allowed" {
		t.Fatalf("got %d %s %s", code, sym, msg)
	}

	// Cancelling the run while it waits for the host cancels the reverse call too.
	h.request(5, MethodInvoke, map[string]any{"runId": "r-5", "entry": "call", "input": map[string]any{"plugin": "x", "entry": "y"}})
	req = h.waitFor(func(m map[string]any) bool { return m["method"] == MethodCall })
	h.notify(MethodCancelRequest, map[string]any{"id": 5})
	cancel := h.waitFor(func(m map[string]any) bool { return m["method"] == MethodCancelRequest })
	jsonEq(t, cancel["params"], fmt.Sprintf(`{"id":%v}`, req["id"]))
	res, _ = h.response(5)
	if code, _, _ := errorOf(t, res); code != CodeCancelled {
		t.Fatalf("got %d", code)
	}
	// A late answer to the cancelled call is ignored.
	h.send(map[string]any{"id": req["id"], "result": 1})
	jsonEq(t, resultOf(t, h.call(6, MethodHealth, nil)), `{"status":"ok"}`)
}

func TestEventsAndConfig(t *testing.T) {
	tp := newTestPlugin()
	h := startPlugin(t, tp.Plugin)
	h.handshake()
	h.notify(MethodOnEvent, map[string]any{"eventType": "Ping", "payload": map[string]any{"n": 1}, "timestamp": 1767000000000})
	h.notify(MethodOnEvent, map[string]any{"eventType": "Other", "payload": nil, "timestamp": 1})
	h.notify(MethodConfigChanged, map[string]any{"config": map[string]any{"greeting": "Hello"}})
	for _, want := range []string{`Ping:{"n":1}`, "config:Hello"} {
		select {
		case got := <-tp.events:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	res := h.invoke(2, "greet", map[string]any{"name": "Bo"})
	jsonEq(t, outputOf(t, res), `{"greeting":"Hello, Bo!"}`)
}

func TestShutdown(t *testing.T) {
	tp := newTestPlugin()
	h := startPlugin(t, tp.Plugin)
	h.handshake()
	start := time.Now()
	res := h.call(1, MethodShutdown, map[string]any{})
	jsonEq(t, resultOf(t, res), `{}`)
	if code := h.waitExit(time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if !tp.shutdownHook.Load() {
		t.Fatal("the shutdown hook did not run")
	}
	t.Logf("shutdown took %v", time.Since(start))
}

func TestEOFExitsWithHandlerRunning(t *testing.T) {
	tp := newTestPlugin()
	defer close(tp.blocked)
	h := startPlugin(t, tp.Plugin)
	h.handshake()
	h.request(1, MethodInvoke, map[string]any{"runId": "r", "entry": "stubborn", "input": map[string]any{}})
	h.request(2, MethodInvoke, map[string]any{"runId": "r2", "entry": "slow", "input": map[string]any{"ms": 60000}})
	time.Sleep(50 * time.Millisecond)
	h.in.Close()
	if code := h.waitExit(time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestOversizeRequest(t *testing.T) {
	p := newTestPlugin().Plugin
	p.SetMaxMessageBytes(1000)
	p.Entry("big", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		return strings.Repeat("z", 2000), nil
	})
	h := startPlugin(t, p)
	h.handshake()
	res := h.invoke(2, "echo", map[string]any{"big": strings.Repeat("x", 2000)})
	if code, _, sym := errorOf(t, res); code != CodeMessageTooLarge || sym != "MESSAGE_TOO_LARGE" {
		t.Fatalf("got %d %s", code, sym)
	}
	// An answer too large to send becomes a MESSAGE_TOO_LARGE error instead.
	res = h.invoke(3, "big", map[string]any{})
	if code, _, _ := errorOf(t, res); code != CodeMessageTooLarge {
		t.Fatalf("got %d", code)
	}
	jsonEq(t, resultOf(t, h.call(4, MethodHealth, nil)), `{"status":"ok"}`)
}

func TestGarbageFromHostIsSkipped(t *testing.T) {
	h := startPlugin(t, newTestPlugin().Plugin)
	h.handshake()
	h.in.Write([]byte("some noise\r\n\r\n"))
	jsonEq(t, resultOf(t, h.call(1, MethodHealth, nil)), `{"status":"ok"}`)
}

func TestPeerRequestFromBothSides(t *testing.T) {
	// Two peers back to back: requests, notifications and cancellation in both directions.
	aR, bW := io.Pipe()
	bR, aW := io.Pipe()
	a := NewPeer(aR, aW, nil)
	b := NewPeer(bR, bW, nil)
	var notes sync.WaitGroup
	notes.Add(1)
	b.HandleNotification("hello", func(params json.RawMessage) { notes.Done() })
	b.Handle("add", func(ctx context.Context, params json.RawMessage) (any, error) {
		var xs []int
		json.Unmarshal(params, &xs)
		return xs[0] + xs[1], nil
	})
	b.Handle("wait", func(ctx context.Context, params json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	go a.Run()
	go b.Run()
	res, err := a.Request(context.Background(), "add", []int{2, 3})
	if err != nil || string(res) != "5" {
		t.Fatalf("add: %s %v", res, err)
	}
	a.Notify("hello", nil)
	notes.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = a.Request(ctx, "wait", nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait: %v", err)
	}
	_, err = a.Request(context.Background(), "missing", nil)
	if !errors.As(err, &e) || e.Code != CodeMethodNotFound {
		t.Fatalf("missing: %v", err)
	}
	// Closing b's input makes a's pending requests fail with CONNECTION_CLOSED.
	done := make(chan error, 1)
	go func() { _, err := a.Request(context.Background(), "wait", nil); done <- err }()
	time.Sleep(20 * time.Millisecond)
	aW.Close() // b's input ends: b closes, and cancels its "wait" handler (its answer is not sent)
	bW.Close() // a's input ends
	select {
	case err := <-done:
		if !errors.As(err, &e) || e.Code != CodeConnectionClosed {
			t.Fatalf("after close: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("pending request not failed on close")
	}
}

func TestEOFStillAnswersWhatFinishes(t *testing.T) {
	// Requests piped in followed by EOF: the answers of handlers that return promptly are still written.
	h := startPlugin(t, newTestPlugin().Plugin)
	h.request(1, MethodHandshake, map[string]any{"protocolVersion": "1.0"})
	h.request(2, MethodInvoke, map[string]any{"runId": "r", "entry": "slow", "input": map[string]any{"ms": 60000}})
	h.in.Close()
	// Both handlers finish during the drain, in either order: wait for each answer, setting the other aside.
	answer := func(id string) func(map[string]any) bool {
		return func(m map[string]any) bool { _, isReq := m["method"]; return !isReq && fmt.Sprint(m["id"]) == id }
	}
	resultOf(t, h.waitFor(answer("1")))
	res := h.waitFor(answer("2"))
	if code, _, _ := errorOf(t, res); code != CodeCancelled {
		t.Fatalf("got %d", code)
	}
	if code := h.waitExit(time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
