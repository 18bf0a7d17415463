// The floor: echoes every chunk it reads (no framing, no JSON), as in reference/ipc-baselines.md.
process.stdin.on("data", (c) => process.stdout.write(c));
