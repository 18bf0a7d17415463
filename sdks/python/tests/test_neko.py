"""The N.E.K.O compatibility layer: ``python -m plugd.neko_runner module:Class`` driven over pipes.

Plugins are written to a temporary folder in the N.E.K.O layout (or taken from examples/plugins/neko-*) and started
the way plugd starts them: the plugin folder and the SDK on PYTHONPATH, cwd = the plugin folder.
"""

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import REPO, PluginProcess, plugin_env

EXAMPLES = os.path.join(REPO, "examples", "plugins")


class NekoProcess(PluginProcess):
    def __init__(self, plugin_dir, entry, env=None, extra_args=()):
        e = plugin_env(env)
        e["PYTHONPATH"] = plugin_dir + os.pathsep + e["PYTHONPATH"]
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "plugd.neko_runner", entry, *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=plugin_dir)
        self.messages = queue.Queue()
        self.stdout_garbage = b""
        self._stderr = []
        self._stderr_lock = threading.Lock()
        self.notifications = []
        self.requests = []
        self._next_id = 1000
        self._early = {}
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def neko_handshake(self, plugin_id="p", config=None, data_dir=None, on_request=None):
        plugin = {"id": plugin_id, "config": config or {}}
        if data_dir:
            plugin["dataDir"] = str(data_dir)
        msg, _ = self.wait_response(self.request("plugin/handshake", {
            "protocolVersion": "1.0", "host": {"name": "pytest", "version": "0"}, "plugin": plugin,
            "supportsReverseRpc": True}), 10, on_request)
        return msg

    def invoke_meta(self, entry, input=None, run_id="run", meta=None, timeout_ms=None, on_request=None):
        params = {"runId": run_id, "entry": entry, "input": {} if input is None else input}
        if meta is not None:
            params["meta"] = meta
        if timeout_ms is not None:
            params["timeoutMs"] = timeout_ms
        return self.wait_response(self.request("plugin/invoke", params), 10, on_request)


@pytest.fixture
def neko():
    procs = []

    def start(plugin_dir, entry, **kw):
        p = NekoProcess(str(plugin_dir), entry, **kw)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.close()


def write_plugin(tmp_path, source, *, module="main", cls="P", toml_extra="", folder="p"):
    d = tmp_path / folder
    d.mkdir(parents=True, exist_ok=True)
    (d / ("%s.py" % module)).write_text(textwrap.dedent(source))
    (d / "plugin.toml").write_text('[plugin]\nid = "%s"\nname = "P"\nentry = "%s:%s"\n%s'
                                   % (folder, module, cls, textwrap.dedent(toml_extra)))
    return d


def answer_all(p, answers=None, record=None):
    """An on_request callback answering host requests: ``answers[method]`` (a value or a function of params)."""
    answers = answers or {}

    def on_request(req):
        if record is not None:
            record.append(req)
        a = answers.get(req["method"], {"submitted": True, "message_id": "m-1"})
        if isinstance(a, dict) and "__error__" in a:
            p.respond(req["id"], error=a["__error__"])
        else:
            p.respond(req["id"], a(req.get("params")) if callable(a) else a)

    return on_request


