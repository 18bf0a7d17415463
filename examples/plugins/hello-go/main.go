// hello-go is the example plugd plugin written with the Go SDK: echo, greet, and a cancellable counter that
// reports progress and streams output. Build it with ./build.sh; plugd starts bin/hello-go (see plugin.toml).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	plugd "github.com/plugd/plugd/sdks/go"
)

type countIn struct {
	To      int  `json:"to"`
	DelayMs *int `json:"delayMs"`
}

type countOut struct {
	Counted int `json:"counted"`
}

type greetIn struct {
	Name string `json:"name"`
}

func main() {
	p := plugd.New("hello-go", "0.1.0")

	p.Entry("echo", plugd.EntrySpec{
		Description: "Returns its input unchanged",
		InputSchema: plugd.Schema{"type": "object"},
	}, func(ctx context.Context, run *plugd.Run, input json.RawMessage) (any, error) {
		return input, nil
	})

	p.Entry("greet", plugd.EntrySpec{
		Description: "Greets someone with the configured prefix ([greeting] prefix in plugin.toml, default Hello)",
		InputSchema: plugd.Schema{
			"type":       "object",
			"properties": plugd.Schema{"name": plugd.Schema{"type": "string", "minLength": 1}},
			"required":   []string{"name"},
		},
	}, plugd.Typed(func(ctx context.Context, run *plugd.Run, in greetIn) (string, error) {
		prefix := "Hello"
		if g, ok := run.Config()["greeting"].(map[string]any); ok {
			if s, ok := g["prefix"].(string); ok && s != "" {
				prefix = s
			}
		}
		return fmt.Sprintf("%s, %s!", prefix, in.Name), nil
	}))

	p.Entry("count", plugd.EntrySpec{
		Description: "Counts to `to`, one step every `delayMs` (default 100), with progress and output; honours cancel",
		InputSchema: plugd.Schema{
			"type": "object",
			"properties": plugd.Schema{
				"to":      plugd.Schema{"type": "integer", "minimum": 1, "maximum": 100000},
				"delayMs": plugd.Schema{"type": "integer", "minimum": 0, "default": 100},
			},
			"required": []string{"to"},
		},
		Streaming: true,
	}, plugd.Typed(func(ctx context.Context, run *plugd.Run, in countIn) (countOut, error) {
		delay := 100 * time.Millisecond
		if in.DelayMs != nil {
			delay = time.Duration(*in.DelayMs) * time.Millisecond
		}
		timer := time.NewTimer(delay)
		defer timer.Stop()
		for i := 1; i <= in.To; i++ {
			select {
			case <-ctx.Done():
				// Returning the context's error answers 1004 CANCELLED.
				return countOut{}, ctx.Err()
			case <-timer.C:
			}
			run.Progress(plugd.Progress{
				Progress:  float64(i) / float64(in.To),
				Step:      i,
				StepTotal: in.To,
				Message:   fmt.Sprintf("%d of %d", i, in.To),
				ETA:       time.Duration(in.To-i) * delay,
			})
			run.Output(fmt.Sprintf("%d\n", i))
			timer.Reset(delay)
		}
		plugd.Logger.Info("counted", "to", in.To, "run", run.ID())
		return countOut{Counted: in.To}, nil
	}))

	os.Exit(p.Serve())
}
