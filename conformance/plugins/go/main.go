// The Go SDK's conformance plugin: exactly the entries conformance/README.md specifies, written the way a plugin
// author would write them. Build with ./build.sh (bin/conformance).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	plugd "github.com/plugd/plugd/sdks/go"
)

type ok struct {
	OK bool `json:"ok"`
}

func main() {
	p := plugd.New("conformance", "0.1.0")

	p.Entry("echo", plugd.EntrySpec{Description: "Returns the input unchanged", InputSchema: plugd.Schema{"type": "object"}},
		func(ctx context.Context, run *plugd.Run, input json.RawMessage) (any, error) {
			return input, nil
		})

	p.Entry("progress", plugd.EntrySpec{
		Description: "Reports steps progress notifications and one output chunk",
		InputSchema: plugd.Schema{
			"type":       "object",
			"properties": plugd.Schema{"steps": plugd.Schema{"type": "integer"}},
			"required":   []string{"steps"},
		},
	}, plugd.Typed(func(ctx context.Context, run *plugd.Run, in struct {
		Steps int `json:"steps"`
	}) (map[string]int, error) {
		n := in.Steps
		for i := 1; i <= n; i++ {
			err := run.Progress(plugd.Progress{Progress: float64(i) / float64(n), Step: i, StepTotal: n, Message: fmt.Sprintf("step %d", i)})
			if err != nil {
				return nil, err
			}
		}
		if err := run.Output("done\n"); err != nil {
			return nil, err
		}
		return map[string]int{"steps": n}, nil
	}))

	p.Entry("fail", plugd.EntrySpec{Description: "Fails with the given code and message"},
		plugd.Typed(func(ctx context.Context, run *plugd.Run, in struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}) (any, error) {
			return nil, plugd.NewError(in.Code, in.Message, nil)
		}))

	p.Entry("slow", plugd.EntrySpec{Description: "Sleeps ms milliseconds; cancellable"},
		plugd.Typed(func(ctx context.Context, run *plugd.Run, in struct {
			Ms int `json:"ms"`
		}) (map[string]int, error) {
			timer := time.NewTimer(time.Duration(in.Ms) * time.Millisecond)
			defer timer.Stop()
			select {
			case <-timer.C:
				return map[string]int{"slept": in.Ms}, nil
			case <-ctx.Done(): // fires as soon as $/cancelRequest arrives
				return nil, ctx.Err()
			}
		}))

	p.Entry("export", plugd.EntrySpec{Description: "Sends a text and a JSON export"},
		func(ctx context.Context, run *plugd.Run, input json.RawMessage) (any, error) {
			if err := run.ExportText("t", "hello"); err != nil {
				return nil, err
			}
			if err := run.ExportJSON("j", map[string]int{"a": 1}); err != nil {
				return nil, err
			}
			return map[string]int{"exports": 2}, nil
		})

	p.Entry("call", plugd.EntrySpec{Description: "Calls another plugin's entry through the host"},
		plugd.Typed(func(ctx context.Context, run *plugd.Run, in struct {
			Plugin string          `json:"plugin"`
			Entry  string          `json:"entry"`
			Input  json.RawMessage `json:"input"`
		}) (any, error) {
			result, err := run.Call(ctx, in.Plugin, in.Entry, in.Input)
			if err != nil {
				return nil, err
			}
			return map[string]json.RawMessage{"result": result}, nil
		}))

	p.Entry("noise", plugd.EntrySpec{Description: "Prints to stdout with fmt.Println"},
		func(ctx context.Context, run *plugd.Run, input json.RawMessage) (any, error) {
			fmt.Println("noise to stdout")
			return ok{true}, nil
		})

	p.Entry("log", plugd.EntrySpec{Description: "Logs through the SDK logger"},
		func(ctx context.Context, run *plugd.Run, input json.RawMessage) (any, error) {
			if err := run.Log(plugd.LevelInfo, "hello log", nil); err != nil {
				return nil, err
			}
			return ok{true}, nil
		})

	os.Exit(p.Serve())
}