KITCHEN = """
import asyncio, threading
from plugin.sdk.plugin import (NekoPluginBase, neko_plugin, plugin_entry, lifecycle, timer_interval, message,
                               custom_event, llm_tool, Ok, Err, SdkError)
from plugin.sdk import ok, fail, ErrorCode

EVENTS = []

@neko_plugin
class P(NekoPluginBase):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.started = False

    @lifecycle(id="startup")
    async def startup(self, **_):
        self.started = True
        self.logger.info("started {} with {}", self.plugin_id, sorted(await self.config.dump()))

    @lifecycle(id="config_change")
    def changed(self, config=None, **_):
        EVENTS.append(config)

    @lifecycle(id="shutdown")
    def bye(self):
        import sys
        sys.stderr.write("shutdown ran\\n")

    @plugin_entry(id="sync_add", description="adds")
    def sync_add(self, a: int, b: int = 2):
        return {"sum": a + b, "thread": threading.current_thread().name}

    @plugin_entry(id="async_add")
    async def async_add(self, a: int, b: int = 2, **kwargs):
        await asyncio.sleep(0)
        return Ok({"sum": a + b, "extra": sorted(k for k in kwargs if k != "_ctx"), "has_ctx": "_ctx" in kwargs})

    @plugin_entry(id="ctx")
    def ctx_entry(self, _ctx):
        return _ctx

    @plugin_entry(id="started")
    def was_started(self):
        return self.started

    @plugin_entry(id="err_code")
    def err_code(self, which: str = "str"):
        if which == "str":
            return Err(SdkError("no such city", code="CITY_UNKNOWN", details={"city": "x"}))
        if which == "enum":
            return Err(SdkError("bad", code=ErrorCode.VALIDATION_ERROR))
        if which == "none":
            return Err(SdkError("plain"))
        if which == "exc":
            return Err(ValueError("boom"))
        if which == "raise_sdk":
            raise SdkError("raised", code="RAISED_CODE")
        if which == "raise":
            raise KeyError("k")
        return Err("text only")

    @plugin_entry(id="envelopes")
    def envelopes(self, good: bool = True):
        return ok(data={"x": 1}) if good else fail("MY_FAIL", "it failed", details={"d": 1})

    @plugin_entry(id="slow_sync")
    def slow_sync(self, seconds: float = 0.3):
        import time
        time.sleep(seconds)
        return "slept"

    @plugin_entry(id="fast_async")
    async def fast_async(self):
        return "fast"

    @plugin_entry(id="schema", input_schema={"type": "object", "properties": {"q": {"type": "string"}}}, timeout=7)
    async def schema(self, q: str = "", **_):
        return q

    @plugin_entry(id="progress")
    async def progress(self, **_):
        await self.run_update(progress=0.5, stage="half", message="m" * 600, step=1, step_total=2,
                              metrics={"n": 1, "s": "dropped"})
        self.ctx.run_update(progress=1.0)  # not awaited: still sent
        await self.export_push(export_type="text", text="hello", label="t", description="d")
        await self.export_push(export_type="json", json_data={"a": 1}, label="j")
        self.ctx.export_push_url("https://example.invalid/x", label="u")
        await self.ctx.export_push_binary(b"\\x00\\x01", label="b", mime="application/x-test")
        return "done"

    @plugin_entry(id="bad_progress")
    async def bad_progress(self, **_):
        await self.run_update(progress=2)

    @plugin_entry(id="push")
    def push(self, v2: bool = False):
        if v2:
            return self.push_message(visibility=["chat", "hud"], ai_behavior="blind",
                                     parts=[{"type": "text", "text": "a"}, {"type": "image", "data": b"\\x01"}],
                                     target_lanlan="neko", coalesce_key="k")
        return self.push_message(source="src", message_type="proactive_notification", description="desc",
                                 priority=8, content="c", metadata={"m": 1})

    @plugin_entry(id="push_async")
    async def push_async(self):
        r = await self.push_message(source="s", message_type="text", content="x")
        return dict(r)

    @plugin_entry(id="config")
    async def config_entry(self, **_):
        return {"dump": await self.config.dump(), "get": await self.config.get("a.b"),
                "default": await self.config.get("a.zz", 5), "int": await self.config.get_int("a.b"),
                "sync": self.config.get("a.b") is not None}

    @plugin_entry(id="config_update")
    async def config_update(self, **_):
        new = await self.config.update({"a": {"c": 3}})
        return {"returned": new, "now": await self.config.dump()}

    @plugin_entry(id="require_missing")
    async def require_missing(self, **_):
        await self.config.require("nope.nope")

    @plugin_entry(id="store_v2")
    async def store_v2(self, **_):
        r = await self.store.set("k", {"v": [1, 2]})
        got = await self.store.get("k")
        missing = await self.store.get("missing", "dflt")
        keys = await self.store.keys()
        return {"set_ok": r.is_ok(), "got": got.value, "missing": missing.value, "keys": keys.value,
                "path": str(self.data_path("store.db"))}

    @plugin_entry(id="store_read")
    def store_read(self, **_):
        return self.store.get("k", None)

    @plugin_entry(id="call_other")
    def call_other(self, **_):
        r = self.plugins.call_entry("other:echo", {"x": 1})
        return {"ok": r.is_ok(), "value": r.unwrap_or(None), "code": getattr(getattr(r, "error", None), "code", None)}

    @plugin_entry(id="call_other_async")
    async def call_other_async(self, **_):
        r = await self.plugins.call_entry("other:echo", {"x": 2})
        return {"ok": r.is_ok(), "value": r.unwrap_or(None)}

    @plugin_entry(id="status")
    def status(self, **_):
        self.report_status({"state": "busy"})
        return True

    @plugin_entry(id="log")
    def log(self, **_):
        self.logger.info("loguru {} style {}", 1, "x")
        self.logger.warning("percent %s style", 2)
        return True

    @timer_interval(id="tick", seconds=2)
    def tick(self, **_):
        return "tick"

    @timer_interval(id="manual_tick", seconds=5, auto_start=False)
    def manual_tick(self, **_):
        return "manual"

    @message(id="inbox", source="chat")
    def inbox(self, text: str = "", **_):
        return {"got": text}

    @custom_event(event_type="greet", id="hello")
    def greet(self, name: str = "x", **_):
        return "hello " + name

    @llm_tool(name="lookup", description="Looks up", parameters={"type": "object", "properties": {"q": {"type": "string"}}})
    def lookup(self, q: str = "", **_):
        return {"q": q}

    @lifecycle(id="freeze")
    def freeze(self, **_):
        return "frozen"
"""


