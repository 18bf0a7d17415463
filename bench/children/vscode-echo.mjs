// Baseline: a vscode-jsonrpc peer answering `echo` (reference/ipc-baselines.md, stack "vscode").
import * as rpc from "vscode-jsonrpc/node";

const conn = rpc.createMessageConnection(
  new rpc.StreamMessageReader(process.stdin),
  new rpc.StreamMessageWriter(process.stdout),
);
conn.onRequest("echo", (p) => p);
conn.listen();
