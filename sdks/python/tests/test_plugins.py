"""Start-up cost, early stdout capture, the conformance plugin and the example plugin."""

import os
import time

from conftest import REPO


def test_startup_imports_nothing_heavy(spawn):
    # -S: without site, nothing but the plugin and the SDK imports modules.
    p = spawn("minimal.py", python_args=("-S", "-u"))
    assert "result" in p.handshake()
    res, _ = p.invoke("modules")
    assert res["result"]["output"] == {"loaded": []}
    assert p.invoke("hello", {"name": "x"})[0]["result"] == {"output": "hello x"}


def test_print_at_import_goes_to_stderr_with_plugd_runtime_imported_first(spawn):
    p = spawn("early_print.py")
    assert "result" in p.handshake()
    assert p.invoke("ping")[0]["result"] == {"output": "pong"}
    p.wait_stderr("printed at import time")
    assert p.stdout_garbage == b""


def conformance(spawn):
    p = spawn(os.path.join(REPO, "conformance", "plugins", "python", "conformance_plugin.py"))
    res = p.handshake(plugin_id="conformance")
    return p, res["result"]


def test_conformance_plugin(spawn):
    p, hs = conformance(spawn)
    assert hs["protocolVersion"].startswith("1.")
    entries = {e["id"]: e for e in hs["entries"]}
    assert sorted(entries) == sorted(["echo", "progress", "fail", "slow", "export", "call", "noise", "log"])
    assert entries["echo"]["inputSchema"] == {"type": "object"}
    assert entries["progress"]["inputSchema"] == {"type": "object", "properties": {"steps": {"type": "integer"}},
                                                  "required": ["steps"]}

    assert p.invoke("echo", {"x": [1, {"y": "é"}]})[0]["result"] == {"output": {"x": [1, {"y": "é"}]}}

    res, notes = p.invoke("progress", {"steps": 3}, run_id="R")
    assert res["result"] == {"output": {"steps": 3}}
    assert [n["params"] for n in notes] == [
        {"runId": "R", "progress": 1 / 3, "step": 1, "stepTotal": 3, "message": "step 1"},
        {"runId": "R", "progress": 2 / 3, "step": 2, "stepTotal": 3, "message": "step 2"},
        {"runId": "R", "progress": 1, "step": 3, "stepTotal": 3, "message": "step 3"},
        {"runId": "R", "chunk": "done\n"},
    ]
    assert [n["method"] for n in notes] == ["run/progress"] * 3 + ["run/output"]

    res, _ = p.invoke("fail", {"code": "MY_CODE", "message": "boom"})
    assert res["error"] == {"code": 1013, "message": "boom", "data": {"code": "MY_CODE"}}

    assert p.invoke("slow", {"ms": 30})[0]["result"] == {"output": {"slept": 30}}
    rid = p.request("plugin/invoke", {"runId": "S", "entry": "slow", "input": {"ms": 5000}})
    time.sleep(0.1)
    t = time.monotonic()
    p.notify("$/cancelRequest", {"id": rid})
    res, _ = p.wait_response(rid)
    assert res["error"]["code"] == 1004 and res["error"]["data"]["code"] == "CANCELLED"
    assert time.monotonic() - t < 0.2

    res, notes = p.invoke("export", {}, run_id="E")
    assert res["result"] == {"output": {"exports": 2}}
    assert [n["params"] for n in notes] == [{"runId": "E", "type": "text", "label": "t", "data": "hello"},
                                           {"runId": "E", "type": "json", "label": "j", "data": {"a": 1}}]

    def answer(req):
        assert req["method"] == "host/call"
        assert req["params"] == {"plugin": "p", "entry": "e", "input": {"q": 1}, "parentRunId": "C"}
        p.respond(req["id"], {"r": 2})

    res, _ = p.invoke("call", {"plugin": "p", "entry": "e", "input": {"q": 1}}, run_id="C", on_request=answer)
    assert res["result"] == {"output": {"result": {"r": 2}}}

    assert p.invoke("noise")[0]["result"] == {"output": {"ok": True}}
    p.wait_stderr("noise to stdout")

    res, notes = p.invoke("log", run_id="L")
    assert res["result"] == {"output": {"ok": True}}
    assert {"level": "info", "msg": "hello log", "runId": "L"} in [n["params"] for n in notes]

    assert p.call("plugin/health")["result"] == {"status": "ok"}
    assert p.stdout_garbage == b""
    assert p.call("plugin/shutdown", {})["result"] == {}
    assert p.wait_exit(1) == 0


def test_conformance_plugin_exits_on_eof_with_a_handler_running(spawn):
    p, _ = conformance(spawn)
    p.request("plugin/invoke", {"runId": "S", "entry": "slow", "input": {"ms": 60000}})
    time.sleep(0.1)
    t = time.monotonic()
    p.proc.stdin.close()
    assert p.wait_exit(2) == 0
    assert time.monotonic() - t < 1.0


def test_conformance_manifest():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        return
    with open(os.path.join(REPO, "conformance", "plugins", "python", "plugin.toml"), "rb") as f:
        m = tomllib.load(f)
    assert m["plugin"]["id"] == "conformance"
    assert m["plugin"]["runtime"] == "python" and m["plugin"]["entry"] == "conformance_plugin.py"


def test_hello_python_example(spawn):
    d = os.path.join(REPO, "examples", "plugins", "hello-python")
    try:
        import tomllib

        with open(os.path.join(d, "plugin.toml"), "rb") as f:
            manifest = tomllib.load(f)
        assert manifest["plugin"]["runtime"] == "python" and manifest["plugin"]["entry"] == "main.py"
        assert manifest["plugin_runtime"]["auto_start"] is True
        config = {"greeting": manifest["greeting"]}
    except ImportError:
        config = {"greeting": {"prefix": "Hello"}}
    p = spawn(os.path.join(d, "main.py"))
    hs = p.handshake(config=config, plugin_id="hello-python")["result"]
    assert hs["name"] == "hello-python"
    assert {e["id"] for e in hs["entries"]} == {"echo", "greet", "count"}

    assert p.invoke("greet", {"name": "Ada"})[0]["result"] == {"output": "Hello, Ada!"}
    assert p.invoke("echo", {"a": 1})[0]["result"] == {"output": {"a": 1}}
    res, notes = p.invoke("count", {"to": 3, "delay_ms": 1})
    assert res["result"] == {"output": {"counted": 3}}
    assert [n["params"].get("step") for n in notes if n["method"] == "run/progress"] == [1, 2, 3]

    rid = p.request("plugin/invoke", {"runId": "c", "entry": "count", "input": {"to": 1000, "delay_ms": 50}})
    time.sleep(0.2)
    p.notify("$/cancelRequest", {"id": rid})
    res, _ = p.wait_response(rid)
    assert res["error"]["code"] == 1004

    p.notify("plugin/configChanged", {"config": {"greeting": {"prefix": "Hej"}}})
    time.sleep(0.05)
    assert p.invoke("greet", {"name": "Ada", "punctuation": "."})[0]["result"] == {"output": "Hej, Ada."}
    res, _ = p.invoke("greet", {"name": " "})
    assert res["error"]["data"]["code"] == "EMPTY_NAME"