@pytest.fixture
def kitchen(neko, tmp_path):
    d = write_plugin(tmp_path, KITCHEN)
    p = neko(d, "main:P")
    res = p.neko_handshake("kitchen", {"a": {"b": 1}}, data_dir=tmp_path / "data")
    assert "result" in res, (res, p.stderr)
    p.hs = res["result"]
    return p


def entries(p):
    return {e["id"]: e for e in p.hs["entries"]}


def test_handshake_declares_entries_timers_and_events(kitchen):
    e = entries(kitchen)
    assert set(e) == {"sync_add", "async_add", "ctx", "started", "err_code", "envelopes", "slow_sync", "fast_async",
                      "schema", "progress", "bad_progress", "push", "push_async", "config", "config_update",
                      "require_missing", "store_v2", "store_read", "call_other", "call_other_async", "status",
                      "log", "tick", "manual_tick", "message:inbox", "greet:hello", "llm_tool:lookup",
                      "lifecycle:freeze"}
    # inferred from type hints, _ctx / **kwargs never in the schema
    assert e["sync_add"]["inputSchema"] == {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "integer", "default": 2}}, "required": ["a"]}
    assert e["sync_add"]["description"] == "adds"
    assert e["ctx"]["inputSchema"] == {"type": "object", "properties": {}}
    # explicit schema and timeout
    assert e["schema"]["inputSchema"] == {"type": "object", "properties": {"q": {"type": "string"}}}
    assert e["schema"]["timeoutMs"] == 7000
    # the host fires auto-started timers; one with auto_start=False is a plain entry
    assert e["tick"]["kind"] == "timer" and e["tick"]["intervalMs"] == 2000
    assert "kind" not in e["manual_tick"]
    assert e["llm_tool:lookup"]["metadata"]["neko"]["extra"]["llm_tool"]["description"] == "Looks up"
    assert e["llm_tool:lookup"]["inputSchema"] == {"type": "object", "properties": {"q": {"type": "string"}}}
    assert e["message:inbox"]["metadata"]["neko"]["event_type"] == "message"
    assert not any(k in e for k in ("startup", "shutdown", "config_change"))
    assert kitchen.hs["name"] == "p"


