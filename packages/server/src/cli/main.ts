#!/usr/bin/env node
import path from "node:path";
import { Command, Option } from "commander";
import { loadOrCreateAdminToken, rotateAdminToken } from "../auth/admin-token.js";
import { resolveSettings } from "../config/settings.js";
import { followLogs, formatLogEntry } from "../logs/tail-client.js";
import { startServer, VERSION } from "../server.js";
import { parseCallArgs } from "./args.js";
import { adminToken, api, baseUrl, CliError, ExitCodes, sse } from "./client.js";
import { progressLine, table } from "./format.js";

const program = new Command()
  .name("plugd")
  .description("plugd: run plugins written in any language behind one HTTP + WebSocket API")
  .version(VERSION)
  .showHelpAfterError("(add --help for usage)");

const urlOption = () =>
  new Option("--url <url>", "server URL (env PLUGD_URL)").default(undefined, "http://127.0.0.1:48912");

program
  .command("serve")
  .description("start the server (embedded SQLite in the data dir)")
  .option("--host <host>", "address to bind (env PLUGD_HOST)", undefined)
  .option("-p, --port <port>", "port (env PLUGD_PORT; default 48912)", undefined)
  .option("--data-dir <dir>", "where the database, blobs and secrets live (env PLUGD_DATA_DIR; default ./.plugd)")
  .option("--plugins-dir <dir>", "folder of plugins to load (env PLUGD_PLUGINS_DIR; default the examples)")
  .option("--log-level <level>", "trace|debug|info|warn|error (env PLUGD_LOG_LEVEL)")
  .option("--no-auto-start", "do not start plugins whose manifest asks to auto-start")
  .option("--no-auth", "no admin token on admin routes (loopback only; env PLUGD_AUTH=off)")
  .option("--trusted-host <hosts>", "extra Host names to accept, comma-separated (env PLUGD_TRUSTED_HOSTS)")
  .option("--trusted-origin <origins>", "extra browser origins to accept, comma-separated (env PLUGD_TRUSTED_ORIGINS)")
  .option("--no-message-plane", "do not start the ZeroMQ message plane (env PLUGD_MESSAGE_PLANE=off)")
  .option(
    "--message-plane-port <port>",
    "message plane RPC port; PUB and INGEST take the next two (env PLUGD_MESSAGE_PLANE_PORT; default 48913)",
  )
  .action(async (o) => {
    const settings = resolveSettings({
      host: o.host,
      port: o.port,
      dataDir: o.dataDir,
      pluginsDir: o.pluginsDir,
      logLevel: o.logLevel,
      ...(o.autoStart === false ? { autoStart: false } : {}),
      ...(o.auth === false ? { authEnabled: false } : {}),
      ...(o.trustedHost ? { trustedHosts: o.trustedHost } : {}),
      ...(o.trustedOrigin ? { trustedOrigins: o.trustedOrigin } : {}),
      ...(o.messagePlane === false ? { messagePlane: false } : {}),
      ...(o.messagePlanePort !== undefined ? { messagePlanePort: o.messagePlanePort } : {}),
    });
    const server = await startServer(settings, { handleSignals: true });
    const plugins = server.host.list();
    const ready = plugins.filter((p) => p.state === "ready").length;
    process.stderr.write(
      `plugd ${VERSION} listening on ${server.url}  (${plugins.length} plugins, ${ready} running; data in ${settings.dataDir})\n` +
        `  try: curl ${server.url}/plugins\n  API docs: ${server.url}/docs\n` +
        (server.messagePlane ? `  message plane: ${server.messagePlane.endpoints.rpc} (RPC)\n` : ""),
    );
  });

const token = program.command("token").description("the admin token (kept in <data dir>/admin.token, mode 0600)");
token
  .command("rotate")
  .description("replace the admin token; a running server picks up the new one at once")
  .option("--data-dir <dir>", "data dir (env PLUGD_DATA_DIR; default ./.plugd)")
  .action((o) => {
    const dir = path.resolve(o.dataDir ?? process.env.PLUGD_DATA_DIR ?? ".plugd");
    const t = rotateAdminToken(dir);
    process.stderr.write(`new admin token written to ${path.join(dir, "admin.token")}\n`);
    console.log(t);
  });
