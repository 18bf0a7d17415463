package plugd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

func frame(body string) string { return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body) }

// readAll reads every frame from r, recording garbage, until the stream ends.
func readAll(t *testing.T, r io.Reader, limit int) (frames []string, garbage []string, err error) {
	t.Helper()
	fr := NewFrameReader(r)
	fr.MaxMessageBytes = limit
	fr.OnGarbage = func(b []byte) { garbage = append(garbage, string(b)) }
	for {
		body, e := fr.ReadFrame()
		var big *OversizeError
		if errors.As(e, &big) {
			frames = append(frames, fmt.Sprintf("<oversize %d peek=%s>", big.Length, big.Peek))
			continue
		}
		if e != nil {
			return frames, garbage, e
		}
		frames = append(frames, string(body))
	}
}

func expectFrames(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames %q, want %d %q", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestFrameReaderBasics(t *testing.T) {
	a, b := `{"jsonrpc":"2.0","id":1,"method":"plugin/health"}`, `{"jsonrpc":"2.0","method":"x","params":[1,2]}`
	cases := []struct {
		name string
		in   string
		want []string
	}{
		{"one", frame(a), []string{a}},
		{"coalesced", frame(a) + frame(b) + frame(a), []string{a, b, a}},
		{"lower-case header", "content-length: 2\r\n\r\n{}", []string{"{}"}},
		{"upper-case header", "CONTENT-LENGTH: 2\r\n\r\n{}", []string{"{}"}},
		{"extra header after", "Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}", []string{"{}"}},
		{"extra header before", "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", []string{"{}"}},
		{"no space after colon", "Content-Length:2\r\n\r\n{}", []string{"{}"}},
		{"empty body", "Content-Length: 0\r\n\r\n" + frame("{}"), []string{"", "{}"}},
		{"body with newlines", frame("{\r\n\"a\":\r\n1}\n") + frame("{}"), []string{"{\r\n\"a\":\r\n1}\n", "{}"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, garbage, err := readAll(t, strings.NewReader(c.in), 0)
			if err != io.EOF {
				t.Fatalf("err = %v, want EOF", err)
			}
			expectFrames(t, got, c.want...)
			if len(garbage) != 0 {
				t.Fatalf("unexpected garbage %q", garbage)
			}
			// The same bytes one at a time: split anywhere, including inside the header and the body.
			got, _, err = readAll(t, iotest.OneByteReader(strings.NewReader(c.in)), 0)
			if err != io.EOF {
				t.Fatalf("one byte at a time: err = %v", err)
			}
			expectFrames(t, got, c.want...)
		})
	}
}

func TestFrameReaderUTF8Length(t *testing.T) {
	body := `{"text":"héllo wörld — 你好 🌍"}`
	if len(body) == len([]rune(body)) {
		t.Fatal("test body should have multi-byte characters")
	}
	in := fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body) + frame(`{"next":true}`)
	got, _, err := readAll(t, iotest.HalfReader(strings.NewReader(in)), 0)
	if err != io.EOF {
		t.Fatal(err)
	}
	expectFrames(t, got, body, `{"next":true}`)
}

func TestFrameReaderSplitReads(t *testing.T) {
	// A reader that returns the stream in the chunks given, as a pipe would.
	body := `{"jsonrpc":"2.0","id":7,"result":{"output":"ü"}}`
	whole := frame(body) + frame("{}")
	for cut := 1; cut < len(whole); cut++ {
		r := io.MultiReader(strings.NewReader(whole[:cut]), strings.NewReader(whole[cut:]))
		got, garbage, err := readAll(t, r, 0)
		if err != io.EOF || len(garbage) != 0 {
			t.Fatalf("cut %d: err %v garbage %q", cut, err, garbage)
		}
		expectFrames(t, got, body, "{}")
	}
}