def test_startup_lifecycle_ran_during_the_handshake_and_logged_loguru_style(kitchen):
    assert kitchen.invoke("started")[0]["result"] == {"output": True}
    logs = [n["params"]["msg"] for n in kitchen.notifications if n["method"] == "plugin/log"]
    assert "started kitchen with ['a']" in logs


def test_sync_and_async_entries_get_keyword_arguments_and_extras_are_dropped(kitchen):
    res, _ = kitchen.invoke("sync_add", {"a": 1, "b": 5, "unknown": "dropped"})
    assert res["result"]["output"]["sum"] == 6
    assert res["result"]["output"]["thread"].startswith("plugd-worker")  # sync handlers run off the event loop
    res, _ = kitchen.invoke("async_add", {"a": 1, "zzz": 3})
    assert res["result"]["output"] == {"sum": 3, "extra": ["zzz"], "has_ctx": True}
    res, _ = kitchen.invoke("sync_add", {"b": 1})
    assert res["error"]["data"]["code"] == "INVALID_INPUT"


def test_a_slow_sync_entry_does_not_block_async_ones(kitchen):
    slow = kitchen.request("plugin/invoke", {"runId": "s", "entry": "slow_sync", "input": {"seconds": 0.5}})
    t = time.monotonic()
    res, _ = kitchen.invoke("fast_async")
    assert res["result"]["output"] == "fast"
    assert time.monotonic() - t < 0.4
    assert kitchen.wait_response(slow)[0]["result"]["output"] == "slept"


def test_ctx_has_run_id_timeout_and_what_the_caller_put_in_args_ctx(kitchen):
    res, _ = kitchen.invoke_meta("ctx", run_id="R-7", meta={"ctx": {"lanlan_name": "neko", "lang": "en"}},
                                 timeout_ms=1500)
    assert res["result"]["output"] == {"lanlan_name": "neko", "lang": "en", "run_id": "R-7", "entry_timeout": 1.5}


@pytest.mark.parametrize("which,code,message", [
    ("str", "CITY_UNKNOWN", "no such city"),
    ("enum", "VALIDATION_ERROR", "bad"),
    ("none", "ENTRY_FAILED", "plain"),
    ("exc", "ENTRY_FAILED", "boom"),
    ("raise_sdk", "RAISED_CODE", "raised"),
    ("raise", "ENTRY_FAILED", "'k'"),
    ("text", "ENTRY_FAILED", "text only"),
])
def test_err_keeps_the_plugins_error_code(kitchen, which, code, message):
    res, _ = kitchen.invoke("err_code", {"which": which})
    assert res["error"]["code"] == 1013
    assert res["error"]["data"]["code"] == code
    assert res["error"]["message"] == message
    if which == "str":
        assert res["error"]["data"]["details"] == {"city": "x"}


def test_ok_and_fail_envelopes_reach_the_host_as_they_are(kitchen):
    good = kitchen.invoke("envelopes")[0]["result"]["output"]
    assert good["success"] is True and good["data"] == {"x": 1} and good["error"] is None and "time" in good
    bad = kitchen.invoke("envelopes", {"good": False})[0]["result"]["output"]
    assert bad["success"] is False
    assert bad["error"] == {"code": "MY_FAIL", "message": "it failed", "details": {"d": 1}, "retriable": False}


def test_run_update_and_export_push_become_progress_and_exports_of_the_run(kitchen):
    res, notes = kitchen.invoke("progress", run_id="P1")
    assert res["result"]["output"] == "done"
    progress = [n["params"] for n in notes if n["method"] == "run/progress"]
    assert progress[0] == {"runId": "P1", "progress": 0.5, "stage": "half", "message": "m" * 512, "step": 1,
                           "stepTotal": 2, "metrics": {"n": 1}}
    assert progress[1] == {"runId": "P1", "progress": 1}
    exports = [n["params"] for n in notes if n["method"] == "run/export"]
    assert exports == [
        {"runId": "P1", "type": "text", "label": "t", "data": "hello", "description": "d"},
        {"runId": "P1", "type": "json", "label": "j", "data": {"a": 1}},
        {"runId": "P1", "type": "url", "label": "u", "url": "https://example.invalid/x"},
        {"runId": "P1", "type": "binary", "label": "b", "data": "AAE=", "mime": "application/x-test"},
    ]
    res, _ = kitchen.invoke("bad_progress")
    assert res["error"]["data"]["code"] == "VALIDATION_ERROR"


