// Package plugd is the Go SDK for writing plugd plugins.
//
// A plugin is a process that speaks JSON-RPC 2.0 with the plugd host over its stdin and stdout, each message
// framed as in the Language Server Protocol (`Content-Length: N\r\n\r\n` followed by N bytes of UTF-8 JSON).
// The SDK does the protocol; a plugin only declares its entries and hooks:
//
//	p := plugd.New("hello-go", "0.1.0")
//	p.Entry("echo", plugd.EntrySpec{Description: "Returns its input", InputSchema: plugd.Schema{"type": "object"}},
//		func(ctx context.Context, run *plugd.Run, input json.RawMessage) (any, error) {
//			return input, nil
//		})
//	os.Exit(p.Serve())
//
// Every invoke runs in its own goroutine with a context.Context that is cancelled when the host sends
// `$/cancelRequest` for it (a cancel from the caller, or the host's timeout) or when the host goes away.
//
// stdout belongs to the protocol. Serve moves it out of the way first: the protocol keeps a private duplicate of
// file descriptor 1, and fd 1 (and os.Stdout) then point at stderr, so fmt.Println, the log package and child
// processes all write to stderr, which the host turns into log lines. Use [Logger] (JSON lines on stderr, levels
// understood by the host) or [Run.Log] (structured `plugin/log` records tied to the run) for logging.
package plugd
