//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package plugd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childPlugin is the plugin the tests below run as a real process (the test binary, re-executed).
func init() { childMain = childPlugin }

func childPlugin() int {
	p := New("child", "0.0.1")
	p.Entry("noise", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		fmt.Println("noise to stdout")
		os.Stdout.WriteString("more noise\n")
		return map[string]any{"ok": true}, nil
	})
	p.Entry("shell", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		// Writes to fd 1 itself (C code, a child process inheriting it) must not reach the protocol either.
		syscall.Write(1, []byte("raw write to fd 1\n"))
		cmd := exec.Command("sh", "-c", "echo from a child process")
		cmd.Stdout = os.NewFile(1, "fd1")
		return nil, cmd.Run()
	})
	p.Entry("block", EntrySpec{}, func(ctx context.Context, run *Run, input json.RawMessage) (any, error) {
		select {} // never returns, ignores its context
	})
	fmt.Println("printed before Serve")
	return p.Serve()
}

type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	frames *FrameReader
	stderr *bytes.Buffer
	done   chan error
}

func startChild(t *testing.T) *child {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// GORACE: a -race binary otherwise sleeps 1 s before exiting.
	cmd.Env = append(os.Environ(), "PLUGD_TEST_CHILD=1", "GORACE=atexit_sleep_ms=0")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	c := &child{cmd: cmd, stdin: stdin, frames: NewFrameReader(stdout), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = c.stderr
	var garbage []string
	c.frames.OnGarbage = func(b []byte) { garbage = append(garbage, string(b)) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		// Only what was printed before Serve took stdout over reaches it (and is skipped as noise).
		if strings.Join(garbage, "") != "printed before Serve\n" {
			t.Errorf("the plugin wrote non-frames to stdout: %q", garbage)
		}
	})
	return c
}

func (c *child) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := fmt.Fprintf(c.stdin, "Content-Length: %d\r\n\r\n%s", len(msg), msg); err != nil {
		t.Fatal(err)
	}
}

func (c *child) read(t *testing.T) string {
	t.Helper()
	body, err := c.frames.ReadFrame()
	if err != nil {
		t.Fatalf("read: %v (stderr: %s)", err, c.stderr)
	}
	return string(body)
}

func (c *child) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("the plugin did not exit within %v", within)
		return -1
	}
}

const hs = `{"jsonrpc":"2.0","id":1,"method":"plugin/handshake","params":{"protocolVersion":"1.0","plugin":{"id":"child","config":{}}}}`

func TestServeMovesStdoutToStderr(t *testing.T) {
	c := startChild(t)
	c.send(t, hs)
	if got := c.read(t); !strings.Contains(got, `"sdk":{"name":"plugd-go"`) {
		t.Fatalf("handshake: %s", got)
	}
	c.send(t, `{"jsonrpc":"2.0","id":2,"method":"plugin/invoke","params":{"runId":"r","entry":"noise","input":{}}}`)
	if got := c.read(t); got != `{"jsonrpc":"2.0","id":2,"result":{"output":{"ok":true}}}` {
		t.Fatalf("noise: %s", got)
	}
	c.send(t, `{"jsonrpc":"2.0","id":3,"method":"plugin/invoke","params":{"runId":"r","entry":"shell","input":{}}}`)
	if got := c.read(t); got != `{"jsonrpc":"2.0","id":3,"result":{"output":null}}` {
		t.Fatalf("shell: %s", got)
	}
	c.send(t, `{"jsonrpc":"2.0","id":4,"method":"plugin/shutdown"}`)
	if got := c.read(t); got != `{"jsonrpc":"2.0","id":4,"result":{}}` {
		t.Fatalf("shutdown: %s", got)
	}
	if code := c.wait(t, time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{"noise to stdout\n", "more noise\n", "raw write to fd 1\n", "from a child process\n"} {
		if !strings.Contains(c.stderr.String(), want) {
			t.Errorf("stderr lacks %q: %q", want, c.stderr.String())
		}
	}
}

func TestServeExitsOnEOF(t *testing.T) {
	c := startChild(t)
	c.send(t, hs)
	c.read(t)
	c.send(t, `{"jsonrpc":"2.0","id":2,"method":"plugin/invoke","params":{"runId":"r","entry":"block","input":{}}}`)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	c.stdin.Close()
	if code := c.wait(t, time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	t.Logf("exited %v after EOF", time.Since(start))
}
