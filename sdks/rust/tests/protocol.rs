//! The SDK against a fake host, in-process: handshake, invoke, errors, cancel, reverse calls, shutdown, EOF.

use plugd_sdk::testing::TestHost;
use plugd_sdk::{Entry, EntrySpec, Export, LogLevel, Plugin, PluginError, Progress, Run};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct SlowIn {
    ms: u64,
}

struct Add;
#[derive(Deserialize)]
struct AddIn {
    a: i64,
    b: i64,
}
#[derive(Serialize)]
struct AddOut {
    sum: i64,
}
impl Entry for Add {
    type Input = AddIn;
    type Output = AddOut;
    fn id(&self) -> &str {
        "add"
    }
    fn spec(&self) -> EntrySpec {
        EntrySpec::new("Adds").input_schema(json!({"type": "object", "required": ["a", "b"]}))
    }
    fn call(&self, _run: &Run, input: AddIn) -> Result<AddOut, PluginError> {
        Ok(AddOut { sum: input.a + input.b })
    }
}

fn plugin() -> Plugin {
    let mut p = Plugin::new("test-plugin", "1.2.3");
    p.entry("echo", EntrySpec::new("Echo").input_schema(json!({"type": "object"})), |_run, input| Ok(input));
    p.entry("fail", EntrySpec::new("Fails"), |_run, input| {
        let code = input["code"].as_str().unwrap_or("MY_CODE");
        let message = input["message"].as_str().unwrap_or("boom");
        let mut e = PluginError::new(code, message);
        if let Some(d) = input.get("details") {
            e = e.with_details(d.clone());
        }
        Err(e)
    });
    p.typed_entry("slow", EntrySpec::new("Sleeps, honouring cancel"), |run: &Run, input: SlowIn| {
        let until = Instant::now() + Duration::from_millis(input.ms);
        while Instant::now() < until {
            run.check_cancelled()?;
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(json!({"slept": input.ms}))
    });
    p.typed_entry("sleep", EntrySpec::new("Sleeps with run.sleep"), |run: &Run, input: SlowIn| {
        run.sleep(Duration::from_millis(input.ms))?;
        Ok(json!({"slept": input.ms}))
    });
    p.entry("report", EntrySpec::new("Progress, output, exports, log"), |run, _input| {
        for i in 1..=2 {
            run.progress(Progress::step(i, 2).message(format!("step {i}")));
        }
        run.output("done\n");
        run.export_text("t", "hello")?;
        run.export_json("j", json!({"a": 1}))?;
        run.export_url("u", "https://example.invalid/x")?;
        run.export_binary("b", b"foobar", "application/x-test")?;
        run.export(Export::text("# hi").label("a.md").mime("text/markdown").description("d"))?;
        run.log(LogLevel::Info, "hello log");
        Ok(json!({"exports": 5}))
    });
    p.entry("call", EntrySpec::new("Reverse call"), |run, input| {
        let result = run.call(
            input["plugin"].as_str().unwrap_or(""),
            input["entry"].as_str().unwrap_or(""),
            input["input"].clone(),
        )?;
        Ok(json!({ "result": result }))
    });
    p.entry("panic", EntrySpec::new("Panics"), |_run, _input| panic!("oh no"));
    p.entry("whoami", EntrySpec::new("Run facts"), |run, _input| {
        Ok(json!({"runId": run.id(), "entry": run.entry(), "plugin": run.plugin_id(), "config": run.config()}))
    });
    p.entry("parse", EntrySpec::new("? on std errors"), |_run, input| {
        let n: i64 = input["n"].as_str().unwrap_or("").parse()?;
        Ok(json!(n))
    });
    p.register(Add);
    p
}

fn started() -> TestHost {
    let mut h = TestHost::start(plugin());
    h.handshake();
    h
}

fn error_of(res: &Value) -> &Value {
    res.get("error").unwrap_or_else(|| panic!("expected an error, got {res}"))
}

#[test]
fn handshake_describes_the_plugin() {
    let mut h = TestHost::start(plugin());
    let r = h.handshake();
    assert_eq!(r["protocolVersion"], "1.0");
    assert_eq!(r["name"], "test-plugin");
    assert_eq!(r["version"], "1.2.3");
    assert_eq!(r["sdk"]["name"], "plugd-rust");
    assert_eq!(r["sdk"]["version"], env!("CARGO_PKG_VERSION"));
    let entries = r["entries"].as_array().unwrap();
    assert_eq!(entries[0], json!({"id": "echo", "description": "Echo", "inputSchema": {"type": "object"}}));
    let ids: Vec<_> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["echo", "fail", "slow", "sleep", "report", "call", "panic", "whoami", "parse", "add"]);
    assert_eq!(r["events"], json!([]));
    // The same list as every plugd SDK (packages/sdk/src/runtime.ts).
    assert_eq!(r["capabilities"], json!(["cancel", "progress", "output", "export", "log", "reverse-rpc"]));
}

