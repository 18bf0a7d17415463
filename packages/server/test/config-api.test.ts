import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { parse as parseToml } from "smol-toml";
import ts from "typescript";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resolveSettings } from "../src/config/settings.js";
import { deepMerge } from "../src/config-api/merge.js";
import { type RunningServer, startServer } from "../src/server.js";
import { EXAMPLES, ROOT, sleep } from "./helpers.js";

/*
 * The config API against a real server, with a COPY of examples/plugins/hello-ts (the tests rewrite its plugin.toml
 * and profiles, so they must never touch the repository's files).
 */

let server: RunningServer;
let root: string;
let pluginDir: string;
let pluginToml: string;
let original: string;
let auth: Record<string, string> = {};
const ENV = "PLUGD_PLUGIN_HELLO_TS_PROFILE";

beforeAll(async () => {
  const example = path.join(EXAMPLES, "hello-ts");
  if (!fs.existsSync(path.join(example, "dist/index.js"))) {
    execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" });
  }
  root = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-config-"));
  pluginDir = path.join(root, "plugins/hello-ts");
  fs.cpSync(example, pluginDir, {
    recursive: true,
    filter: (src) => !src.includes(`${path.sep}node_modules`) && !src.endsWith(".tsbuildinfo"),
  });
  // The copy imports @plugd/sdk; outside the repository nothing resolves it, so lend it the workspace's packages.
  fs.mkdirSync(path.join(root, "node_modules"), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "node_modules/@plugd"), path.join(root, "node_modules/@plugd"), "dir");
  pluginToml = path.join(pluginDir, "plugin.toml");
  original = fs.readFileSync(pluginToml, "utf8");

  server = await startServer(
    resolveSettings({
      host: "127.0.0.1",
      port: 0,
      dataDir: path.join(root, "data"),
      pluginsDir: path.join(root, "plugins"),
    }),
    { logger: pino({ level: "silent" }) },
  );
  // With admin auth on, the config routes need the token; the server writes it into the data dir.
  const tokenFile = path.join(root, "data/admin.token");
  if (fs.existsSync(tokenFile)) auth = { authorization: `Bearer ${fs.readFileSync(tokenFile, "utf8").trim()}` };
  if (server.host.get("hello-ts")?.state !== "ready") await server.host.start("hello-ts");
});