def test_push_message_v1_and_v2_go_to_host_push_message_and_return_the_answer(kitchen):
    seen = []
    res, _ = kitchen.invoke("push", on_request=answer_all(kitchen, record=seen))
    assert res["result"]["output"] == {"submitted": True, "message_id": "m-1"}
    assert seen[0]["method"] == "host/pushMessage"
    assert seen[0]["params"] == {"source": "src", "message_type": "text", "type": "text", "description": "desc",
                                 "priority": 8, "content": "c",
                                 "metadata": {"m": 1, "message_type": "proactive_notification"}}
    seen.clear()
    kitchen.invoke("push", {"v2": True}, on_request=answer_all(kitchen, record=seen))
    assert seen[0]["params"] == {
        "source": "kitchen", "message_type": "text", "type": "text", "description": "", "priority": 0,
        "parts": [{"type": "text", "text": "a"}, {"type": "image", "binary_base64": "AQ=="}], "content": "a",
        "visibility": ["chat", "hud"], "ai_behavior": "blind",
        "metadata": {"target_lanlan": "neko", "coalesce_key": "k"}}
    # a rejection is answered, not raised; so is a transport failure
    rejected = {"submitted": False, "reason": "backpressure", "code": "BUSY"}
    res, _ = kitchen.invoke("push", on_request=answer_all(kitchen, {"host/pushMessage": rejected}))
    assert res["result"]["output"] == dict(rejected, ok=False)
    denied = {"__error__": {"code": 1010, "message": "reverse RPC is off", "data": {"code": "PERMISSION_DENIED"}}}
    res, _ = kitchen.invoke("push", on_request=answer_all(kitchen, {"host/pushMessage": denied}))
    out = res["result"]["output"]
    assert out["ok"] is False and out["submitted"] is False and out["reason"] == "transport_error"
    assert out["code"] == "PERMISSION_DENIED"
    # awaitable too
    res, _ = kitchen.invoke("push_async", on_request=answer_all(kitchen))
    assert res["result"]["output"] == {"submitted": True, "message_id": "m-1"}


def test_config_comes_from_the_handshake_and_updates_go_to_the_host(kitchen):
    res, _ = kitchen.invoke("config")
    assert res["result"]["output"] == {"dump": {"a": {"b": 1}}, "get": 1, "default": 5, "int": 1, "sync": True}
    seen = []
    res, _ = kitchen.invoke("config_update", on_request=answer_all(
        kitchen, {"host/updateConfig": {"success": True, "config": {"a": {"b": 1, "c": 3}}}}, record=seen))
    assert seen[0]["method"] == "host/updateConfig"
    assert seen[0]["params"] == {"patch": {"a": {"c": 3}}}
    assert res["result"]["output"] == {"returned": {"a": {"b": 1, "c": 3}}, "now": {"a": {"b": 1, "c": 3}}}
    res, _ = kitchen.invoke("require_missing")
    assert res["error"]["data"]["code"] == "CONFIG_PATH_NOT_FOUND"


def test_config_changed_reaches_the_config_change_lifecycle(kitchen):
    kitchen.notify("plugin/configChanged", {"config": {"a": {"b": 42}}})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if kitchen.invoke("config")[0]["result"]["output"]["get"] == 42:
            break
        time.sleep(0.02)
    assert kitchen.invoke("config")[0]["result"]["output"]["get"] == 42


def test_store_v2_returns_results_when_awaited_and_persists_under_the_data_dir(kitchen, tmp_path):
    out = kitchen.invoke("store_v2")[0]["result"]["output"]
    assert out == {"set_ok": True, "got": {"v": [1, 2]}, "missing": "dflt", "keys": ["k"],
                   "path": str(tmp_path / "data" / "plugin-data" / "kitchen" / "store.db")}
    assert kitchen.invoke("store_read")[0]["result"]["output"] == {"v": [1, 2]}
    assert os.path.isfile(out["path"])