token
  .command("show")
  .description("print the admin token")
  .option("--data-dir <dir>", "data dir (env PLUGD_DATA_DIR; default ./.plugd)")
  .action((o) => {
    const dir = path.resolve(o.dataDir ?? process.env.PLUGD_DATA_DIR ?? ".plugd");
    console.log(loadOrCreateAdminToken(dir).token);
  });

program
  .command("plugins")
  .description("list plugins, their state and entries")
  .addOption(urlOption())
  .option("--json", "print JSON")
  .action(async (o) => {
    const { plugins } = await api<{ plugins: any[] }>(baseUrl(o.url), "/plugins");
    if (o.json) return print(plugins);
    console.log(
      table(
        ["ID", "STATE", "VERSION", "ENTRIES", "REASON"],
        plugins.map((p) => [p.id, p.state, p.version, p.entries.map((e: any) => e.id).join(","), p.reason ?? ""]),
      ),
    );
  });

for (const verb of ["start", "stop", "reload"] as const) {
  program
    .command(verb)
    .description(`${verb} a plugin`)
    .argument("<plugin>", "plugin id")
    .addOption(urlOption())
    .option("--json", "print JSON")
    .action(async (id: string, o) => {
      const r = await api<any>(baseUrl(o.url), `/plugin/${encodeURIComponent(id)}/${verb}`, { method: "POST" });
      if (o.json) print(r);
      else console.log(`${id}: ${r.state}`);
    });
}

program
  .command("call")
  .description("run a plugin entry, show its progress, print its result (Ctrl-C cancels the run)")
  .argument("<plugin>", "plugin id")
  .argument("<entry>", "entry id")
  .argument("[args...]", "input as key=value pairs (values parsed as JSON when they are)")
  .option("--args <json>", "input as a JSON object")
  .option("--timeout <ms>", "run timeout in ms")
  .option("--json", "print the whole run record as JSON")
  .addOption(urlOption())
  .addHelpText(
    "after",
    `\nExamples:\n  plugd call hello-ts echo text=hi\n  plugd call hello-ts count to=5 --json\n  plugd call hello-ts echo --args '{"text":"hi"}'`,
  )
  .action(async (plugin: string, entry: string, pairs: string[], o) => {
    const url = baseUrl(o.url);
    const args = parseCallArgs(o.args, pairs);
    // Ctrl-C is handled from the start: pressed while the run is being created, it cancels it once it exists.
    let runId: string | undefined;
    let cancelled = false;
    const cancel = () =>
      api(url, `/runs/${runId}/cancel`, {
        method: "POST",
        body: JSON.stringify({ reason: "Ctrl-C in plugd call" }),
      }).catch(() => undefined);
    const onSigint = () => {
      if (cancelled) process.exit(ExitCodes.CANCELED);
      cancelled = true;
      process.stderr.write("\ncancelling (Ctrl-C again to quit without waiting)…\n");
      if (runId) void cancel();
    };
    process.on("SIGINT", onSigint);
    const created = await api<{ run_id: string }>(url, "/runs", {
      method: "POST",
      body: JSON.stringify({
        plugin_id: plugin,
        entry_id: entry,
        args,
        ...(o.timeout ? { timeout_ms: Number(o.timeout) } : {}),
      }),
    });
    runId = created.run_id;
    if (cancelled) void cancel();
    const ac = new AbortController();
    const tty = process.stderr.isTTY && !o.json;
    try {
      for await (const ev of sse(`${url}/runs/${created.run_id}/events`, ac.signal)) {
        if (ev.event === "progress" && tty) process.stderr.write(`\r${progressLine(ev.data)}`);
        else if (ev.event === "output" && !o.json) process.stdout.write(String(ev.data.chunk ?? ""));
      }
    } finally {
      process.off("SIGINT", onSigint);
      if (tty) process.stderr.write("\r\x1b[K");
    }
    const run = await api<any>(url, `/runs/${created.run_id}`);
    if (o.json) print(run);
    else if (run.status === "succeeded") print(run.result);
    else
      process.stderr.write(`run ${run.run_id} ${run.status}: ${run.error?.code ?? ""} ${run.error?.message ?? ""}\n`);
    process.exitCode =
      run.status === "succeeded" ? ExitCodes.OK : run.status === "canceled" ? ExitCodes.CANCELED : ExitCodes.RUN_FAILED;
  });