afterAll(async () => {
  delete process.env[ENV];
  await server?.close();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/** Every test starts from the example's plugin.toml and no profiles, written through the API (so the plugin hears it). */
async function reset(): Promise<void> {
  delete process.env[ENV];
  fs.rmSync(path.join(pluginDir, "profiles.toml"), { force: true });
  fs.rmSync(path.join(pluginDir, "profiles"), { recursive: true, force: true });
  fs.rmSync(path.join(pluginDir, "config.schema.json"), { force: true });
  const r = await call("PUT", "/plugin/hello-ts/config/toml", { toml: original });
  expect(r.status).toBe(200);
}

async function call(method: string, p: string, body?: unknown) {
  const res = await fetch(`${server.url}${p}`, {
    method,
    headers: { ...auth, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

async function greet(name: string): Promise<string> {
  const r = await call("POST", "/runs", { plugin_id: "hello-ts", entry_id: "greet", args: { name }, wait: true });
  expect(r.body.status).toBe("succeeded");
  return r.body.result as string;
}

const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

describe("reading config", () => {
  beforeEach(reset);

  it("answers the effective config with its file, profiles state and warnings", async () => {
    const r = await call("GET", "/plugin/hello-ts/config");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      plugin_id: "hello-ts",
      config: { plugin: { id: "hello-ts", entry: "dist/index.js" }, greeting: { prefix: "Hello" } },
      base_config: { greeting: { prefix: "Hello" } },
      config_path: fs.realpathSync(pluginToml) === pluginToml ? pluginToml : expect.any(String),
      profiles_state: { active: null, profiles_exists: false, files: {} },
      warnings: [],
    });
    expect(Number.isNaN(Date.parse(r.body.last_modified))).toBe(false);
    const t = await call("GET", "/plugin/hello-ts/config/toml");
    expect(t.body.toml).toBe(original);
    expect((await call("GET", "/plugin/hello-ts/config/base")).body.config).toEqual(r.body.base_config);
  });

  it("answers 404 PLUGIN_NOT_FOUND for an unknown plugin and 400 for a bad id", async () => {
    for (const p of ["/plugin/ghost/config", "/plugin/ghost/config/toml", "/plugin/ghost/config/profiles"]) {
      const r = await call("GET", p);
      expect(r.status).toBe(404);
      expect(r.headers.get("x-error-code")).toBe("PLUGIN_NOT_FOUND");
      expect(r.body.error.code).toBe("PLUGIN_NOT_FOUND");
    }
    expect((await call("PUT", "/plugin/ghost/config", { config: {} })).status).toBe(404);
    expect((await call("GET", "/plugin/a.b/config")).status).toBe(400);
  });

  it("is an admin API: no token, no config", async () => {
    if (!auth.authorization) return; // the server runs without admin auth
    const res = await fetch(`${server.url}/plugin/hello-ts/config`);
    expect(res.status).toBe(401);
    const put = await fetch(`${server.url}/plugin/hello-ts/config/profiles/x`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ config: {} }),
    });
    expect(put.status).toBe(401);
    expect(fs.existsSync(path.join(pluginDir, "profiles.toml"))).toBe(false);
  });
});

describe("JSON ↔ TOML", () => {
  beforeEach(reset);

  it("round-trips a document: PUT JSON, GET TOML, parse it back", async () => {
    const doc = (await call("GET", "/plugin/hello-ts/config/base")).body.config;
    const next = deepMerge(doc, {
      greeting: { prefix: "Hi" },
      limits_demo: { hosts: ["a", "b"], retries: 3, ratio: 0.5, on: true, nested: { deep: { key: "v" } } },
      "odd key": { "with.dot": 1 },
    });
    const put = await call("PUT", "/plugin/hello-ts/config", { config: next });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ success: true, plugin_id: "hello-ts", config: next });

    const toml = (await call("GET", "/plugin/hello-ts/config/toml")).body.toml as string;
    expect(toml).toContain("[limits_demo]");
    expect(parseToml(toml)).toEqual(next);
    const parsed = await call("POST", "/plugin/hello-ts/config/parse_toml", { toml });
    expect(parsed.body).toEqual({ plugin_id: "hello-ts", config: next });
    expect((await call("GET", "/plugin/hello-ts/config")).body.config).toEqual(next);
  });

  it("writes TOML text as sent, comments included", async () => {
    const text = `${original}\n# why: the UI shows this comment back\n[extra]\nlist = [1, 2] # trailing\n`;
    const put = await call("PUT", "/plugin/hello-ts/config/toml", { toml: text });
    expect(put.status).toBe(200);
    expect(fs.readFileSync(pluginToml, "utf8")).toBe(text);
    expect((await call("GET", "/plugin/hello-ts/config")).body.config.extra).toEqual({ list: [1, 2] });
  });

  it("previews (parse_toml, render_toml) write nothing", async () => {
    const before = { text: fs.readFileSync(pluginToml, "utf8"), mtime: fs.statSync(pluginToml).mtimeMs };
    const rendered = await call("POST", "/plugin/hello-ts/config/render_toml", {
      config: { plugin: { id: "changed" }, a: { b: [1, 2] } },
    });
    expect(rendered.status).toBe(200);
    expect(parseToml(rendered.body.toml)).toEqual({ plugin: { id: "changed" }, a: { b: [1, 2] } });
    const parsed = await call("POST", "/plugin/hello-ts/config/parse_toml", { toml: 'x = 1\n[t]\ny = "z"\n' });
    expect(parsed.body.config).toEqual({ x: 1, t: { y: "z" } });
    expect(fs.readFileSync(pluginToml, "utf8")).toBe(before.text);
    expect(fs.statSync(pluginToml).mtimeMs).toBe(before.mtime);
    expect(fs.existsSync(path.join(pluginDir, "profiles.toml"))).toBe(false);
  });

  it("answers bad TOML with 400, line and column, and leaves the file alone", async () => {
    const bad = "a = 1\nb = = 2\n";
    const parsed = await call("POST", "/plugin/hello-ts/config/parse_toml", { toml: bad });
    expect(parsed.status).toBe(400);
    expect(parsed.body.error).toMatchObject({ code: "INVALID_TOML", details: { line: 2, column: 5 } });
    expect(parsed.body.error.message).toMatch(/line 2, column 5/);
    const put = await call("PUT", "/plugin/hello-ts/config/toml", { toml: bad });
    expect(put.status).toBe(400);
    expect(put.headers.get("x-error-code")).toBe("INVALID_TOML");
    expect(fs.readFileSync(pluginToml, "utf8")).toBe(original);
  });

  it("refuses values TOML cannot hold and documents that would not load", async () => {
    const nul = await call("POST", "/plugin/hello-ts/config/render_toml", { config: { a: { b: null } } });
    expect(nul.status).toBe(400);
    expect(nul.body.error.message).toContain("a.b is null");
    const doc = (await call("GET", "/plugin/hello-ts/config/base")).body.config;
    const noName = structuredClone(doc);
    delete noName.plugin.name;
    const r = await call("PUT", "/plugin/hello-ts/config", { config: noName });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("INVALID_MANIFEST");
    expect((await call("PUT", "/plugin/hello-ts/config", {})).status).toBe(400);
    expect(fs.readFileSync(pluginToml, "utf8")).toBe(original);
  });
});