#[test]
fn handshake_refuses_another_major() {
    let mut h = TestHost::start(plugin());
    for v in ["2.0", "0.9", "banana", ""] {
        let res = h.call("plugin/handshake", json!({"protocolVersion": v, "plugin": {"id": "x", "config": {}}}));
        let e = error_of(&res);
        assert_eq!(e["code"], 1011, "{v}: {res}");
        assert_eq!(e["data"]["code"], "VERSION_MISMATCH");
    }
    // A compatible minor is fine.
    let res = h.call("plugin/handshake", json!({"protocolVersion": "1.7", "plugin": {"id": "x", "config": {}}}));
    assert_eq!(res["result"]["protocolVersion"], "1.0");
}

#[test]
fn invoke_echo_and_typed_entries() {
    let mut h = started();
    let input = json!({"text": "héllo 🎉", "n": [1, 2, {"deep": null}]});
    let res = h.invoke("echo", input.clone());
    assert_eq!(res["jsonrpc"], "2.0");
    assert_eq!(res["result"], json!({ "output": input }));
    assert_eq!(h.invoke("add", json!({"a": 2, "b": 40}))["result"]["output"], json!({"sum": 42}));
    let res = h.invoke("add", json!({"a": "two"}));
    assert_eq!(error_of(&res)["code"], 1002);
    assert_eq!(error_of(&res)["data"]["code"], "INVALID_INPUT");
}

#[test]
fn run_knows_its_run_and_config() {
    let mut h = TestHost::start(plugin());
    h.handshake_with(json!({"id": "mine", "config": {"greeting": {"prefix": "Hi"}}}));
    let id = h.request("plugin/invoke", json!({"runId": "r-42", "entry": "whoami", "input": {}}));
    let out = h.response(&id)["result"]["output"].clone();
    assert_eq!(
        out,
        json!({"runId": "r-42", "entry": "whoami", "plugin": "mine", "config": {"greeting": {"prefix": "Hi"}}})
    );
    h.notify("plugin/configChanged", json!({"config": {"greeting": {"prefix": "Yo"}}}));
    let out = h.invoke("whoami", json!({}))["result"]["output"].clone();
    assert_eq!(out["config"]["greeting"]["prefix"], "Yo");
}

#[test]
fn errors_carry_their_codes() {
    let mut h = started();
    let res = h.invoke("fail", json!({"code": "MY_CODE", "message": "boom"}));
    assert_eq!(res["error"], json!({"code": 1013, "message": "boom", "data": {"code": "MY_CODE"}}));
    let res = h.invoke("fail", json!({"code": "X", "message": "y", "details": {"n": 1}}));
    assert_eq!(res["error"]["data"], json!({"code": "X", "details": {"n": 1}}));

    let res = h.invoke("nope", json!({}));
    assert_eq!(error_of(&res)["code"], 1001);
    assert_eq!(error_of(&res)["data"]["code"], "ENTRY_NOT_FOUND");
    assert!(error_of(&res)["data"]["available"].as_array().unwrap().contains(&json!("echo")));

    let res = h.invoke("panic", json!({}));
    assert_eq!(error_of(&res)["code"], 1013);
    assert_eq!(error_of(&res)["data"]["code"], "ENTRY_FAILED");
    assert!(error_of(&res)["message"].as_str().unwrap().contains("oh no"));

    let res = h.invoke("parse", json!({"n": "x"}));
    assert_eq!(error_of(&res)["data"], json!({"code": "ENTRY_FAILED", "type": "ParseIntError"}));

    let res = h.call("plugin/invoke", json!({"entry": 5}));
    assert_eq!(error_of(&res)["code"], -32602);
}

