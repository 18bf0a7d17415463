"""The wire behaviour of a plugin built on the SDK, driven as a real subprocess."""

import base64
import time

import pytest

from conftest import frame


def test_handshake_result(spawn):
    p = spawn("kitchen.py")
    res = p.handshake(config={"greeting": {"prefix": "Hi"}})
    r = res["result"]
    assert r["protocolVersion"] == "1.0"
    assert r["name"] == "kitchen" and r["version"] == "1.2.3"
    assert r["sdk"] == {"name": "plugd-python", "version": "0.1.0"}
    assert r["capabilities"] == ["cancel", "progress", "output", "export", "log", "reverse-rpc"]
    assert sorted(r["events"]) == ["*", "Ping"]
    entries = {e["id"]: e for e in r["entries"]}
    assert entries["echo"] == {"id": "echo", "description": "Echo", "inputSchema": {"type": "object"}}
    assert entries["add"] == {
        "id": "add", "description": "Adds two numbers.",
        "inputSchema": {"type": "object", "properties": {"a": {"type": "integer"},
                                                         "b": {"type": "integer", "default": 2}},
                        "required": ["a"]}}
    assert entries["tick"] == {"id": "tick", "description": "Ticks.", "kind": "timer", "intervalMs": 1500}
    assert "kind" not in entries["add"]
    p.wait_stderr("startup hook: config={'greeting': {'prefix': 'Hi'}}")
    assert p.stdout_garbage == b""


def test_version_mismatch_is_1011(spawn):
    p = spawn("kitchen.py")
    res = p.handshake(version="2.0")
    assert res["error"]["code"] == 1011
    assert res["error"]["data"]["code"] == "VERSION_MISMATCH"
    assert "2.0" in res["error"]["message"]
    res = p.handshake(version="one")
    assert res["error"]["code"] == 1011
    assert p.handshake(version="1.7")["result"]["protocolVersion"] == "1.0"  # only the major must match


def test_health(kitchen):
    assert kitchen.call("plugin/health")["result"] == {"status": "ok"}


def test_unknown_method_entry_and_bad_messages(kitchen):
    assert kitchen.call("plugin/nope")["error"]["code"] == -32601
    res, _ = kitchen.invoke("nope")
    assert res["error"]["code"] == 1001 and res["error"]["data"]["code"] == "ENTRY_NOT_FOUND"
    assert "echo" in res["error"]["data"]["available"]

    kitchen.send_raw(frame(b"{not json"))
    msg = kitchen.recv()
    assert msg["id"] is None and msg["error"]["code"] == -32700

    kitchen.send({"jsonrpc": "2.0", "id": 77})
    msg = kitchen.recv()
    assert msg["id"] == 77 and msg["error"]["code"] == -32600

    kitchen.send(42)
    msg = kitchen.recv()
    assert msg["id"] is None and msg["error"]["code"] == -32600

    kitchen.send({"id": 78, "method": "plugin/health"})  # no jsonrpc: "2.0"
    assert kitchen.recv()["error"]["code"] == -32600

    kitchen.send([])
    assert kitchen.recv()["error"]["code"] == -32600

    # an unexpected response is ignored, not answered
    kitchen.send({"jsonrpc": "2.0", "id": 999, "result": 1})
    assert kitchen.call("plugin/health")["result"] == {"status": "ok"}
    assert kitchen.stdout_garbage == b""


def test_batch(kitchen):
    kitchen.send([
        {"jsonrpc": "2.0", "id": 1, "method": "plugin/health"},
        {"jsonrpc": "2.0", "method": "plugin/onEvent", "params": {"eventType": "X", "payload": 1, "timestamp": 0}},
        {"jsonrpc": "2.0", "id": 2, "method": "plugin/invoke",
         "params": {"runId": "b", "entry": "sleepy", "input": {"ms": 50}}},
        {"jsonrpc": "2.0", "id": 3, "method": "nope"},
    ])
    msg = kitchen.recv()
    assert isinstance(msg, list)
    by_id = {m["id"]: m for m in msg}
    assert by_id[1]["result"] == {"status": "ok"}
    assert by_id[2]["result"] == {"output": {"ms": 50}}
    assert by_id[3]["error"]["code"] == -32601


def test_invoke_sync_runs_off_the_reading_thread(kitchen):
    res, _ = kitchen.invoke("where")
    assert res["result"]["output"]["thread"].startswith("plugd-worker-")
    assert res["result"]["output"]["main"] is False


def test_invoke_async_runs_on_the_loop(kitchen):
    res, _ = kitchen.invoke("aecho", {"x": 5})
    assert res["result"]["output"] == {"x": 5, "async": True, "thread": "plugd-asyncio"}