describe("protected fields", () => {
  beforeEach(reset);

  it("refuses a change of plugin.id, plugin.entry or the start command", async () => {
    const doc = (await call("GET", "/plugin/hello-ts/config/base")).body.config;
    const cases: Array<[string, (d: any) => void]> = [
      ["plugin.id", (d) => (d.plugin.id = "other")],
      ["plugin.entry", (d) => (d.plugin.entry = "dist/evil.js")],
      ["plugin.command", (d) => (d.plugin.command = "/bin/sh")],
      ["plugin.runtime", (d) => (d.plugin.runtime = "python")],
      ["plugin.env", (d) => (d.plugin.env = { NODE_OPTIONS: "--require /tmp/x.js" })],
    ];
    for (const [field, change] of cases) {
      const d = structuredClone(doc);
      change(d);
      const r = await call("PUT", "/plugin/hello-ts/config", { config: d });
      expect(r.status, field).toBe(400);
      expect(r.body.error.code).toBe("PROTECTED_FIELD");
      expect(r.body.error.message).toContain(`Cannot modify critical field '${field}'`);
    }
    const toml = original.replace('entry = "dist/index.js"', 'entry = "dist/other.js"');
    const r = await call("PUT", "/plugin/hello-ts/config/toml", { toml });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain("Cannot modify critical field 'plugin.entry'");
    expect(fs.readFileSync(pluginToml, "utf8")).toBe(original);
  });

  it("copies protected fields the request left out back from the current file", async () => {
    const doc = (await call("GET", "/plugin/hello-ts/config/base")).body.config;
    const d = structuredClone(doc);
    delete d.plugin.id;
    delete d.plugin.entry;
    delete d.plugin.runtime;
    d.greeting.prefix = "Kept";
    const r = await call("PUT", "/plugin/hello-ts/config", { config: d });
    expect(r.status).toBe(200);
    const now = parseToml(fs.readFileSync(pluginToml, "utf8")) as any;
    expect(now.plugin).toMatchObject({ id: "hello-ts", entry: "dist/index.js", runtime: "node" });
    expect(now.greeting.prefix).toBe("Kept");

    // No [plugin] table at all: the current one is kept whole.
    const onlyBusiness = await call("PUT", "/plugin/hello-ts/config", { config: { greeting: { prefix: "Biz" } } });
    expect(onlyBusiness.status).toBe(200);
    expect((parseToml(fs.readFileSync(pluginToml, "utf8")) as any).plugin).toEqual(now.plugin);
  });
});