#[test]
fn protocol_errors() {
    let mut h = started();
    let res = h.call("no/such", json!({}));
    assert_eq!(error_of(&res)["code"], -32601);

    h.send_raw(b"Content-Length: 9\r\n\r\n{not json");
    let res = h.wait_for("parse error", |m| m.get("error").is_some());
    assert_eq!(res["id"], Value::Null);
    assert_eq!(res["error"]["code"], -32700);

    for bad in [json!(42), json!({"id": 7, "method": "plugin/health"}), json!({"jsonrpc": "2.0", "id": 8})] {
        h.send(&bad);
        let res = h.wait_for("invalid request", |m| m.get("error").is_some());
        assert_eq!(res["error"]["code"], -32600, "{bad} → {res}");
        let want_id = bad.get("id").cloned().unwrap_or(Value::Null);
        assert_eq!(res["id"], want_id);
    }
    // An invalid *response* is not answered (no ping-pong), and the stream keeps working.
    h.send(&json!({"id": 99, "result": 1}));
    assert_eq!(h.call("plugin/health", json!({}))["result"], json!({"status": "ok"}));
    assert!(h.next_message(Duration::from_millis(50)).is_none());
}

#[test]
fn batches_answer_in_one_array() {
    let mut h = started();
    h.send(&json!([
        {"jsonrpc": "2.0", "id": "a", "method": "plugin/health"},
        {"jsonrpc": "2.0", "method": "plugin/configChanged", "params": {"config": {}}},
        {"jsonrpc": "2.0", "id": "b", "method": "plugin/invoke", "params": {"runId": "r", "entry": "echo", "input": {"x": 1}}},
    ]));
    let res = h.wait_for("batch answer", Value::is_array);
    let arr = res.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let by_id = |id: &str| arr.iter().find(|m| m["id"] == id).unwrap().clone();
    assert_eq!(by_id("a")["result"], json!({"status": "ok"}));
    assert_eq!(by_id("b")["result"], json!({"output": {"x": 1}}));
    h.send(&json!([]));
    let res = h.wait_for("empty batch error", |m| m.get("error").is_some());
    assert_eq!(res["error"]["code"], -32600);
}

#[test]
fn progress_output_exports_and_logs() {
    let mut h = started();
    let id = h.request("plugin/invoke", json!({"runId": "r-1", "entry": "report", "input": {}}));
    let res = h.response(&id);
    assert_eq!(res["result"]["output"], json!({"exports": 5}));
    let progress = h.take_notifications("run/progress");
    assert_eq!(
        progress,
        vec![
            json!({"jsonrpc": "2.0", "method": "run/progress", "params": {"runId": "r-1", "progress": 0.5, "step": 1, "stepTotal": 2, "message": "step 1"}}),
            json!({"jsonrpc": "2.0", "method": "run/progress", "params": {"runId": "r-1", "progress": 1.0, "step": 2, "stepTotal": 2, "message": "step 2"}}),
        ]
    );
    let output = h.take_notifications("run/output");
    assert_eq!(output[0]["params"], json!({"runId": "r-1", "chunk": "done\n"}));
    let exports: Vec<Value> = h.take_notifications("run/export").into_iter().map(|m| m["params"].clone()).collect();
    assert_eq!(exports[0], json!({"runId": "r-1", "type": "text", "label": "t", "data": "hello"}));
    assert_eq!(exports[1], json!({"runId": "r-1", "type": "json", "label": "j", "data": {"a": 1}}));
    assert_eq!(exports[2], json!({"runId": "r-1", "type": "url", "label": "u", "url": "https://example.invalid/x"}));
    assert_eq!(
        exports[3],
        json!({"runId": "r-1", "type": "binary", "label": "b", "mime": "application/x-test", "data": "Zm9vYmFy"})
    );
    assert_eq!(exports[4]["description"], "d");
    let logs = h.take_notifications("plugin/log");
    assert_eq!(logs[0]["params"], json!({"level": "info", "msg": "hello log", "runId": "r-1"}));
}