def test_plugins_call_entry_goes_through_host_call(kitchen):
    seen = []
    res, _ = kitchen.invoke("call_other", run_id="C1",
                            on_request=answer_all(kitchen, {"host/call": {"y": 1}}, record=seen))
    assert seen[0]["method"] == "host/call"
    assert seen[0]["params"] == {"plugin": "other", "entry": "echo", "input": {"x": 1}, "timeoutMs": 10000,
                                 "parentRunId": "C1"}
    assert res["result"]["output"] == {"ok": True, "value": {"y": 1}, "code": None}
    err = {"__error__": {"code": 1013, "message": "nope", "data": {"code": "OTHER_CODE"}}}
    res, _ = kitchen.invoke("call_other", on_request=answer_all(kitchen, {"host/call": err}))
    assert res["result"]["output"] == {"ok": False, "value": None, "code": "OTHER_CODE"}
    res, _ = kitchen.invoke("call_other_async", on_request=answer_all(kitchen, {"host/call": {"z": 2}}))
    assert res["result"]["output"] == {"ok": True, "value": {"z": 2}}


def test_report_status_and_logs(kitchen):
    seen = []
    res, _ = kitchen.invoke("status", on_request=answer_all(kitchen, {"host/updateStatus": {"submitted": True}},
                                                          record=seen))
    assert res["result"]["output"] is True
    assert seen[0]["method"] == "host/updateStatus" and seen[0]["params"] == {"state": "busy"}
    _, notes = kitchen.invoke("log", run_id="L1")
    logs = [(n["params"]["level"], n["params"]["msg"], n["params"].get("runId")) for n in notes
            if n["method"] == "plugin/log"]
    assert logs == [("info", "loguru 1 style x", "L1"), ("warn", "percent 2 style", "L1")]


def test_timers_custom_events_messages_llm_tools_and_other_lifecycles_are_callable(kitchen):
    assert kitchen.invoke("tick")[0]["result"]["output"] == "tick"
    assert kitchen.invoke("manual_tick")[0]["result"]["output"] == "manual"
    assert kitchen.invoke("message:inbox", {"text": "hi"})[0]["result"]["output"] == {"got": "hi"}
    assert kitchen.invoke("greet:hello", {"name": "neko"})[0]["result"]["output"] == "hello neko"
    assert kitchen.invoke("llm_tool:lookup", {"q": "z"})[0]["result"]["output"] == {"q": "z"}
    assert kitchen.invoke("lifecycle:freeze")[0]["result"]["output"] == "frozen"


def test_shutdown_lifecycle_runs_on_plugin_shutdown(kitchen):
    res = kitchen.call("plugin/shutdown", {})
    assert res["result"] == {}
    assert kitchen.wait_exit() == 0
    kitchen.wait_stderr("shutdown ran")
    assert kitchen.stdout_garbage == b""


def test_health_is_degraded_after_a_failing_startup_with_startup_failure_warn(neko, tmp_path):
    d = write_plugin(tmp_path, """
        from plugin.sdk.plugin import NekoPluginBase, neko_plugin, plugin_entry, lifecycle, Err, SdkError
        @neko_plugin
        class P(NekoPluginBase):
            @lifecycle(id="startup")
            def startup(self, **_):
                return Err(SdkError("no token", code="NO_TOKEN"))
            @plugin_entry(id="ping")
            def ping(self):
                return "pong"
        """)
    p = neko(d, "main:P")
    assert "result" in p.neko_handshake()
    assert p.invoke("ping")[0]["result"]["output"] == "pong"
    assert p.call("plugin/health")["result"] == {"status": "degraded", "details": {"startup_error": "no token"}}