program
  .command("runs")
  .description("recent runs, newest first")
  .option("--plugin <id>", "only this plugin's runs")
  .option("--status <list>", "comma-separated statuses")
  .option("--limit <n>", "how many", "20")
  .option("--json", "print JSON")
  .addOption(urlOption())
  .action(async (o) => {
    const q = new URLSearchParams({
      limit: o.limit,
      ...(o.plugin ? { plugin_id: o.plugin } : {}),
      ...(o.status ? { status: o.status } : {}),
    });
    const { runs } = await api<{ runs: any[] }>(baseUrl(o.url), `/runs?${q}`);
    if (o.json) return print(runs);
    console.log(
      table(
        ["RUN", "PLUGIN", "ENTRY", "STATUS", "CREATED", "ERROR"],
        runs.map((r) => [
          r.run_id,
          r.plugin_id,
          r.entry_id,
          r.status,
          new Date(r.created_at * 1000).toISOString(),
          r.error?.code ?? "",
        ]),
      ),
    );
  });

program
  .command("run")
  .description("one run record")
  .argument("<run_id>")
  .option("--json", "print JSON (default)")
  .addOption(urlOption())
  .action(async (id: string, o) => print(await api(baseUrl(o.url), `/runs/${encodeURIComponent(id)}`)));

program
  .command("logs")
  .description("a plugin's log, or the server's (_server); -f keeps printing new lines as they are written")
  .argument("<plugin>", "plugin id, or _server")
  .option("-n, --lines <n>", "how many of the last lines", "100")
  .option("-f, --follow", "follow: stream new lines (WebSocket) until Ctrl-C")
  .option("--level <level>", "only this level: debug, info, warn(ing), error")
  .option("--json", "one JSON object per line")
  .addOption(urlOption())
  .addHelpText("after", "\nExamples:\n  plugd logs hello-ts -n 20\n  plugd logs _server -f --level warn")
  .action(async (id: string, o) => {
    const url = baseUrl(o.url);
    const show = (entries: Array<Parameters<typeof formatLogEntry>[0]>) => {
      for (const e of entries) console.log(o.json ? JSON.stringify(e) : formatLogEntry(e));
    };
    if (!o.follow) {
      const q = new URLSearchParams({ lines: String(o.lines), ...(o.level ? { level: o.level } : {}) });
      const r = await api<{ logs: Array<Parameters<typeof formatLogEntry>[0]> }>(
        url,
        `/plugin/${encodeURIComponent(id)}/logs?${q}`,
      );
      show(r.logs);
      return;
    }
    const ac = new AbortController();
    process.once("SIGINT", () => ac.abort());
    let end: Awaited<ReturnType<typeof followLogs>>;
    try {
      const token = adminToken();
      end = await followLogs({
        url,
        id,
        lines: Number(o.lines),
        ...(o.level ? { level: o.level } : {}),
        ...(token ? { token } : {}),
        onEntries: show,
        signal: ac.signal,
      });
    } catch (e) {
      throw new CliError(`cannot follow ${id}'s log at ${url}: ${(e as Error).message}`, ExitCodes.UNREACHABLE);
    }
    if (end.error)
      throw new CliError(
        `${end.error.code}: ${end.error.message}`,
        end.error.code === "PLUGIN_NOT_FOUND" ? ExitCodes.NOT_FOUND : ExitCodes.USAGE,
      );
    if (!ac.signal.aborted && end.code !== 1000)
      throw new CliError(`the log stream closed: ${end.code} ${end.reason}`, ExitCodes.UNREACHABLE);
  });

function print(v: unknown): void {
  console.log(typeof v === "string" ? v : JSON.stringify(v, null, 2));
}

program.parseAsync().catch((e: unknown) => {
  if (e instanceof CliError) {
    process.stderr.write(`plugd: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`plugd: ${(e as Error).stack ?? e}\n`);
  process.exit(ExitCodes.RUN_FAILED);
});