#[test]
fn one_write_per_message() {
    let mut h = started();
    h.take_write_count();
    h.invoke("report", json!({}));
    // 2 progress + 1 output + 5 exports + 1 log + 1 response
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(h.take_write_count(), 10);
}

#[test]
fn cancel_stops_a_run() {
    let mut h = started();
    for entry in ["slow", "sleep"] {
        let t = Instant::now();
        let id = h.start_invoke(entry, json!({"ms": 10_000}));
        std::thread::sleep(Duration::from_millis(50));
        h.cancel(&id);
        let res = h.response(&id);
        assert_eq!(res["error"]["code"], 1004, "{res}");
        assert_eq!(res["error"]["data"]["code"], "CANCELLED");
        assert!(t.elapsed() < Duration::from_secs(2), "{entry} took {:?}", t.elapsed());
    }
    // Cancelling an unknown or finished request is harmless.
    h.cancel(&json!(12345));
    assert_eq!(h.invoke("slow", json!({"ms": 1}))["result"]["output"], json!({"slept": 1}));
}

#[test]
fn invokes_run_concurrently() {
    let mut h = started();
    let t = Instant::now();
    let ids: Vec<Value> = (0..4).map(|_| h.start_invoke("slow", json!({"ms": 300}))).collect();
    for id in &ids {
        assert_eq!(h.response(id)["result"]["output"], json!({"slept": 300}));
    }
    assert!(t.elapsed() < Duration::from_millis(1000), "not concurrent: {:?}", t.elapsed());
    // Health answers while runs are busy.
    let id = h.start_invoke("slow", json!({"ms": 500}));
    let t = Instant::now();
    assert_eq!(h.call("plugin/health", json!({}))["result"], json!({"status": "ok"}));
    assert!(t.elapsed() < Duration::from_millis(300));
    h.response(&id);
}

fn reverse_request(h: &mut TestHost) -> Value {
    h.wait_for("a reverse request", |m| m.get("method").is_some() && m.get("id").is_some())
}