func TestFrameReaderResync(t *testing.T) {
	ok := `{"ok":true}`
	cases := []struct {
		name    string
		in      string
		garbage string
	}{
		{"printed line before", "noise to stdout\n" + frame(ok), "noise to stdout\n"},
		{"text without newline before the header", "abc" + frame(ok), "abc"},
		{"lines with CRLF", "hello\r\n\r\n" + frame(ok), "hello\r\n\r\n"},
		{"Content- that is not a header", "Content-free text\n" + frame(ok), "Content-free text\n"},
		{"header block without length", "Content-Type: x\r\n\r\n" + frame(ok), "Content-Type: x\r\n\r\n"},
		{"bad length", "Content-Length: abc\r\n\r\n" + frame(ok), "Content-Length: abc\r\n\r\n"},
		{"negative length", "Content-Length: -5\r\n\r\n" + frame(ok), "Content-Length: -5\r\n\r\n"},
		{"broken header block", "Content-Length: 5\r\nnot a header\n" + frame(ok), "Content-Length: 5\r\nnot a header\n"},
		{"json printed to stdout", `{"jsonrpc":"2.0"}` + "\n" + frame(ok), `{"jsonrpc":"2.0"}` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(c.in), iotest.OneByteReader(strings.NewReader(c.in))} {
				got, garbage, err := readAll(t, r, 0)
				if err != io.EOF {
					t.Fatalf("err = %v", err)
				}
				expectFrames(t, got, ok)
				if strings.Join(garbage, "") != c.garbage {
					t.Fatalf("garbage %q, want %q", strings.Join(garbage, ""), c.garbage)
				}
			}
		})
	}
}

func TestFrameReaderLongGarbage(t *testing.T) {
	ok := `{"ok":true}`
	long := strings.Repeat("x", 200_000) // no newline at all, longer than the read buffer
	for _, tail := range []string{"", "Con", "Content-"} {
		in := long + tail + frame(ok)
		if tail == "Content-" {
			in = long + "Content-" + frame(ok)
		}
		got, garbage, err := readAll(t, strings.NewReader(in), 0)
		if err != io.EOF {
			t.Fatal(err)
		}
		expectFrames(t, got, ok)
		total := len(strings.Join(garbage, ""))
		if total != len(long)+len(tail) {
			t.Fatalf("tail %q: %d garbage bytes, want %d", tail, total, len(long)+len(tail))
		}
	}
}

func TestFrameReaderOversize(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":3,"method":"plugin/invoke","params":{"data":"` + strings.Repeat("a", 5000) + `"}}`
	got, _, err := readAll(t, iotest.HalfReader(strings.NewReader(frame(big)+frame("{}"))), 1000)
	if err != io.EOF {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], fmt.Sprintf("<oversize %d peek={\"jsonrpc\":\"2.0\",\"id\":3", len(big))) || got[1] != "{}" {
		t.Fatalf("got %q", got)
	}
}

func TestFrameReaderEOF(t *testing.T) {
	cases := map[string]error{
		"":                                 io.EOF,
		frame("{}"):                        io.EOF,
		"Content-Length: 10\r\n\r\n{\"a\"": io.ErrUnexpectedEOF,
		"Content-Length: 10\r\n":           io.ErrUnexpectedEOF,
		"trailing noise":                   io.EOF,
	}
	for in, want := range cases {
		_, _, err := readAll(t, strings.NewReader(in), 0)
		if err != want {
			t.Errorf("%q: err = %v, want %v", in, err, want)
		}
	}
}

type countingWriter struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func TestFrameWriter(t *testing.T) {
	w := &countingWriter{}
	fw := NewFrameWriter(w)
	small := `{"a":"ü"}`
	big := `"` + strings.Repeat("b", 3*bufferSize) + `"`
	if err := fw.WriteFrame([]byte(small)); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Fatalf("a lone message must be flushed at once: %d writes", w.writes)
	}
	if err := fw.WriteFrame([]byte(big)); err != nil {
		t.Fatal(err)
	}
	if w.writes != 2 {
		t.Fatalf("a message bigger than the buffer must go out in one write: %d writes", w.writes)
	}
	if err := fw.WriteFrames([]byte(small), []byte(small), []byte(small)); err != nil {
		t.Fatal(err)
	}
	if w.writes != 3 {
		t.Fatalf("a batch must go out in one write: %d writes", w.writes)
	}
	got, _, err := readAll(t, bytes.NewReader(w.buf.Bytes()), 0)
	if err != io.EOF {
		t.Fatal(err)
	}
	expectFrames(t, got, small, big, small, small, small)
}

func TestFrameWriterConcurrent(t *testing.T) {
	w := &countingWriter{}
	fw := NewFrameWriter(w)
	var wg sync.WaitGroup
	const n, each = 16, 200
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := fw.WriteFrame([]byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	got, garbage, err := readAll(t, bytes.NewReader(w.buf.Bytes()), 0)
	if err != io.EOF || len(garbage) != 0 || len(got) != n*each {
		t.Fatalf("err %v, %d garbage, %d frames", err, len(garbage), len(got))
	}
	t.Logf("%d messages in %d writes", n*each, w.writes)
}
