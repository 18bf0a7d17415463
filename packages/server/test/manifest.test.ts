import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Defaults } from "../src/config/defaults.js";
import {
  checkRanges,
  discoverPlugins,
  HOST_SDK_VERSION,
  loadManifest,
  ManifestError,
  type ManifestErrorInfo,
  parseManifest,
  resolvePython,
  toSemverRange,
} from "../src/manifest/index.js";
import { EXAMPLES } from "./helpers.js";

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-manifest-"));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
/** A fresh plugin folder with the given files; returns its absolute path. */
function pluginDir(files: Record<string, string>, parent = path.join(tmp, `case-${++n}`), name?: string): string {
  const dir = name ? path.join(parent, name) : parent;
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

function load(toml: string): ReturnType<typeof loadManifest> {
  return loadManifest(pluginDir({ "plugin.toml": toml }));
}

/** The ManifestError a manifest raises (fails the test if it loads). */
function errorOf(toml: string): ManifestErrorInfo & { dir: string } {
  const dir = pluginDir({ "plugin.toml": toml });
  try {
    loadManifest(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    const info = (e as ManifestError).info;
    // Every message starts with the file it is about.
    expect(info.file).toBe(path.join(dir, "plugin.toml"));
    expect(info.message.startsWith(`${path.join(dir, "plugin.toml")}: `)).toBe(true);
    return { ...info, dir };
  }
  throw new Error(`expected the manifest to be refused:\n${toml}`);
}

const HEAD = '[plugin]\nid = "foo"\nname = "Foo"\n';
const NODE = `${HEAD}runtime = "node"\nentry = "index.js"\n`;

describe("parseManifest: runtime shorthand (node)", () => {
  it("builds the start spec and fills every default from config/defaults", () => {
    const m = load(NODE);
    const dir = path.dirname(m.file);
    expect(m.dir).toBe(dir);
    expect(m.file).toBe(path.join(dir, "plugin.toml"));
    expect(m.start).toEqual({
      command: process.execPath,
      args: [path.join(dir, "index.js")],
      cwd: dir,
      env: {},
      runtime: "node",
    });
    expect(m.pythonEntry).toBeUndefined();
    expect(m.id).toBe("foo");
    expect(m.name).toBe("Foo");
    expect(m.version).toBe("0.0.0");
    expect(m.description).toBe("");
    expect(m.enabled).toBe(true);
    expect(m.autoStart).toBe(false);
    expect(m.limits).toEqual({ ...Defaults.plugin });
    expect(m.restart).toEqual({ ...Defaults.restart });
    expect(m.events).toEqual({ include: [], exclude: [] });
    expect(m.permissions).toEqual({ reverseRpc: false, call: [] });
    expect(m.dependencies).toEqual([]);
    expect(m.sdk).toEqual({});
    expect(m.protocol).toEqual({});
    expect(m.config).toEqual({});
    expect(m.warnings).toEqual([]);
    expect(m.raw).toEqual({ plugin: { id: "foo", name: "Foo", runtime: "node", entry: "index.js" } });
  });

  it("infers node for a file entry without a runtime and puts args after the entry", () => {
    const m = load(`${HEAD}entry = "dist/main.js"\nargs = ["--verbose"]\n`);
    expect(m.start.command).toBe(process.execPath);
    expect(m.start.args).toEqual([path.join(m.dir, "dist/main.js"), "--verbose"]);
    expect(m.start.runtime).toBe("node");
  });

  it("reads every [plugin] field, limits, restart, events, permissions and business config", () => {
    const m = load(`${NODE}version = "1.2.3"
description = "does foo"
env = { LOG_LEVEL = "info" }
[plugin.limits]
handshake_timeout_ms = 1000
rpc_timeout_ms = 2000
shutdown_timeout_ms = 300
health_interval_ms = 0
max_concurrency = 4
max_queue = 0
max_message_bytes = 4096
[plugin.restart]
policy = "always"
max_retries = 2
backoff_base_ms = 10
backoff_cap_ms = 100
window_ms = 5000
[plugin.events]
include = ["run.*", "*"]
exclude = ["noise"]
[plugin.permissions]
reverse_rpc = true
call = ["bar", "*"]
[plugin_runtime]
enabled = false
auto_start = true
[greeting]
prefix = "Hello"
[greeting.nested]
list = [1, 2]
`);
    expect(m.version).toBe("1.2.3");
    expect(m.description).toBe("does foo");
    expect(m.start.env).toEqual({ LOG_LEVEL: "info" });
    expect(m.limits).toEqual({
      handshakeTimeoutMs: 1000,
      rpcTimeoutMs: 2000,
      shutdownTimeoutMs: 300,
      healthIntervalMs: 0,
      maxConcurrency: 4,
      maxQueue: 0,
      maxMessageBytes: 4096,
    });
    expect(m.restart).toEqual({
      policy: "always",
      maxRetries: 2,
      backoffBaseMs: 10,
      backoffCapMs: 100,
      windowMs: 5000,
    });
    expect(m.events).toEqual({ include: ["run.*", "*"], exclude: ["noise"] });
    expect(m.permissions).toEqual({ reverseRpc: true, call: ["bar", "*"] });
    expect(m.enabled).toBe(false);
    expect(m.autoStart).toBe(true);
    expect(m.config).toEqual({ greeting: { prefix: "Hello", nested: { list: [1, 2] } } });
    expect(m.warnings).toEqual([]);
    // A deep copy: changing the config does not change what was parsed.
    (m.config.greeting as { nested: { list: number[] } }).nested.list.push(3);
    expect((m.raw.greeting as { nested: { list: number[] } }).nested.list).toEqual([1, 2]);
  });

  it("defaults only the missing keys of a partly written table", () => {
    const m = load(`${NODE}[plugin.limits]\nmax_concurrency = 2\n[plugin.restart]\npolicy = "never"\n`);
    expect(m.limits).toEqual({ ...Defaults.plugin, maxConcurrency: 2 });
    expect(m.restart).toEqual({ ...Defaults.restart, policy: "never" });
  });

  it("turns [plugin_runtime] timeout (seconds) into the handshake timeout unless the limit is set", () => {
    expect(load(`${NODE}[plugin_runtime]\ntimeout = 15\n`).limits.handshakeTimeoutMs).toBe(15_000);
    expect(load(`${NODE}[plugin_runtime]\ntimeout = 0.5\n`).limits.handshakeTimeoutMs).toBe(500);
    const both = load(`${NODE}[plugin.limits]\nhandshake_timeout_ms = 700\n[plugin_runtime]\ntimeout = 15\n`);
    expect(both.limits.handshakeTimeoutMs).toBe(700);
  });

  it("loads the example plugin of this repository", () => {
    const m = loadManifest(path.join(EXAMPLES, "hello-ts"));
    expect(m.id).toBe("hello-ts");
    expect(m.start.args).toEqual([path.join(EXAMPLES, "hello-ts", "dist/index.js")]);
    expect(m.autoStart).toBe(true);
    expect(m.sdk).toEqual({ supported: "^0.1.0" });
    expect(m.config).toEqual({ greeting: { prefix: "Hello" } });
    expect(m.warnings).toEqual([]);
  });
});

describe("parseManifest: explicit command", () => {
  it("resolves a relative command and cwd against the plugin folder", () => {
    const m = load(`${HEAD}command = "./bin/hello"\nargs = ["--flag"]\ncwd = "work"\nenv = { A = "1" }\n`);
    expect(m.start).toEqual({
      command: path.join(m.dir, "bin/hello"),
      args: ["--flag"],
      cwd: path.join(m.dir, "work"),
      env: { A: "1" },
    });
  });

  it("keeps a bare command name for PATH lookup at spawn, and an absolute one as is", () => {
    expect(load(`${HEAD}command = "deno"\n`).start.command).toBe("deno");
    expect(load(`${HEAD}command = "/usr/bin/env"\n`).start.command).toBe("/usr/bin/env");
    expect(load(`${HEAD}command = "deno"\n`).start.args).toEqual([]);
  });

  it("accepts an absolute cwd inside the folder and warns that entry is ignored next to command", () => {
    const dir = pluginDir({ "sub/x": "" });
    fs.writeFileSync(
      path.join(dir, "plugin.toml"),
      `${HEAD}command = "go-plugin"\nentry = "main.go"\ncwd = ${JSON.stringify(path.join(dir, "sub"))}\n`,
    );
    const m = loadManifest(dir);
    expect(m.start.cwd).toBe(path.join(dir, "sub"));
    expect(m.warnings).toEqual(["plugin.entry is ignored: plugin.command starts the plugin"]);
  });
});

describe("parseManifest: Python", () => {
  const saved = process.env.PLUGD_PYTHON;
  afterEach(() => {
    if (saved === undefined) delete process.env.PLUGD_PYTHON;
    else process.env.PLUGD_PYTHON = saved;
  });

  it("resolves the interpreter once, to the real executable rather than a shim", () => {
    delete process.env.PLUGD_PYTHON;
    const first = resolvePython();
    expect(resolvePython()).toBe(first);
    if (first !== "python3") {
      expect(path.isAbsolute(first)).toBe(true);
      expect(fs.existsSync(first)).toBe(true);
    }
  });

  it("takes PLUGD_PYTHON over the resolved interpreter", () => {
    process.env.PLUGD_PYTHON = "/opt/py/bin/python3.12";
    expect(resolvePython()).toBe("/opt/py/bin/python3.12");
    expect(load(`${HEAD}runtime = "python"\nentry = "main.py"\n`).start.command).toBe("/opt/py/bin/python3.12");
  });

  it("runs a file entry unbuffered; .py infers python", () => {
    process.env.PLUGD_PYTHON = "/py";
    for (const toml of [`${HEAD}runtime = "python"\nentry = "main.py"\n`, `${HEAD}entry = "main.py"\n`]) {
      const m = load(toml);
      expect(m.start.command).toBe("/py");
      expect(m.start.args).toEqual(["-u", path.join(m.dir, "main.py")]);
      expect(m.start.runtime).toBe("python");
      expect(m.pythonEntry).toBeUndefined();
    }
  });

  it('runs a N.E.K.O "module:Class" entry through plugd.neko_runner with the folder on PYTHONPATH', () => {
    process.env.PLUGD_PYTHON = "/py";
    const m = load(`${HEAD}entry = "plugins.foo:FooPlugin"\nenv = { PYTHONPATH = "/extra" }\n`);
    expect(m.pythonEntry).toBe("plugins.foo:FooPlugin");
    expect(m.start.command).toBe("/py");
    expect(m.start.args).toEqual(["-u", "-m", "plugd.neko_runner", "plugins.foo:FooPlugin"]);
    expect(m.start.runtime).toBe("python");
    const parts = (m.start.env.PYTHONPATH ?? "").split(path.delimiter);
    expect(parts[0]).toBe(m.dir);
    // The plugin's own PYTHONPATH is kept, after ours.
    expect(parts.at(-1)).toBe("/extra");
  });

  it("loads the N.E.K.O example manifest unmodified, its extra keys silently", () => {
    process.env.PLUGD_PYTHON = "/py";
    const m = load(`[plugin]
id = "dice_roller"
name = "Dice Roller"
type = "plugin"
description = "Rolls NdM dice and keeps a per-user history."
short_description = "Roll dice like 2d6."
keywords = ["(?i)dice", "骰子", "roll"]
version = "0.2.0"
entry = "plugin.plugins.dice_roller:DiceRollerPlugin"
dependencies = ["history_keeper"]

[plugin.author]
name = "Example Dev"

[plugin.sdk]
recommended = ">=0.1.0,<0.2.0"
supported   = ">=0.1.0,<0.3.0"
untested    = ">=0.3.0,<0.4.0"
conflicts   = ["<0.1.0", ">=0.4.0"]

[plugin.safety]
sync_call_in_handler = "reject"

[plugin.store]
enabled = true

[plugin_runtime]
enabled = true
auto_start = false
timeout = 15
startup_failure = "warn"

[plugin_state]
backend = "off"

[dice]
max_dice = 20
default_sides = 6
`);
    expect(m.warnings).toEqual([]);
    expect(m.id).toBe("dice_roller");
    expect(m.version).toBe("0.2.0");
    expect(m.pythonEntry).toBe("plugin.plugins.dice_roller:DiceRollerPlugin");
    expect(m.dependencies).toEqual([{ id: "history_keeper", optional: false }]);
    expect(m.sdk).toEqual({
      recommended: ">=0.1.0,<0.2.0",
      supported: ">=0.1.0,<0.3.0",
      untested: ">=0.3.0,<0.4.0",
      conflicts: ["<0.1.0", ">=0.4.0"],
    });
    expect(m.limits.handshakeTimeoutMs).toBe(15_000);
    expect(m.enabled).toBe(true);
    expect(m.autoStart).toBe(false);
    // plugin_state is reserved: not business config.
    expect(m.config).toEqual({ dice: { max_dice: 20, default_sides: 6 } });
    expect(checkRanges("sdk", HOST_SDK_VERSION, m.sdk)).toEqual({ ok: true, warnings: [] });
  });
});

describe("parseManifest: dependencies, ranges and warnings", () => {
  it("reads both dependency forms; PEP 440 ranges become semver", () => {
    const m = load(`${NODE}dependencies = ["a", "b"]
[[plugin.dependency]]
id = "b"
untested = ">=0.1.0,<0.3.0"
optional = true
[[plugin.dependency]]
id = "c"
supported = "^1.2"
untested = "~=2.0"
[[plugin.dependency]]
entry = "d:roll"
[[plugin.dependency]]
custom_event = "e:tick:t1"
`);
    expect(m.dependencies).toEqual([
      { id: "a", optional: false },
      { id: "b", optional: true, range: ">=0.1.0 <0.3.0" },
      { id: "c", optional: false, range: "^1.2 || >=2.0.0 <3.0.0-0" },
      { id: "d", optional: false },
      { id: "e", optional: false },
    ]);
    expect(m.warnings).toEqual([]);
  });

  it("warns about dependencies plugd cannot enforce instead of treating them as required", () => {
    const m = load(`${NODE}[[plugin.dependency]]
id = "enemy"
conflicts = true
untested = ">=0"
[[plugin.dependency]]
entry = "roll"
untested = ">=0"
`);
    expect(m.dependencies).toEqual([]);
    expect(m.warnings).toEqual([
      "plugin.dependency[0] declares a plugin that must not be present; plugd does not enforce that",
      "plugin.dependency[1] names no plugin (an entry or event any plugin may provide); plugd does not check it",
    ]);
  });

  it("accepts compatible as an alias of supported, and a single conflicts string", () => {
    const m = load(`${NODE}[plugin.protocol]\ncompatible = "^1.0"\nconflicts = "<1.0"\n`);
    expect(m.protocol).toEqual({ supported: "^1.0", conflicts: ["<1.0"] });
  });

  it("warns about unknown keys in plugd's tables, with a suggestion for a near miss", () => {
    const m = load(`${NODE}flavour = "x"
[plugin.limits]
max_concurency = 3
[plugin.restart]
polcy = "never"
[plugin.permissions]
call = ["x"]
[plugin_runtime]
speed = 1
`);
    expect(m.warnings).toEqual([
      "plugin.flavour is not a key plugd knows; ignored",
      "plugin.limits.max_concurency is not a key plugd knows; ignored (did you mean max_concurrency?)",
      "plugin.restart.polcy is not a key plugd knows; ignored (did you mean policy?)",
      "plugin_runtime.speed is not a key plugd knows; ignored",
      "plugin.permissions.call has no effect while plugin.permissions.reverse_rpc is false",
    ]);
    // The unknown key did not change the value.
    expect(m.limits.maxConcurrency).toBe(Defaults.plugin.maxConcurrency);
  });

  it("warns about a version that is not semver", () => {
    expect(load(`${NODE}version = "1.0"\n`).warnings).toEqual([
      'plugin.version "1.0" is not a semver version; dependency ranges may not match it',
    ]);
  });
});

describe("parseManifest: errors name the file, the key and the problem", () => {
  it("shows the path relative to the working directory when it is below it", () => {
    const file = path.join(process.cwd(), "plugins", "foo", "plugin.toml");
    expect(() => parseManifest(file, `${NODE}[plugin.limits]\nmax_concurrency = "ten"\n`)).toThrow(
      `${path.join("plugins", "foo", "plugin.toml")}: plugin.limits.max_concurrency must be an integer ≥ 1 (got "ten")`,
    );
  });

  const cases: [string, string, string | undefined, string][] = [
    ["TOML syntax", "[plugin\nid = 1\n", undefined, "is not valid TOML at line 1, column 8: illegal character in key"],
    ["TOML redefinition", `${NODE}name = "again"\n`, undefined, "is not valid TOML at line 6, column 1"],
    ["no [plugin] table", 'title = "x"\n', "plugin", "the [plugin] table is missing (it needs at least id and name)"],
    ["no id", '[plugin]\nname = "x"\nentry = "a.js"\n', "plugin.id", "plugin.id is required"],
    ["no name", '[plugin]\nid = "x"\nentry = "a.js"\n', "plugin.name", "plugin.name is required"],
    [
      "bad id",
      '[plugin]\nid = "my plugin"\nname = "x"\nentry = "a.js"\n',
      "plugin.id",
      `plugin.id must be letters, digits, '_' and '-' only (got "my plugin")`,
    ],
    [
      "not an integer",
      `${NODE}[plugin.limits]\nmax_concurrency = "ten"\n`,
      "plugin.limits.max_concurrency",
      'plugin.limits.max_concurrency must be an integer ≥ 1 (got "ten")',
    ],
    [
      "below the minimum",
      `${NODE}[plugin.limits]\nrpc_timeout_ms = 0\n`,
      "plugin.limits.rpc_timeout_ms",
      "plugin.limits.rpc_timeout_ms must be an integer ≥ 1 (got 0)",
    ],
    [
      "a fraction",
      `${NODE}[plugin.restart]\nmax_retries = 1.5\n`,
      "plugin.restart.max_retries",
      "plugin.restart.max_retries must be an integer ≥ 0 (got 1.5)",
    ],
    [
      "not one of the policies",
      `${NODE}[plugin.restart]\npolicy = "sometimes"\n`,
      "plugin.restart.policy",
      'plugin.restart.policy must be one of "never", "on-failure", "always" (got "sometimes")',
    ],
    [
      "unknown runtime",
      `${HEAD}runtime = "ruby"\nentry = "a.rb"\n`,
      "plugin.runtime",
      'plugin.runtime must be one of "node", "python" (got "ruby")',
    ],
    [
      "env value not a string",
      `${NODE}env = { PORT = 8080 }\n`,
      "plugin.env.PORT",
      "plugin.env.PORT must be a string (got 8080)",
    ],
    [
      "env not a table",
      `${NODE}env = "A=1"\n`,
      "plugin.env",
      'plugin.env must be a table of string values (got "A=1")',
    ],
    ["list element", `${NODE}args = ["--a", 2]\n`, "plugin.args[1]", "plugin.args[1] must be a string (got 2)"],
    [
      "a table where a list belongs",
      `${NODE}[plugin.events]\ninclude = { a = 1 }\n`,
      "plugin.events.include",
      "plugin.events.include must be a list of non-empty strings (got a table)",
    ],
    [
      "conflicts of the wrong type",
      `${NODE}[plugin.sdk]\nconflicts = [1]\n`,
      "plugin.sdk.conflicts",
      "plugin.sdk.conflicts must be a string or a list of strings (got [1])",
    ],
    [
      "permission call target",
      `${NODE}[plugin.permissions]\nreverse_rpc = true\ncall = ["a b"]\n`,
      "plugin.permissions.call[0]",
      'plugin.permissions.call[0] must be a plugin id or "*" (got "a b")',
    ],
    [
      "plugin_runtime.timeout out of range",
      `${NODE}[plugin_runtime]\ntimeout = 301\n`,
      "plugin_runtime.timeout",
      "plugin_runtime.timeout must be a number > 0 and ≤ 300 (got 301)",
    ],
    [
      "a boolean that is not",
      `${NODE}[plugin.permissions]\nreverse_rpc = "yes"\n`,
      "plugin.permissions.reverse_rpc",
      'plugin.permissions.reverse_rpc must be true or false (got "yes")',
    ],
    [
      "no way to start",
      HEAD,
      "plugin.entry",
      'plugin.entry is required: the plugin needs plugin.command, or plugin.entry with plugin.runtime "node" or "python"',
    ],
    [
      "runtime without entry",
      `${HEAD}runtime = "node"\n`,
      "plugin.entry",
      'plugin.entry is required with plugin.runtime "node"',
    ],
    [
      "runtime and command",
      `${HEAD}runtime = "node"\nentry = "a.js"\ncommand = "node"\n`,
      "plugin.runtime",
      "plugin.runtime and plugin.command are two ways to start the plugin; keep one",
    ],
    [
      "module entry with node",
      `${HEAD}runtime = "node"\nentry = "pkg.mod:Cls"\n`,
      "plugin.entry",
      'plugin.entry must be a file or a Python "module:Class" (a "module:Class" entry needs plugin.runtime "python") (got "pkg.mod:Cls")',
    ],
    [
      "cwd escaping the folder",
      `${NODE}cwd = "../elsewhere"\n`,
      "plugin.cwd",
      'plugin.cwd must stay inside the plugin folder (got "../elsewhere")',
    ],
    [
      "absolute cwd outside",
      `${NODE}cwd = "/etc"\n`,
      "plugin.cwd",
      'plugin.cwd must stay inside the plugin folder (got "/etc")',
    ],
    [
      "entry escaping the folder",
      `${HEAD}runtime = "node"\nentry = "../other/index.js"\n`,
      "plugin.entry",
      'plugin.entry must be a file inside the plugin folder (got "../other/index.js")',
    ],
    [
      "invalid version range",
      `${NODE}[plugin.sdk]\nsupported = "around 1"\n`,
      "plugin.sdk.supported",
      'plugin.sdk.supported is not a valid version range (got "around 1")',
    ],
    [
      "invalid PEP 440 compatible release",
      `${NODE}[plugin.protocol]\nconflicts = ["~=1"]\n`,
      "plugin.protocol.conflicts",
      'plugin.protocol.conflicts is not a valid version range (got "~=1")',
    ],
    [
      "invalid dependency range",
      `${NODE}[[plugin.dependency]]\nid = "x"\nuntested = "nope"\n`,
      "plugin.dependency[0].untested",
      'plugin.dependency[0].untested is not a valid version range (got "nope")',
    ],
    [
      "dependency on itself",
      `${NODE}dependencies = ["foo"]\n`,
      "plugin.dependencies",
      'plugin.dependencies must not name the plugin itself ("foo")',
    ],
    [
      "backoff cap below base",
      `${NODE}[plugin.restart]\nbackoff_base_ms = 500\nbackoff_cap_ms = 100\n`,
      "plugin.restart.backoff_cap_ms",
      "plugin.restart.backoff_cap_ms must be ≥ backoff_base_ms (500) (got 100)",
    ],
  ];
  it.each(cases)("%s", (_name, toml, key, text) => {
    const e = errorOf(toml);
    expect(e.code).toBe("MANIFEST_INVALID");
    expect(e.key).toBe(key);
    expect(e.message).toContain(text);
  });

  it("reports the first few problems at once and counts the rest", () => {
    const e = errorOf(`[plugin]
id = "bad id"
name = ""
runtime = "perl"
command = 5
[plugin.limits]
max_queue = -1
`);
    const file = path.join(e.dir, "plugin.toml");
    expect(e.key).toBe("plugin.id");
    expect(e.message).toBe(
      `${file}: plugin.id must be letters, digits, '_' and '-' only (got "bad id"); ` +
        'plugin.name must be a non-empty string (got ""); ' +
        'plugin.runtime must be one of "node", "python" (got "perl") (and 2 more)',
    );
  });

  it("refuses a cwd that leaves the folder through a symlink", () => {
    const outside = fs.mkdtempSync(path.join(tmp, "outside-"));
    const dir = pluginDir({ "plugin.toml": `${NODE}cwd = "link"\n` });
    fs.symlinkSync(outside, path.join(dir, "link"));
    expect(() => loadManifest(dir)).toThrow('plugin.cwd must stay inside the plugin folder (got "link")');
  });

  it("says when a folder has no plugin.toml", () => {
    const dir = fs.mkdtempSync(path.join(tmp, "empty-"));
    try {
      loadManifest(dir);
      expect.unreachable();
    } catch (e) {
      expect((e as ManifestError).info).toEqual({
        code: "MANIFEST_NOT_FOUND",
        file: path.join(dir, "plugin.toml"),
        message: `${path.join(dir, "plugin.toml")}: no plugin.toml in this folder`,
      });
    }
  });
});

describe("version ranges", () => {
  it.each([
    [">=0.1.0,<0.3.0", ">=0.1.0 <0.3.0"],
    [">= 0.1, < 0.3", ">=0.1.0 <0.3.0"],
    ["==1.*", ">=1.0.0 <2.0.0-0"],
    ["==1.2.*", ">=1.2.0 <1.3.0-0"],
    ["!=1.*", "<1.0.0 || >=2.0.0-0"],
    ["~=1.2", ">=1.2.0 <2.0.0-0"],
    ["~=1.2.3", ">=1.2.3 <1.3.0-0"],
    ["==1.0", "=1.0.0"],
    ["==1.0rc1", "=1.0.0-rc.1"],
    ["<=1.2", "<=1.2.0"],
    [">1.2", ">1.2.0"],
    [">=1.0,!=1.5", ">=1.0.0 <1.5.0 || >=1.0.0 >1.5.0"],
    ["^1.0", "^1.0"],
    [">=1.0.0 <2.0.0", ">=1.0.0 <2.0.0"],
    ["1.x || >=3.0,<4", "1.x || >=3.0.0 <4.0.0"],
    ["", "*"],
  ])("converts %j to %j", (pep, range) => {
    expect(toSemverRange(pep)).toBe(range);
    // Converting twice changes nothing: a converted range is a semver range.
    expect(toSemverRange(range)).toBe(range);
  });

  it.each(["~=1", "==1.*.2", ">=1.*", "around 1", ">=1.2.3.4"])("refuses %j", (spec) => {
    expect(toSemverRange(spec)).toBeNull();
  });

  it("PEP 440 ranges select the versions PEP 440 would", () => {
    const ok = (v: string, spec: string) => checkRanges("sdk", v, { supported: spec }).ok;
    expect(ok("0.2.9", ">=0.1.0,<0.3.0")).toBe(true);
    expect(ok("0.3.0", ">=0.1.0,<0.3.0")).toBe(false);
    expect(ok("1.9.0", "~=1.2")).toBe(true);
    expect(ok("2.0.0", "~=1.2")).toBe(false);
    expect(ok("1.2.9", "~=1.2.3")).toBe(true);
    expect(ok("1.3.0", "~=1.2.3")).toBe(false);
    expect(ok("1.7.1", "==1.*")).toBe(true);
    expect(ok("2.0.0", "==1.*")).toBe(false);
    expect(ok("1.2.0", "<=1.2")).toBe(true);
    expect(ok("1.2.1", "<=1.2")).toBe(false);
    expect(ok("1.5.0", ">=1.0,!=1.5")).toBe(false);
    expect(ok("1.6.0", ">=1.0,!=1.5")).toBe(true);
  });

  const sdk = {
    recommended: ">=0.1.0,<0.2.0",
    supported: ">=0.1.0,<0.3.0",
    untested: ">=0.3.0,<0.4.0",
    conflicts: ["<0.1.0", ">=0.4.0"],
  };

  it("inside recommended: no warnings", () => {
    expect(checkRanges("sdk", "0.1.5", sdk)).toEqual({ ok: true, warnings: [] });
  });

  it("supported but outside recommended: a warning", () => {
    expect(checkRanges("sdk", "0.2.0", sdk)).toEqual({
      ok: true,
      warnings: ['SDK 0.2.0 is outside plugin.sdk.recommended ">=0.1.0,<0.2.0"'],
    });
  });

  it("only in untested: loaded with warnings", () => {
    expect(checkRanges("sdk", "0.3.1", sdk)).toEqual({
      ok: true,
      warnings: [
        'SDK 0.3.1 is only in plugin.sdk.untested ">=0.3.0,<0.4.0": the plugin was not tested with it',
        'SDK 0.3.1 is outside plugin.sdk.recommended ">=0.1.0,<0.2.0"',
      ],
    });
  });

  it("a conflict match: not loaded", () => {
    expect(checkRanges("sdk", "0.4.2", sdk)).toEqual({
      ok: false,
      code: "VERSION_CONFLICT",
      key: "plugin.sdk.conflicts",
      message: 'SDK 0.4.2 is in plugin.sdk.conflicts ">=0.4.0"',
    });
  });

  it("a conflict wins over supported", () => {
    const r = checkRanges("protocol", "1.0", { supported: "^1.0", conflicts: ["==1.0"] });
    expect(r).toMatchObject({ ok: false, code: "VERSION_CONFLICT" });
  });

  it("outside supported and untested: not loaded", () => {
    expect(checkRanges("protocol", "2.0", { supported: "^1.0" })).toEqual({
      ok: false,
      code: "VERSION_UNSUPPORTED",
      key: "plugin.protocol.supported",
      message: 'protocol 2.0 is outside plugin.protocol.supported "^1.0"',
    });
    expect(checkRanges("sdk", "0.0.9", { supported: ">=0.1", untested: ">=0.3" })).toMatchObject({
      ok: false,
      code: "VERSION_UNSUPPORTED",
      message: 'SDK 0.0.9 is outside plugin.sdk.supported ">=0.1" and outside plugin.sdk.untested ">=0.3"',
    });
  });

  it("an invalid range: not loaded, with the key and the range", () => {
    expect(checkRanges("sdk", "0.1.0", { recommended: "latest" })).toEqual({
      ok: false,
      code: "VERSION_UNSUPPORTED",
      key: "plugin.sdk.recommended",
      message: 'plugin.sdk.recommended is not a valid version range (got "latest")',
    });
  });

  it('coerces a short host version ("1.0") and keeps prereleases comparable', () => {
    expect(checkRanges("protocol", "1.0", { supported: "^1.0" }).ok).toBe(true);
    expect(checkRanges("protocol", "1.1.0-rc.1", { supported: "^1.0" }).ok).toBe(true);
    expect(checkRanges("protocol", "1", { supported: ">=1.0,<2" }).ok).toBe(true);
  });

  it("no ranges: anything goes", () => {
    expect(checkRanges("sdk", "9.9.9", {})).toEqual({ ok: true, warnings: [] });
  });
});

describe("discoverPlugins", () => {
  const plugin = (id: string, extra = "") => `[plugin]\nid = "${id}"\nname = "${id}"\nentry = "index.js"\n${extra}`;
  let root: string;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(tmp, "plugins-"));
    pluginDir({ "plugin.toml": plugin("zeta"), "index.js": "" }, root, "a-zeta");
    pluginDir({ "plugin.toml": plugin("alpha"), "index.js": "" }, root, "b-alpha");
    // Broken TOML: listed under its folder name.
    pluginDir({ "plugin.toml": '[plugin\nid = "x"' }, root, "c-broken-toml");
    // Valid TOML, invalid manifest: listed under the id it declares.
    pluginDir({ "plugin.toml": plugin("limits", '[plugin.limits]\nmax_queue = "lots"\n') }, root, "d-bad-limits");
    // The same id as a-zeta, in a later folder: the duplicate.
    pluginDir({ "plugin.toml": plugin("zeta") }, root, "e-zeta-again");
    pluginDir({ "plugin.toml": plugin("conflicted", '[plugin.sdk]\nconflicts = ">=0.1"\n') }, root, "f-conflict");
    pluginDir({ "plugin.toml": plugin("future", '[plugin.protocol]\nsupported = "^2.0"\n') }, root, "g-future");
    pluginDir(
      { "plugin.toml": plugin("untested", '[plugin.sdk]\nsupported = ">=0.5"\nuntested = ">=0.1,<0.5"\n') },
      root,
      "h-untested",
    );
    // Ignored: a folder without plugin.toml, a plain file, a plugin.toml one level too deep.
    pluginDir({ "README.md": "not a plugin" }, root, "i-no-manifest");
    pluginDir({ "deeper/plugin.toml": plugin("deep") }, root, "j-nested");
    fs.writeFileSync(path.join(root, "plugin.toml"), plugin("top"));
  });

  it("loads the good plugins and reports each broken one with its reason, sorted by id", () => {
    const found = discoverPlugins(root);
    const summary = found.map((d) => (d.ok ? [d.manifest.id, "ok"] : [d.id, d.error.code]));
    expect(summary).toEqual([
      ["alpha", "ok"],
      ["c-broken-toml", "MANIFEST_INVALID"],
      ["conflicted", "VERSION_CONFLICT"],
      ["future", "VERSION_UNSUPPORTED"],
      ["limits", "MANIFEST_INVALID"],
      ["untested", "ok"],
      ["zeta", "ok"],
      ["zeta", "DUPLICATE_ID"],
    ]);
    const byDir = (name: string) => {
      const d = found.find((f) => (f.ok ? f.manifest.dir : f.dir) === path.join(root, name));
      if (!d) throw new Error(`nothing found for ${name}`);
      return d;
    };
    const failure = (name: string) => {
      const d = byDir(name);
      if (d.ok) throw new Error(`${name} loaded`);
      expect(d.file).toBe(path.join(root, name, "plugin.toml"));
      expect(d.error.file).toBe(d.file);
      expect(d.error.message.startsWith(`${d.file}: `)).toBe(true);
      return d.error;
    };
    expect(failure("c-broken-toml").message).toContain("is not valid TOML at line 1");
    expect(failure("d-bad-limits")).toMatchObject({
      key: "plugin.limits.max_queue",
      message: expect.stringContaining('plugin.limits.max_queue must be an integer ≥ 0 (got "lots")'),
    });
    expect(failure("e-zeta-again")).toEqual({
      code: "DUPLICATE_ID",
      file: path.join(root, "e-zeta-again", "plugin.toml"),
      key: "plugin.id",
      message: `${path.join(root, "e-zeta-again", "plugin.toml")}: plugin.id "zeta" is already used by ${path.join(root, "a-zeta", "plugin.toml")}`,
    });
    expect(failure("f-conflict")).toMatchObject({
      key: "plugin.sdk.conflicts",
      message: expect.stringContaining(`not loaded: SDK ${HOST_SDK_VERSION} is in plugin.sdk.conflicts ">=0.1"`),
    });
    expect(failure("g-future")).toMatchObject({
      key: "plugin.protocol.supported",
      message: expect.stringContaining('not loaded: protocol 1.0 is outside plugin.protocol.supported "^2.0"'),
    });
    const untested = byDir("h-untested");
    expect(untested.ok && untested.manifest.warnings).toEqual([
      `SDK ${HOST_SDK_VERSION} is only in plugin.sdk.untested ">=0.1,<0.5": the plugin was not tested with it`,
    ]);
    const zeta = byDir("a-zeta");
    expect(zeta.ok && zeta.manifest.start.args).toEqual([path.join(root, "a-zeta", "index.js")]);
  });

  it("checks against the versions it is given", () => {
    const found = discoverPlugins(root, { protocolVersion: "2.1", sdkVersion: "0.6.0" });
    const status = (id: string) => found.filter((d) => (d.ok ? d.manifest.id : d.id) === id).map((d) => d.ok);
    expect(status("future")).toEqual([true]);
    expect(status("untested")).toEqual([true]);
    expect(status("alpha")).toEqual([true]);
    expect(status("conflicted")).toEqual([false]);
  });

  it("follows a symlinked plugin folder", () => {
    const elsewhere = pluginDir({ "plugin.toml": plugin("linked"), "index.js": "" });
    const dir = fs.mkdtempSync(path.join(tmp, "linked-"));
    fs.symlinkSync(elsewhere, path.join(dir, "linked"));
    const found = discoverPlugins(dir);
    expect(found).toHaveLength(1);
    expect(found[0]?.ok && found[0].manifest.id).toBe("linked");
  });

  it("an empty folder finds nothing; a missing one is an error", () => {
    expect(discoverPlugins(fs.mkdtempSync(path.join(tmp, "none-")))).toEqual([]);
    const missing = path.join(tmp, "does-not-exist");
    expect(() => discoverPlugins(missing)).toThrow(`plugins directory ${missing} does not exist`);
    expect(() => discoverPlugins(path.join(root, "plugin.toml"))).toThrow("is not a directory");
  });
});