#[test]
fn reverse_call_round_trip() {
    let mut h = started();
    let id = h.request(
        "plugin/invoke",
        json!({"runId": "r-7", "entry": "call", "input": {"plugin": "weather", "entry": "today", "input": {"city": "Oslo"}}}),
    );
    let req = reverse_request(&mut h);
    assert_eq!(req["method"], "host/call");
    assert_eq!(
        req["params"],
        json!({"plugin": "weather", "entry": "today", "input": {"city": "Oslo"}, "parentRunId": "r-7"})
    );
    h.send(&json!({"jsonrpc": "2.0", "id": req["id"], "result": {"temp": 3}}));
    assert_eq!(h.response(&id)["result"]["output"], json!({"result": {"temp": 3}}));

    // Host errors come back with their code.
    let id = h.start_invoke("call", json!({"plugin": "x", "entry": "y", "input": {}}));
    let req = reverse_request(&mut h);
    h.send(&json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": 1010, "message": "denied", "data": {"code": "PERMISSION_DENIED", "hint": "grant it"}}}));
    let res = h.response(&id);
    assert_eq!(
        res["error"],
        json!({"code": 1010, "message": "denied", "data": {"code": "PERMISSION_DENIED", "hint": "grant it"}})
    );
}

#[test]
fn concurrent_reverse_calls_are_matched_by_id() {
    let mut h = started();
    let a = h.start_invoke("call", json!({"plugin": "p", "entry": "a", "input": 1}));
    let b = h.start_invoke("call", json!({"plugin": "p", "entry": "b", "input": 2}));
    let r1 = reverse_request(&mut h);
    let r2 = reverse_request(&mut h);
    assert_ne!(r1["id"], r2["id"]);
    // Answer in reverse order, echoing the entry name.
    for r in [&r2, &r1] {
        h.send(&json!({"jsonrpc": "2.0", "id": r["id"], "result": r["params"]["entry"]}));
    }
    assert_eq!(h.response(&a)["result"]["output"]["result"], "a");
    assert_eq!(h.response(&b)["result"]["output"]["result"], "b");
}

#[test]
fn reverse_call_times_out_and_tells_the_host() {
    let mut p = plugin();
    p.reverse_call_timeout(Duration::from_millis(100));
    let mut h = TestHost::start(p);
    h.handshake();
    let id = h.start_invoke("call", json!({"plugin": "p", "entry": "e", "input": {}}));
    let req = reverse_request(&mut h);
    let res = h.response(&id);
    assert_eq!(res["error"]["code"], 1003);
    assert_eq!(res["error"]["data"]["code"], "TIMEOUT");
    let cancels = h.take_notifications("$/cancelRequest");
    assert_eq!(cancels[0]["params"], json!({"id": req["id"]}));
    // A late answer is ignored.
    h.send(&json!({"jsonrpc": "2.0", "id": req["id"], "result": 1}));
    assert_eq!(h.call("plugin/health", json!({}))["result"]["status"], "ok");
}

#[test]
fn cancel_interrupts_a_waiting_reverse_call() {
    let mut h = started();
    let id = h.start_invoke("call", json!({"plugin": "p", "entry": "e", "input": {}}));
    let req = reverse_request(&mut h);
    let t = Instant::now();
    h.cancel(&id);
    let res = h.response(&id);
    assert_eq!(res["error"]["code"], 1004, "{res}");
    assert!(t.elapsed() < Duration::from_millis(500));
    let cancels = h.take_notifications("$/cancelRequest");
    assert_eq!(cancels[0]["params"], json!({"id": req["id"]}));
}

#[test]
fn hooks_startup_config_events() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut p = plugin();
    let s = seen.clone();
    p.on_startup(move |cfg| {
        s.lock().unwrap().push(format!("startup {cfg}"));
        Ok(())
    });
    let s = seen.clone();
    p.on_config_changed(move |cfg| s.lock().unwrap().push(format!("config {cfg}")));
    let s = seen.clone();
    p.on_event("SyncStarted", move |ev| s.lock().unwrap().push(format!("event {} {}", ev.event_type, ev.payload)));
    let s = seen.clone();
    p.on_event("*", move |ev| s.lock().unwrap().push(format!("any {}", ev.event_type)));
    // A hook may talk to the host through a Host handle.
    let host = p.host();
    p.on_event("Ping", move |_ev| {
        let _ = host.emit_event("Pong", json!({"n": 1}));
    });
    let mut h = TestHost::start(p);
    let r = h.handshake_with(json!({"id": "x", "config": {"k": 1}}));
    assert_eq!(r["events"], json!(["SyncStarted", "*", "Ping"]));
    h.notify("plugin/onEvent", json!({"eventType": "SyncStarted", "payload": {"a": 1}, "timestamp": 1}));
    h.notify("plugin/onEvent", json!({"eventType": "Other", "payload": null, "timestamp": 2}));
    h.notify("plugin/configChanged", json!({"config": {"k": 2}}));
    h.notify("plugin/onEvent", json!({"eventType": "Ping", "payload": {}, "timestamp": 3}));
    let req = reverse_request(&mut h);
    assert_eq!(req["method"], "host/emitEvent");
    assert_eq!(req["params"], json!({"type": "Pong", "payload": {"n": 1}}));
    h.send(&json!({"jsonrpc": "2.0", "id": req["id"], "result": {"submitted": true}}));
    h.call("plugin/health", json!({}));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![r#"startup {"k":1}"#, r#"event SyncStarted {"a":1}"#, "any Other", r#"config {"k":2}"#]
    );
}

#[test]
fn failing_startup_fails_the_handshake() {
    let mut p = plugin();
    p.on_startup(|_cfg| Err(PluginError::new("NO_DB", "cannot open the database")));
    let mut h = TestHost::start(p);
    let res = h.call("plugin/handshake", json!({"protocolVersion": "1.0", "plugin": {"id": "x", "config": {}}}));
    assert_eq!(res["error"], json!({"code": 1013, "message": "cannot open the database", "data": {"code": "NO_DB"}}));
}