describe("profiles", () => {
  beforeEach(reset);

  it("upserts, activates and deletes profiles; the active one overlays the base", async () => {
    expect((await call("GET", "/plugin/hello-ts/config/profiles")).body).toMatchObject({
      plugin_id: "hello-ts",
      profiles_exists: false,
      config_profiles: null,
    });

    const dev = await call("PUT", "/plugin/hello-ts/config/profiles/dev", { config: { greeting: { prefix: "Dev" } } });
    expect(dev.status).toBe(200);
    expect(dev.body).toMatchObject({
      plugin_id: "hello-ts",
      profile: { name: "dev", path: "profiles/dev.toml", exists: true },
      config: { greeting: { prefix: "Dev" } },
      active: "dev", // the first profile becomes active
    });
    expect(fs.existsSync(path.join(pluginDir, "profiles/dev.toml"))).toBe(true);
    let cfg = (await call("GET", "/plugin/hello-ts/config")).body;
    expect(cfg.config.greeting.prefix).toBe("Dev");
    expect(cfg.base_config.greeting.prefix).toBe("Hello");
    expect(cfg.config.plugin.id).toBe("hello-ts");
    expect(cfg.profiles_state).toMatchObject({ active: "dev", applied: true, profiles_exists: true });

    const prod = await call("PUT", "/plugin/hello-ts/config/profiles/prod", {
      config: { greeting: { prefix: "Prod" }, extra: { only: "prod" } },
    });
    expect(prod.body.active).toBe("dev"); // not the first: stays inactive
    expect((await call("GET", "/plugin/hello-ts/config")).body.config.greeting.prefix).toBe("Dev");

    const act = await call("POST", "/plugin/hello-ts/config/profiles/prod/activate");
    expect(act.status).toBe(200);
    expect(act.body.config_profiles).toMatchObject({
      active: "prod",
      files: { dev: { path: "profiles/dev.toml", exists: true }, prod: { path: "profiles/prod.toml", exists: true } },
    });
    cfg = (await call("GET", "/plugin/hello-ts/config")).body;
    expect(cfg.config).toMatchObject({ greeting: { prefix: "Prod" }, extra: { only: "prod" } });

    expect((await call("GET", "/plugin/hello-ts/config/profiles/dev")).body).toMatchObject({
      profile: { name: "dev", path: "profiles/dev.toml", exists: true },
      config: { greeting: { prefix: "Dev" } },
    });

    const del = await call("DELETE", "/plugin/hello-ts/config/profiles/prod");
    expect(del.body).toMatchObject({ plugin_id: "hello-ts", profile: "prod", removed: true });
    expect(fs.existsSync(path.join(pluginDir, "profiles/prod.toml"))).toBe(true); // the file stays
    cfg = (await call("GET", "/plugin/hello-ts/config")).body;
    expect(cfg.profiles_state.active).toBeNull();
    expect(cfg.config.greeting.prefix).toBe("Hello");
    expect((await call("DELETE", "/plugin/hello-ts/config/profiles/prod")).body.removed).toBe(false);

    const missing = await call("POST", "/plugin/hello-ts/config/profiles/nope/activate");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("PROFILE_NOT_FOUND");
    expect((await call("GET", "/plugin/hello-ts/config/profiles/nope")).status).toBe(404);

    const made = await call("PUT", "/plugin/hello-ts/config/profiles/qa", {
      config: { greeting: { prefix: "QA" } },
      make_active: true,
    });
    expect(made.body.active).toBe("qa");
    expect((await call("GET", "/plugin/hello-ts/config")).body.config.greeting.prefix).toBe("QA");
  });

  it("refuses a profile with a [plugin] table", async () => {
    const r = await call("PUT", "/plugin/hello-ts/config/profiles/bad", {
      config: { plugin: { id: "x" }, greeting: { prefix: "X" } },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("PROTECTED_FIELD");
    expect(r.body.error.message).toMatch(/\[plugin\]/);
    expect(fs.existsSync(path.join(pluginDir, "profiles.toml"))).toBe(false);
    expect(fs.existsSync(path.join(pluginDir, "profiles/bad.toml"))).toBe(false);
  });

  it("lets an env variable choose the active profile", async () => {
    await call("PUT", "/plugin/hello-ts/config/profiles/dev", { config: { greeting: { prefix: "Dev" } } });
    await call("PUT", "/plugin/hello-ts/config/profiles/staging", { config: { greeting: { prefix: "Staging" } } });
    expect((await call("GET", "/plugin/hello-ts/config")).body.config.greeting.prefix).toBe("Dev");
    process.env[ENV] = "staging";
    try {
      const cfg = (await call("GET", "/plugin/hello-ts/config")).body;
      expect(cfg.config.greeting.prefix).toBe("Staging");
      expect(cfg.profiles_state).toMatchObject({ active: "staging", active_from: ENV });
      const list = (await call("GET", "/plugin/hello-ts/config/profiles")).body;
      expect(list.config_profiles.active).toBe("dev"); // the file is unchanged
      expect(list.env_override).toEqual({ name: "staging", env: ENV });
      process.env[ENV] = "ghost";
      const ghost = (await call("GET", "/plugin/hello-ts/config")).body;
      expect(ghost.config.greeting.prefix).toBe("Hello");
      expect(ghost.warnings.map((w: any) => w.code)).toContain("PROFILE_NOT_MAPPED");
    } finally {
      delete process.env[ENV];
    }
    process.env.NEKO_PLUGIN_HELLO_TS_PROFILE = "staging";
    try {
      expect((await call("GET", "/plugin/hello-ts/config")).body.config.greeting.prefix).toBe("Staging");
    } finally {
      delete process.env.NEKO_PLUGIN_HELLO_TS_PROFILE;
    }
  });

  it("refuses profile paths that leave the plugin folder", async () => {
    const outside = path.join(root, "outside.toml");
    fs.writeFileSync(outside, '[greeting]\nprefix = "Stolen"\n');
    fs.mkdirSync(path.join(pluginDir, "profiles"), { recursive: true });
    fs.symlinkSync(outside, path.join(pluginDir, "profiles/link.toml"));
    fs.writeFileSync(
      path.join(pluginDir, "profiles.toml"),
      [
        "[config_profiles]",
        'active = "up"',
        "[config_profiles.files]",
        'up = "../../outside.toml"',
        `abs = ${JSON.stringify(outside)}`,
        'link = "profiles/link.toml"',
        'code = "dist/index.js"',
        "",
      ].join("\n"),
    );
    for (const name of ["up", "abs", "link", "code"]) {
      const act = await call("POST", `/plugin/hello-ts/config/profiles/${name}/activate`);
      expect(act.status, name).toBe(400);
      expect(act.body.error.code).toBe("INVALID_PROFILE_PATH");
      const put = await call("PUT", `/plugin/hello-ts/config/profiles/${name}`, {
        config: { greeting: { prefix: "W" } },
      });
      expect(put.status, name).toBe(400);
      expect((await call("GET", `/plugin/hello-ts/config/profiles/${name}`)).status).toBe(400);
    }
    expect(fs.readFileSync(outside, "utf8")).toBe('[greeting]\nprefix = "Stolen"\n');
    // Reads keep working: the bad active profile is not applied, and the listing says why.
    const cfg = (await call("GET", "/plugin/hello-ts/config")).body;
    expect(cfg.config.greeting.prefix).toBe("Hello");
    expect(cfg.warnings.map((w: any) => w.code)).toContain("INVALID_PROFILE_PATH");
    const list = (await call("GET", "/plugin/hello-ts/config/profiles")).body;
    expect(list.config_profiles.files.up).toMatchObject({ resolved_path: null, exists: false });
    expect(list.config_profiles.files.link.resolved_path).toBeNull();
  });

  it("reads the legacy [plugin.config_profiles] table of plugin.toml", async () => {
    fs.mkdirSync(path.join(pluginDir, "profiles"), { recursive: true });
    fs.writeFileSync(path.join(pluginDir, "profiles/old.toml"), '[greeting]\nprefix = "Legacy"\n');
    const toml = original.replace(
      "[plugin.sdk]",
      '[plugin.config_profiles]\nactive = "old"\n\n[plugin.config_profiles.files]\nold = "profiles/old.toml"\n\n[plugin.sdk]',
    );
    expect((await call("PUT", "/plugin/hello-ts/config/toml", { toml })).status).toBe(200);
    const cfg = (await call("GET", "/plugin/hello-ts/config")).body;
    expect(cfg.config.greeting.prefix).toBe("Legacy");
    expect(cfg.profiles_state).toMatchObject({ source: "plugin.toml", active: "old" });
  });

  it("serialises concurrent writes of one plugin", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `p${i}`);
    const results = await Promise.all(
      names.map((n) => call("PUT", `/plugin/hello-ts/config/profiles/${n}`, { config: { greeting: { prefix: n } } })),
    );
    expect(results.map((r) => r.status)).toEqual(names.map(() => 200));
    const map = (parseToml(fs.readFileSync(path.join(pluginDir, "profiles.toml"), "utf8")) as any).config_profiles;
    expect(Object.keys(map.files).sort()).toEqual(names);
    expect(names).toContain(map.active);
  });
});