def test_invoke_echo_and_none_input(kitchen):
    res, _ = kitchen.invoke("echo", {"a": [1, "é", None], "b": {"c": True}})
    assert res["result"] == {"output": {"a": [1, "é", None], "b": {"c": True}}}
    rid = kitchen.request("plugin/invoke", {"runId": "n", "entry": "echo"})
    assert kitchen.wait_response(rid)[0]["result"] == {"output": {}}


def test_extra_input_keys_are_dropped(kitchen):
    res, _ = kitchen.invoke("add", {"a": 1, "b": 5, "unexpected": "x"})
    assert res["result"] == {"output": 6}
    res, _ = kitchen.invoke("add", {"a": 1})
    assert res["result"] == {"output": 3}


def test_missing_required_input_is_invalid_input(kitchen):
    res, _ = kitchen.invoke("add", {"b": 1})
    assert res["error"]["code"] == 1002
    assert res["error"]["data"]["code"] == "INVALID_INPUT"
    assert "a" in res["error"]["message"]


def test_non_object_input_is_invalid_input(kitchen):
    res, _ = kitchen.invoke("add", [1, 2])
    assert res["error"]["code"] == 1002


def test_plugin_error_keeps_its_code(kitchen):
    res, _ = kitchen.invoke("fail", {"code": "MY_CODE", "message": "boom"})
    assert res["error"] == {"code": 1013, "message": "boom", "data": {"code": "MY_CODE"}}
    res, _ = kitchen.invoke("fail", {"code": "CITY", "message": "no such city", "details": {"city": "X"}})
    assert res["error"]["data"] == {"code": "CITY", "details": {"city": "X"}}


def test_other_exceptions_are_entry_failed_with_traceback_on_stderr(kitchen):
    res, _ = kitchen.invoke("crash")
    assert res["error"]["code"] == 1013
    assert res["error"]["message"] == "bad value here"
    assert res["error"]["data"] == {"code": "ENTRY_FAILED", "type": "ValueError"}
    kitchen.wait_stderr("Traceback (most recent call last)")
    kitchen.wait_stderr("ValueError: bad value here")


def test_result_that_is_not_json_is_an_error(kitchen):
    res, _ = kitchen.invoke("not_json")
    assert res["error"]["code"] == 1013
    assert "not JSON" in res["error"]["message"]


def test_context(kitchen):
    rid = kitchen.request("plugin/invoke", {"runId": "r-ctx", "entry": "context_info", "input": {"z": 1},
                                            "timeoutMs": 1234})
    out = kitchen.wait_response(rid)[0]["result"]["output"]
    assert out == {"run_id": "r-ctx", "entry_id": "context_info", "config": {"greeting": {"prefix": "Hi"}},
                   "plugin_id": "test", "input": {"z": 1}, "timeout_ms": 1234}


def test_progress_and_output_notifications(kitchen):
    res, notes = kitchen.invoke("progress", {"steps": 2}, run_id="r-p")
    assert res["result"] == {"output": {"steps": 2}}
    assert [(n["method"], n["params"]) for n in notes] == [
        ("run/progress", {"runId": "r-p", "progress": 0.5, "step": 1, "stepTotal": 2, "message": "step 1"}),
        ("run/output", {"runId": "r-p", "chunk": "1\n"}),
        ("run/progress", {"runId": "r-p", "progress": 1, "step": 2, "stepTotal": 2, "message": "step 2"}),
        ("run/output", {"runId": "r-p", "chunk": "2\n"}),
        ("run/progress", {"runId": "r-p", "stage": "finishing", "eta": 0.5, "metrics": {"items": 3}}),
    ]


def test_export_notifications(kitchen):
    res, notes = kitchen.invoke("exports", run_id="r-e")
    assert res["result"] == {"output": {"exports": 4}}
    assert [n["params"] for n in notes] == [
        {"runId": "r-e", "type": "text", "label": "t", "data": "hello", "mime": "text/plain"},
        {"runId": "r-e", "type": "json", "label": "j", "data": {"a": 1}},
        {"runId": "r-e", "type": "url", "label": "u", "url": "https://example.com/x", "description": "a link"},
        {"runId": "r-e", "type": "binary", "label": "b", "data": base64.b64encode(b"\x00\x01\xff").decode(),
         "mime": "application/octet-stream"},
    ]
    assert all(n["method"] == "run/export" for n in notes)


def _cancel_after(p, entry, input, delay=0.15):
    rid = p.request("plugin/invoke", {"runId": "r-c", "entry": entry, "input": input})
    time.sleep(delay)
    t = time.monotonic()
    p.notify("$/cancelRequest", {"id": rid})
    res, _ = p.wait_response(rid, timeout=3)
    return res, time.monotonic() - t


