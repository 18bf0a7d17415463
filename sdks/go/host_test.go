package plugd

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"
)

// fakeHost plays the host against a plugin served with ServeIO over pipes, at the byte level.
type fakeHost struct {
	t      *testing.T
	in     *io.PipeWriter // the plugin's stdin
	out    *io.PipeReader // the plugin's stdout
	fw     *FrameWriter
	msgs   chan map[string]any
	raw    chan string
	exit   chan int
	queued []map[string]any
}

func startPlugin(t *testing.T, p *Plugin) *fakeHost {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &fakeHost{t: t, in: inW, out: outR, fw: NewFrameWriter(inW), msgs: make(chan map[string]any, 1000),
		raw: make(chan string, 1000), exit: make(chan int, 1)}
	go func() {
		h.exit <- p.ServeIO(inR, outW)
		outW.Close()
	}()
	go func() {
		fr := NewFrameReader(outR)
		for {
			body, err := fr.ReadFrame()
			if err != nil {
				close(h.msgs)
				return
			}
			h.raw <- string(body)
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				// A batch answer.
				var arr []any
				if json.Unmarshal(body, &arr) != nil {
					t.Errorf("plugin wrote a frame that is not JSON: %q", body)
				}
				m = map[string]any{"batch": arr}
			}
			h.msgs <- m
		}
	}()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	return h
}

func (h *fakeHost) sendRaw(body string) {
	h.t.Helper()
	if err := h.fw.WriteFrame([]byte(body)); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

func (h *fakeHost) send(msg map[string]any) {
	h.t.Helper()
	msg["jsonrpc"] = "2.0"
	b, err := json.Marshal(msg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.sendRaw(string(b))
}

func (h *fakeHost) request(id any, method string, params any) {
	h.t.Helper()
	m := map[string]any{"id": id, "method": method}
	if params != nil {
		m["params"] = params
	}
	h.send(m)
}

func (h *fakeHost) notify(method string, params any) {
	h.t.Helper()
	h.send(map[string]any{"method": method, "params": params})
}

// next returns the next message from the plugin (first any that were set aside by waitFor).
func (h *fakeHost) next(timeout time.Duration) map[string]any {
	h.t.Helper()
	if len(h.queued) > 0 {
		m := h.queued[0]
		h.queued = h.queued[1:]
		return m
	}
	select {
	case m, ok := <-h.msgs:
		if !ok {
			h.t.Fatal("the plugin closed its stdout")
		}
		return m
	case <-time.After(timeout):
		h.t.Fatalf("no message from the plugin within %v", timeout)
		return nil
	}
}

// response waits for the answer to request id, returning the messages (notifications, requests) seen before it.
func (h *fakeHost) response(id any) (res map[string]any, before []map[string]any) {
	h.t.Helper()
	want := fmt.Sprint(id)
	for {
		m := h.next(5 * time.Second)
		if _, isReq := m["method"]; !isReq && fmt.Sprint(m["id"]) == want {
			return m, before
		}
		before = append(before, m)
	}
}

// waitFor returns the first message matching ok, setting the others aside for later.
func (h *fakeHost) waitFor(ok func(map[string]any) bool) map[string]any {
	h.t.Helper()
	for i, m := range h.queued {
		if ok(m) {
			h.queued = append(h.queued[:i:i], h.queued[i+1:]...)
			return m
		}
	}
	var skipped []map[string]any
	defer func() { h.queued = append(h.queued, skipped...) }()
	for {
		var m map[string]any
		select {
		case m = <-h.msgs:
		case <-time.After(5 * time.Second):
			h.t.Fatal("timed out waiting for a message")
		}
		if m == nil {
			h.t.Fatal("the plugin closed its stdout")
		}
		if ok(m) {
			return m
		}
		skipped = append(skipped, m)
	}
}

func (h *fakeHost) call(id any, method string, params any) map[string]any {
	h.t.Helper()
	h.request(id, method, params)
	res, _ := h.response(id)
	return res
}

func (h *fakeHost) handshake() map[string]any {
	h.t.Helper()
	res := h.call(0, MethodHandshake, map[string]any{
		"protocolVersion": "1.0", "host": map[string]any{"name": "test", "version": "0"},
		"plugin": map[string]any{"id": "test-plugin", "config": map[string]any{"greeting": "Hi"}}, "supportsReverseRpc": true,
	})
	if res["error"] != nil {
		h.t.Fatalf("handshake failed: %v", res["error"])
	}
	return res["result"].(map[string]any)
}

func (h *fakeHost) invoke(id any, entry string, input any) map[string]any {
	h.t.Helper()
	return h.call(id, MethodInvoke, map[string]any{"runId": fmt.Sprintf("r-%v", id), "entry": entry, "input": input})
}

func (h *fakeHost) waitExit(within time.Duration) int {
	h.t.Helper()
	select {
	case code := <-h.exit:
		return code
	case <-time.After(within):
		h.t.Fatalf("ServeIO did not return within %v", within)
		return -1
	}
}

func errorOf(t *testing.T, res map[string]any) (code int, message, symbol string) {
	t.Helper()
	e, ok := res["error"].(map[string]any)
	if !ok {
		t.Fatalf("expected an error, got %v", res)
	}
	if d, ok := e["data"].(map[string]any); ok {
		symbol, _ = d["code"].(string)
	}
	return int(e["code"].(float64)), e["message"].(string), symbol
}

func resultOf(t *testing.T, res map[string]any) any {
	t.Helper()
	if res["error"] != nil {
		t.Fatalf("expected a result, got error %v", res["error"])
	}
	r, ok := res["result"]
	if !ok {
		t.Fatalf("no result in %v", res)
	}
	return r
}

func outputOf(t *testing.T, res map[string]any) any {
	t.Helper()
	return resultOf(t, res).(map[string]any)["output"]
}

func jsonEq(t *testing.T, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("got %s, want %s", gb, wb)
	}
}