def test_a_failing_startup_with_startup_failure_fail_fails_the_handshake(neko, tmp_path):
    d = write_plugin(tmp_path, """
        from plugin.sdk.plugin import NekoPluginBase, neko_plugin, lifecycle
        @neko_plugin
        class P(NekoPluginBase):
            @lifecycle(id="startup")
            async def startup(self, **_):
                raise RuntimeError("cannot start")
        """, toml_extra='[plugin_runtime]\nstartup_failure = "fail"\n')
    p = neko(d, "main:P")
    res = p.neko_handshake()
    assert res["error"]["message"] == "cannot start"


def test_v1_imports_a_sync_store_and_a_class_without_base(neko, tmp_path):
    d = write_plugin(tmp_path, """
        from plugin.sdk.base import NekoPluginBase
        from plugin.sdk.decorators import neko_plugin, plugin_entry
        from plugin.sdk import ok

        @neko_plugin
        class P(NekoPluginBase):
            @plugin_entry(id="count")
            async def count(self, **_):
                n = self.store.get("n", 0) + 1   # v1: plain values, even inside a coroutine
                self.store.set("n", n)
                return ok(data={"n": n})

        class Bare:
            @plugin_entry(id="hi")
            def hi(self, name: str):
                return "hi " + name
        """)
    p = neko(d, "main:P")
    assert "result" in p.neko_handshake(data_dir=tmp_path / "data")
    assert p.invoke("count")[0]["result"]["output"]["data"] == {"n": 1}
    assert p.invoke("count")[0]["result"]["output"]["data"] == {"n": 2}
    p.close()
    # the store persists across processes
    p = neko(d, "main:P")
    assert "result" in p.neko_handshake(data_dir=tmp_path / "data")
    assert p.invoke("count")[0]["result"]["output"]["data"] == {"n": 3}
    # a class that is not a NekoPluginBase and takes no ctx
    q = neko(d, "main:Bare")
    hs = q.neko_handshake()
    assert [e["id"] for e in hs["result"]["entries"]] == ["hi"]
    assert q.invoke("hi", {"name": "x"})[0]["result"]["output"] == "hi x"


def test_params_model_is_validated_and_injected(neko, tmp_path):
    d = write_plugin(tmp_path, """
        from plugin.sdk.plugin import NekoPluginBase, neko_plugin, plugin_entry

        class Params:
            def __init__(self, city, days=1):
                self.city, self.days = city, days
            @classmethod
            def model_validate(cls, data):
                if "city" not in data:
                    raise ValueError("city is required")
                return cls(**data)
            @classmethod
            def model_json_schema(cls):
                return {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                        "required": ["city"]}

        @neko_plugin
        class P(NekoPluginBase):
            @plugin_entry(id="forecast", params=Params)
            def forecast(self, params: Params, **_):
                return {"city": params.city, "days": params.days}
        """)
    p = neko(d, "main:P")
    hs = p.neko_handshake()
    assert hs["result"]["entries"][0]["inputSchema"]["required"] == ["city"]
    assert p.invoke("forecast", {"city": "Paris", "days": 3})[0]["result"]["output"] == {"city": "Paris", "days": 3}
    err = p.invoke("forecast", {"days": 3})[0]["error"]
    assert err["data"]["code"] == "INVALID_INPUT" and "city is required" in err["message"]


def test_plugin_toml_scalars_are_read_without_tomllib():
    from plugd.neko_runner import _scalar_toml

    text = textwrap.dedent("""
        # comment
        [plugin]
        id = "dice_roller"
        version = '0.2.0'
        keywords = ["a", "b"]
        [plugin.store]
        enabled = true
        [plugin_runtime]
        timeout = 15   # seconds
        startup_failure = "fail"
        ratio = 1.5
        """)
    assert _scalar_toml(text) == {"plugin": {"id": "dice_roller", "version": "0.2.0", "store": {"enabled": True}},
                                  "plugin_runtime": {"timeout": 15, "startup_failure": "fail", "ratio": 1.5}}


# -- loading ----------------------------------------------------------------------------------------------------