#[test]
fn shutdown_runs_the_hook_answers_and_returns() {
    let hook_ran = Arc::new(AtomicBool::new(false));
    let mut p = plugin();
    let flag = hook_ran.clone();
    p.on_shutdown(move || flag.store(true, Ordering::SeqCst));
    let mut h = TestHost::start(p);
    h.handshake();
    let res = h.call("plugin/shutdown", json!({}));
    assert_eq!(res["result"], json!({}));
    assert!(hook_ran.load(Ordering::SeqCst));
    assert_eq!(h.wait_exit(Duration::from_secs(1)), Some(0));
}

#[test]
fn eof_returns_promptly_with_a_handler_running() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let mut p = plugin();
    let c = cancelled.clone();
    p.entry("stubborn", EntrySpec::new("Ignores nothing, but takes long"), move |run, _| {
        let stopped = run.sleep(Duration::from_secs(30)).is_err();
        if stopped {
            c.fetch_add(1, Ordering::SeqCst);
        }
        Ok(json!(null))
    });
    let mut h = TestHost::start(p);
    h.handshake();
    h.start_invoke("stubborn", json!({}));
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    h.close_input();
    assert_eq!(h.wait_exit(Duration::from_secs(1)), Some(0));
    assert!(t.elapsed() < Duration::from_millis(500));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(cancelled.load(Ordering::SeqCst), 1, "the running handler saw its cancellation");
}

#[test]
fn garbage_and_odd_framing_from_the_host() {
    let mut h = started();
    let body = br#"{"jsonrpc":"2.0","id":"g","method":"plugin/health"}"#;
    let mut bytes = b"some noise\r\n\r\n".to_vec();
    bytes.extend(format!("content-type: application/json\r\nCONTENT-LENGTH: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend(body);
    // Split the frame into two writes, then two frames in one write.
    let (a, b) = bytes.split_at(bytes.len() - 10);
    h.send_raw(a);
    std::thread::sleep(Duration::from_millis(20));
    h.send_raw(b);
    assert_eq!(h.response(&json!("g"))["result"]["status"], "ok");
    let mut two = Vec::new();
    for id in ["x", "y"] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":"{id}","method":"plugin/invoke","params":{{"runId":"r","entry":"echo","input":{{"s":"日本"}}}}}}"#
        );
        two.extend(plugd_sdk::framing::encode_frame(body.as_bytes()));
    }
    h.send_raw(&two);
    assert_eq!(h.response(&json!("x"))["result"]["output"]["s"], "日本");
    assert_eq!(h.response(&json!("y"))["result"]["output"]["s"], "日本");
}

#[test]
fn oversize_request_is_refused_and_the_stream_survives() {
    let mut p = plugin();
    p.max_message_bytes(1000);
    p.entry("big", EntrySpec::new("Big answer"), |_run, input| {
        Ok(json!("x".repeat(input["n"].as_u64().unwrap() as usize)))
    });
    let mut h = TestHost::start(p);
    h.handshake();
    let id = h.request("plugin/invoke", json!({"runId": "r", "entry": "echo", "input": {"s": "a".repeat(5000)}}));
    let res = h.response(&id);
    assert_eq!(res["error"]["code"], 1008);
    assert_eq!(res["error"]["data"]["code"], "MESSAGE_TOO_LARGE");
    // An answer over the limit becomes an error too.
    let res = h.invoke("big", json!({"n": 2000}));
    assert_eq!(res["error"]["code"], 1008, "{res}");
    assert_eq!(h.invoke("echo", json!({"s": "ok"}))["result"]["output"]["s"], "ok");
}

#[test]
fn requests_written_before_eof_are_still_answered() {
    let mut h = TestHost::start(plugin());
    let hs = h.request("plugin/handshake", json!({"protocolVersion": "1.0", "plugin": {"id": "x", "config": {}}}));
    let echo = h.start_invoke("echo", json!({"piped": true}));
    let slow = h.start_invoke("sleep", json!({"ms": 60_000}));
    h.close_input();
    assert_eq!(h.response(&hs)["result"]["protocolVersion"], "1.0");
    assert_eq!(h.response(&echo)["result"]["output"], json!({"piped": true}));
    // The host is gone, so the long run is cancelled rather than waited for.
    assert_eq!(h.response(&slow)["error"]["code"], 1004);
    assert_eq!(h.wait_exit(Duration::from_secs(1)), Some(0));
}