@pytest.mark.parametrize("entry", ["slow_sync", "slow_async", "async_cleanup"])
def test_cancel_mid_run(kitchen, entry):
    res, took = _cancel_after(kitchen, entry, {"ms": 5000})
    assert res["error"]["code"] == 1004, res
    assert res["error"]["data"]["code"] == "CANCELLED"
    assert took < 1.0
    if entry == "async_cleanup":
        kitchen.wait_stderr("async_cleanup: cleaned up")


def test_cancel_event_lets_a_sync_handler_finish_its_own_way(kitchen):
    res, took = _cancel_after(kitchen, "wait_event", {"ms": 5000})
    assert res["result"] == {"output": {"saw_cancel": True}}
    assert took < 1.0


def test_wait_cancelled(kitchen):
    res, took = _cancel_after(kitchen, "async_wait_cancelled", {})
    assert res["result"] == {"output": {"watcher_done": True, "cancelled": True}}
    assert took < 1.0


def test_cancel_of_an_unknown_or_finished_request_is_ignored(kitchen):
    kitchen.notify("$/cancelRequest", {"id": 123456})
    kitchen.notify("$/cancelRequest", {})
    assert kitchen.call("plugin/health")["result"] == {"status": "ok"}


def test_runs_are_concurrent(kitchen):
    t = time.monotonic()
    ids = [kitchen.request("plugin/invoke", {"runId": "c%d" % i, "entry": "sleepy", "input": {"ms": 300}})
           for i in range(5)]
    ids.append(kitchen.request("plugin/invoke", {"runId": "ca", "entry": "slow_async", "input": {"ms": 300}}))
    for rid in ids:
        assert "result" in kitchen.wait_response(rid)[0]
    assert time.monotonic() - t < 1.2


def test_reverse_call_sync(kitchen):
    def answer(req):
        assert req["method"] == "host/call"
        assert req["params"] == {"plugin": "other", "entry": "e", "input": {"q": 1}, "parentRunId": "r-rc",
                                 "timeoutMs": 2000}
        kitchen.respond(req["id"], {"answer": 42})

    res, _ = kitchen.invoke("reverse", {"plugin": "other", "entry": "e", "input": {"q": 1}, "timeout": 2},
                            run_id="r-rc", on_request=answer)
    assert res["result"] == {"output": {"result": {"answer": 42}}}


def test_reverse_call_async(kitchen):
    def answer(req):
        assert req["params"]["parentRunId"] == "r-arc" and req["params"]["input"] == {}
        kitchen.respond(req["id"], [1, 2])

    res, _ = kitchen.invoke("areverse", {"plugin": "other", "entry": "e"}, run_id="r-arc", on_request=answer)
    assert res["result"] == {"output": {"result": [1, 2]}}


def test_reverse_call_error_propagates_with_its_code(kitchen):
    def deny(req):
        kitchen.respond(req["id"], error={"code": 1010, "message": "may not call",
                                          "data": {"code": "PERMISSION_DENIED"}})

    res, _ = kitchen.invoke("reverse", {"plugin": "other", "entry": "e"}, on_request=deny)
    assert res["error"] == {"code": 1010, "message": "may not call", "data": {"code": "PERMISSION_DENIED"}}
    res, _ = kitchen.invoke("areverse", {"plugin": "other", "entry": "e"}, on_request=deny)
    assert res["error"]["code"] == 1010