def test_the_neko_builtin_entry_form_loads_the_folder_as_that_package(neko, tmp_path):
    # entry "plugin.plugins.neko_notes:NotesPlugin" with the class in the folder's __init__.py (examples/plugins)
    p = neko(os.path.join(EXAMPLES, "neko-notes"), "plugin.plugins.neko_notes:NotesPlugin")
    hs = p.neko_handshake("neko-notes", {"notes": {"max_notes": 1, "prefix": "N"}}, data_dir=tmp_path)
    assert {"add", "list", "summarize", "announce", "context", "settings"} <= {e["id"] for e in hs["result"]["entries"]}
    assert p.invoke("add", {"text": "one"})[0]["result"]["output"] == {"count": 1, "note": "N 1: one"}
    err = p.invoke("add", {"text": "two"})[0]["error"]
    assert err["data"] == {"code": "NOTES_FULL", "details": {"max_notes": 1}}


def test_a_package_folder_with_relative_imports(neko, tmp_path):
    d = tmp_path / "my-plugin"
    d.mkdir()
    (d / "helpers.py").write_text("def shout(s):\n    return s.upper()\n")
    (d / "__init__.py").write_text(textwrap.dedent("""
        from .helpers import shout
        from plugin.sdk.plugin import NekoPluginBase, neko_plugin, plugin_entry
        @neko_plugin
        class Shouter(NekoPluginBase):
            @plugin_entry(id="shout")
            def run(self, text: str):
                return shout(text)
        """))
    p = neko(d, "plugin.plugins.my_plugin:Shouter")
    assert "result" in p.neko_handshake()
    assert p.invoke("shout", {"text": "hey"})[0]["result"]["output"] == "HEY"


@pytest.mark.parametrize("source,entry,expect", [
    ("x = 1\n", "nosuchmod:P", "cannot import module 'nosuchmod' for entry 'nosuchmod:P'"),
    ("import surely_not_installed_pkg\n", "main:P", "it needs 'surely_not_installed_pkg', which is not installed"),
    ("class Other: pass\n", "main:P", "module 'main' has no class 'P' (entry 'main:P'"),
    ("P = 3\n", "main:P", "'P' in module 'main' is a int, not a class"),
    ("def broken(:\n", "main:P", "syntax error in"),
    ("raise RuntimeError('at import')\n", "main:P", "importing it raised RuntimeError: at import"),
    ("", "not-an-entry", "usage: python -m plugd.neko_runner module:Class"),
])
def test_load_errors_are_clear_and_exit_non_zero(neko, tmp_path, source, entry, expect):
    d = tmp_path / "p"
    d.mkdir()
    (d / "main.py").write_text(source)
    p = neko(d, entry)
    code = p.wait_exit(10)
    assert code != 0
    deadline = time.monotonic() + 2
    while expect not in p.stderr and time.monotonic() < deadline:
        time.sleep(0.01)
    assert expect in p.stderr
    assert p.stdout_garbage == b""


def test_an_exception_in_the_constructor_fails_the_handshake_with_its_message(neko, tmp_path):
    d = write_plugin(tmp_path, """
        from plugin.sdk.plugin import NekoPluginBase
        class P(NekoPluginBase):
            def __init__(self, ctx):
                super().__init__(ctx)
                raise ValueError("bad config")
        """)
    p = neko(d, "main:P")
    res = p.neko_handshake()
    assert res["error"]["data"]["code"] == "PLUGIN_INIT_FAILED"
    assert "P(ctx) raised ValueError: bad config" in res["error"]["message"]


def test_unsupported_features_fail_clearly(neko, tmp_path):
    d = write_plugin(tmp_path, """
        from plugin.sdk.plugin import NekoPluginBase, neko_plugin, plugin_entry
        @neko_plugin
        class P(NekoPluginBase):
            @plugin_entry(id="db")
            def use_db(self):
                return self.db.execute("select 1")
        """)
    p = neko(d, "main:P")
    assert "result" in p.neko_handshake()
    err = p.invoke("db")[0]["error"]
    assert err["data"]["code"] == "NOT_IMPLEMENTED" and "self.db.execute is not supported" in err["message"]