describe("config schema", () => {
  beforeEach(reset);

  it("validates the effective config against [plugin] config_schema", async () => {
    fs.writeFileSync(
      path.join(pluginDir, "config.schema.json"),
      JSON.stringify({
        type: "object",
        properties: {
          greeting: {
            type: "object",
            properties: { prefix: { type: "string", maxLength: 12 } },
            required: ["prefix"],
          },
        },
      }),
    );
    const toml = original.replace(
      'entry = "dist/index.js"',
      'entry = "dist/index.js"\nconfig_schema = "config.schema.json"',
    );
    const put = await call("PUT", "/plugin/hello-ts/config/toml", { toml });
    expect(put.status).toBe(200);
    // The schema path is read by the config API at every use: no reload needed for it.
    expect(put.body.requires_reload).toBe(false);

    const doc = (await call("GET", "/plugin/hello-ts/config/base")).body.config;
    const bad = await call("PUT", "/plugin/hello-ts/config", { config: { ...doc, greeting: { prefix: 42 } } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("CONFIG_SCHEMA_VIOLATION");
    expect(bad.body.error.details.problems).toEqual([{ path: "/greeting/prefix", message: "must be string" }]);
    const long = await call("PUT", "/plugin/hello-ts/config/profiles/long", {
      config: { greeting: { prefix: "much too long for the schema" } },
    });
    expect(long.status).toBe(400);
    const hot = await call("POST", "/plugin/hello-ts/config/hot-update", { config: { greeting: { prefix: 1 } } });
    expect(hot.status).toBe(400);
    expect(
      (await call("PUT", "/plugin/hello-ts/config/profiles/ok", { config: { greeting: { prefix: "Ok" } } })).status,
    ).toBe(200);
  });
});

describe("hot update", () => {
  beforeEach(reset);

  it("delivers a PUT to the running plugin without a restart", async () => {
    const pid = server.host.get("hello-ts")?.pid;
    expect(pid).toBeGreaterThan(0);
    expect(await greet("Ann")).toBe("Hello, Ann!");

    const doc = (await call("GET", "/plugin/hello-ts/config/base")).body.config;
    const put = await call("PUT", "/plugin/hello-ts/config", { config: { ...doc, greeting: { prefix: "Howdy" } } });
    expect(put.body).toMatchObject({ success: true, hot_reloaded: true, requires_reload: false });
    expect(await greet("Ann")).toBe("Howdy, Ann!");

    // A profile write reaches it the same way.
    const prof = await call("PUT", "/plugin/hello-ts/config/profiles/dev", {
      config: { greeting: { prefix: "Ahoy" } },
    });
    expect(prof.body).toMatchObject({ hot_reloaded: true, requires_reload: false });
    expect(await greet("Ann")).toBe("Ahoy, Ann!");
    expect(server.host.get("hello-ts")?.pid).toBe(pid);

    // A change of a table read at load time still asks for a reload.
    const limits = await call("PUT", "/plugin/hello-ts/config", {
      config: { ...doc, greeting: { prefix: "Howdy" }, plugin_runtime: { auto_start: false } },
    });
    expect(limits.body.requires_reload).toBe(true);
  });

  it("applies temporary patches to the process only, and permanent ones to the files", async () => {
    const pid = server.host.get("hello-ts")?.pid;
    const before = fs.readFileSync(pluginToml, "utf8");
    const tmp = await call("POST", "/plugin/hello-ts/config/hot-update", {
      config: { greeting: { prefix: "Yo" } },
      mode: "temporary",
    });
    expect(tmp.body).toMatchObject({ success: true, mode: "temporary", hot_reloaded: true, requires_reload: false });
    expect(await greet("Bo")).toBe("Yo, Bo!");
    expect(fs.readFileSync(pluginToml, "utf8")).toBe(before);
    expect((await call("GET", "/plugin/hello-ts/config")).body.temporary_overlay).toEqual({
      greeting: { prefix: "Yo" },
    });

    // Permanent with no active profile: into plugin.toml.
    const perm = await call("POST", "/plugin/hello-ts/config/hot-update", {
      config: { greeting: { prefix: "Hey" } },
      mode: "permanent",
    });
    expect(perm.body).toMatchObject({ success: true, mode: "permanent", profile: null, hot_reloaded: true });
    expect((parseToml(fs.readFileSync(pluginToml, "utf8")) as any).greeting.prefix).toBe("Hey");
    expect(await greet("Bo")).toBe("Hey, Bo!");

    // Permanent into a named profile (created, and active because it is the first).
    const named = await call("POST", "/plugin/hello-ts/config/hot-update", {
      config: { greeting: { prefix: "Sup" } },
      mode: "permanent",
      profile: "live",
    });
    expect(named.body).toMatchObject({ profile: "live", hot_reloaded: true, config: { greeting: { prefix: "Sup" } } });
    expect(parseToml(fs.readFileSync(path.join(pluginDir, "profiles/live.toml"), "utf8"))).toEqual({
      greeting: { prefix: "Sup" },
    });
    expect(await greet("Bo")).toBe("Sup, Bo!");
    expect(server.host.get("hello-ts")?.pid).toBe(pid);

    // A temporary patch is gone after a restart; the files' config comes back.
    await call("POST", "/plugin/hello-ts/config/hot-update", { config: { greeting: { prefix: "Gone" } } });
    expect(await greet("Bo")).toBe("Gone, Bo!");
    expect((await call("POST", "/plugin/hello-ts/stop")).status).toBe(200);
    const stopped = await call("POST", "/plugin/hello-ts/config/hot-update", { config: { greeting: { prefix: "X" } } });
    expect(stopped.status).toBe(409);
    expect((await call("POST", "/plugin/hello-ts/start")).status).toBe(200);
    expect(await greet("Bo")).toBe("Sup, Bo!");
  });

  it("refuses hot updates of plugd's own tables", async () => {
    const r = await call("POST", "/plugin/hello-ts/config/hot-update", { config: { plugin: { id: "x" } } });
    expect(r.status).toBe(400);
    expect((await call("POST", "/plugin/hello-ts/config/hot-update", { config: {}, mode: "sometimes" })).status).toBe(
      400,
    );
  });
});

describe("atomic writes", () => {
  /**
   * A writer process rewrites a large file in a loop with atomicWrite and is SIGKILLed at a random moment; the file
   * must then hold one complete version. (A process kill keeps the page cache; what fsync adds for a power cut
   * cannot be shown without one.)
   */
  it("leaves the old or the new file, never a partial one, when the writer is killed", async () => {
    const dir = fs.mkdtempSync(path.join(root, "crash-"));
    // The module is self-contained (node builtins only), so a plain transpile runs it in a child node process.
    const source = fs.readFileSync(path.join(ROOT, "packages/server/src/config-api/atomic-write.ts"), "utf8");
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    }).outputText;
    fs.writeFileSync(path.join(dir, "atomic-write.mjs"), js);
    const versions = ["A", "B"].map(
      (m) => `[data]\nmarker = "${m}"\nblob = "${m.repeat(4 * 1024 * 1024)}"\nend = "${m}"\n`,
    );
    const hashes = new Set(versions.map(sha));
    const target = path.join(dir, "config.toml");
    fs.writeFileSync(target, versions[0]!);
    fs.writeFileSync(
      path.join(dir, "writer.mjs"),
      `import { atomicWrite } from "./atomic-write.mjs";
const versions = ${JSON.stringify(["A", "B"])}.map((m) => \`[data]\\nmarker = "\${m}"\\nblob = "\${m.repeat(4 * 1024 * 1024)}"\\nend = "\${m}"\\n\`);
for (let i = 1; ; i++) {
  await atomicWrite(${JSON.stringify(target)}, versions[i % 2]);
  process.stdout.write("w\\n");
}
`,
    );

    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, [path.join(dir, "writer.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
      // Kill it only once it is writing: after its first completed write, plus a random part of the next one.
      await new Promise<void>((resolve, reject) => {
        child.once("error", reject);
        child.stdout.once("data", () => resolve());
      });
      await sleep(Math.random() * 60);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      const bytes = fs.readFileSync(target);
      expect(hashes.has(sha(bytes)), `round ${round}: the file is neither version`).toBe(true);
      const doc = parseToml(bytes.toString("utf8")) as { data: { marker: string; end: string } };
      expect(doc.data.end).toBe(doc.data.marker);
    }
    // Only the target and, at most, temp files of killed writers are left; the target was never replaced by one.
    const stray = fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"));
    expect(stray.every((f) => f.startsWith(".config.toml."))).toBe(true);
  });
});