def test_cancel_during_a_reverse_call_cancels_it_too(kitchen):
    seen = []
    rid = kitchen.request("plugin/invoke", {"runId": "r-x", "entry": "reverse",
                                            "input": {"plugin": "o", "entry": "e"}})
    req = kitchen.recv()
    assert req["method"] == "host/call"
    kitchen.notify("$/cancelRequest", {"id": rid})
    while True:
        msg = kitchen.recv()
        seen.append(msg)
        if msg.get("id") == rid:
            break
    assert {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": req["id"]}} in seen
    assert msg["error"]["code"] == 1004


def test_reverse_call_timeout(kitchen):
    t = time.monotonic()
    res, _ = kitchen.invoke("reverse", {"plugin": "o", "entry": "e", "timeout": 0.1})  # never answered
    assert res["error"]["code"] == 1003 and res["error"]["data"]["code"] == "TIMEOUT"
    assert time.monotonic() - t < 3
    assert any(n["method"] == "$/cancelRequest" for n in kitchen.notifications)


def test_host_api_requests(kitchen):
    methods = []

    def answer(req):
        methods.append((req["method"], req["params"]))
        kitchen.respond(req["id"], {"submitted": True} if req["method"] != "host/getConfig" else {"c": 1})

    res, _ = kitchen.invoke("host_api", on_request=answer)
    assert res["result"]["output"] == {"push": {"submitted": True}, "emit": {"submitted": True},
                                       "config": {"c": 1}, "update": {"submitted": True}}
    assert [m for m, _ in methods] == ["host/pushMessage", "host/emitEvent", "host/getConfig", "host/updateConfig"]
    push = methods[0][1]
    assert push["content"] == "hi" and push["priority"] == 3 and push["source"] == "kitchen"
    assert methods[1][1] == {"type": "Ping", "payload": {"n": 1}}
    assert methods[3][1] == {"config": {"k": 2}}


def test_logger_sends_plugin_log(kitchen):
    res, notes = kitchen.invoke("logs", run_id="r-log")
    assert res["result"] == {"output": {"ok": True}}
    logs = [n["params"] for n in notes if n["method"] == "plugin/log"]
    assert logs[0] == {"level": "info", "msg": "info message", "runId": "r-log", "fields": {"n": 1}}
    assert logs[1] == {"level": "warn", "msg": "a warning", "runId": "r-log"}
    assert logs[2]["level"] == "error" and logs[2]["msg"].startswith("with traceback\nTraceback")
    assert logs[3] == {"level": "error", "msg": "direct", "runId": "r-log", "fields": {"k": "v"}}
    assert len(logs) == 4  # debug is below the default level


def test_print_and_fd1_go_to_stderr(kitchen):
    res, _ = kitchen.invoke("noise")
    assert res["result"] == {"output": {"ok": True}}
    for text in ("print goes to stderr", "sys.stdout too", "fd 1 too", "child stdout too"):
        kitchen.wait_stderr(text)
    assert kitchen.call("plugin/health")["result"] == {"status": "ok"}
    assert kitchen.stdout_garbage == b""


def test_events_and_config_changed(kitchen):
    kitchen.notify("plugin/onEvent", {"eventType": "Ping", "payload": {"n": 7}, "timestamp": 1})
    kitchen.notify("plugin/onEvent", {"eventType": "Other", "payload": None, "timestamp": 2})
    kitchen.notify("plugin/configChanged", {"config": {"greeting": {"prefix": "Yo"}}})
    deadline = time.monotonic() + 3
    while True:
        out = kitchen.invoke("events_seen")[0]["result"]["output"]
        if len(out["events"]) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    events = out["events"]
    assert {"ping": {"n": 7}} in events
    assert {"any": "Ping"} in events and {"any": "Other"} in events
    assert {"config_changed": {"greeting": {"prefix": "Yo"}}} in events
    assert out["config"] == {"greeting": {"prefix": "Yo"}}


def test_timer_is_invoked_like_an_entry(kitchen):
    res, _ = kitchen.invoke("tick", None, run_id="t-1")
    assert res["result"] == {"output": {"ticked": "t-1"}}


def test_garbage_from_the_host_is_skipped(kitchen):
    kitchen.send_raw(b"some junk line\r\n\r\nmore junk" + frame({"jsonrpc": "2.0", "id": 5, "method": "plugin/health"}))
    msg = kitchen.recv()
    assert msg == {"jsonrpc": "2.0", "id": 5, "result": {"status": "ok"}}
    kitchen.wait_stderr("skipped")


def test_split_and_coalesced_frames_over_the_pipe(kitchen):
    data = frame({"jsonrpc": "2.0", "id": 1, "method": "plugin/health"}) + frame(
        {"jsonrpc": "2.0", "id": 2, "method": "plugin/invoke",
         "params": {"runId": "u", "entry": "echo", "input": {"s": "é漢🎉"}}})
    for i in range(0, len(data), 7):
        kitchen.send_raw(data[i:i + 7])
        time.sleep(0.002)
    got = [kitchen.recv(), kitchen.recv()]
    assert got[0]["result"] == {"status": "ok"}
    assert got[1]["result"] == {"output": {"s": "é漢🎉"}}
    kitchen.send_raw(data)  # both in one write
    assert [kitchen.recv()["id"], kitchen.recv()["id"]] == [1, 2]


def test_shutdown_runs_hook_answers_and_exits_0(kitchen):
    t = time.monotonic()
    assert kitchen.call("plugin/shutdown", {})["result"] == {}
    assert kitchen.wait_exit(2) == 0
    assert time.monotonic() - t < 1.0
    assert "shutdown hook ran" in kitchen.stderr


def test_stdin_eof_exits_promptly_even_with_handlers_running(kitchen):
    kitchen.request("plugin/invoke", {"runId": "s", "entry": "slow_sync", "input": {"ms": 30000}})
    kitchen.request("plugin/invoke", {"runId": "s2", "entry": "sleepy", "input": {"ms": 30000}})
    kitchen.request("plugin/invoke", {"runId": "s3", "entry": "slow_async", "input": {"ms": 30000}})
    time.sleep(0.2)
    t = time.monotonic()
    kitchen.proc.stdin.close()
    assert kitchen.wait_exit(3) == 0
    assert time.monotonic() - t < 1.0


def test_stdin_eof_before_handshake(spawn):
    p = spawn("kitchen.py")
    p.proc.stdin.close()
    assert p.wait_exit(3) == 0
