//! The Rust conformance plugin (conformance/plugins/rust) against every rule of conformance/README.md, over real
//! pipes. Builds the plugin first (a no-op when it is up to date, as in CI after its build.sh).

mod common;

use common::Proc;
use plugd_sdk::framing::ReadItem;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn conformance_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/plugins/rust");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet"])
            .current_dir(&dir)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {} failed", dir.display());
        let bin = dir.join("target/release").join(format!("conformance{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
    .clone()
}

fn started() -> Proc {
    let mut p = Proc::spawn(&conformance_binary());
    p.handshake();
    p
}

fn invoke(p: &mut Proc, id: i64, entry: &str, input: Value) -> (Value, Vec<Value>) {
    p.send(json!({"jsonrpc": "2.0", "id": id, "method": "plugin/invoke",
        "params": {"runId": format!("run-{id}"), "entry": entry, "input": input}}));
    p.response(id)
}

#[test]
fn handshake_declares_the_entries() {
    let mut p = Proc::spawn(&conformance_binary());
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "plugin/handshake", "params": {
        "protocolVersion": "1.0", "host": {"name": "plugd", "version": "0.1.0"},
        "plugin": {"id": "conformance", "config": {}}, "supportsReverseRpc": true}}));
    let r = p.response(1).0["result"].clone();
    assert!(r["protocolVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(r["sdk"]["name"], "plugd-rust");
    assert!(r["sdk"]["version"].is_string());
    let entries = r["entries"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["echo", "progress", "fail", "slow", "export", "call", "noise", "log"]);
    assert_eq!(entries[0]["inputSchema"], json!({"type": "object"}));
    assert_eq!(
        entries[1]["inputSchema"],
        json!({"type": "object", "properties": {"steps": {"type": "integer"}}, "required": ["steps"]})
    );
}

#[test]
fn handshake_with_another_major_is_1011() {
    let mut p = Proc::spawn(&conformance_binary());
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "plugin/handshake", "params": {"protocolVersion": "2.0",
        "host": {"name": "plugd", "version": "9"}, "plugin": {"id": "conformance", "config": {}}, "supportsReverseRpc": false}}));
    let e = p.response(1).0["error"].clone();
    assert_eq!(e["code"], 1011);
    assert_eq!(e["data"]["code"], "VERSION_MISMATCH");
}

#[test]
fn entries_behave_as_specified() {
    let mut p = started();

    let input = json!({"a": [1, "two", {"three": 3.5}], "ü": null});
    assert_eq!(invoke(&mut p, 2, "echo", input.clone()).0["result"], json!({ "output": input }));

    let (res, notes) = invoke(&mut p, 3, "progress", json!({"steps": 3}));
    assert_eq!(res["result"], json!({"output": {"steps": 3}}));
    let want: Vec<Value> = (1..=3)
        .map(|i| {
            json!({"jsonrpc": "2.0", "method": "run/progress", "params": {"runId": "run-3",
            "progress": i as f64 / 3.0, "step": i, "stepTotal": 3, "message": format!("step {i}")}})
        })
        .chain([json!({"jsonrpc": "2.0", "method": "run/output", "params": {"runId": "run-3", "chunk": "done\n"}})])
        .collect();
    assert_eq!(notes, want);

    let res = invoke(&mut p, 4, "fail", json!({"code": "MY_CODE", "message": "boom"})).0;
    assert_eq!(res["error"], json!({"code": 1013, "message": "boom", "data": {"code": "MY_CODE"}}));

    assert_eq!(invoke(&mut p, 5, "slow", json!({"ms": 30})).0["result"], json!({"output": {"slept": 30}}));

    let (res, notes) = invoke(&mut p, 6, "export", json!({}));
    assert_eq!(res["result"], json!({"output": {"exports": 2}}));
    assert_eq!(
        notes,
        vec![
            json!({"jsonrpc": "2.0", "method": "run/export", "params": {"runId": "run-6", "type": "text", "label": "t", "data": "hello"}}),
            json!({"jsonrpc": "2.0", "method": "run/export", "params": {"runId": "run-6", "type": "json", "label": "j", "data": {"a": 1}}}),
        ]
    );

    let (res, notes) = invoke(&mut p, 7, "log", json!({}));
    assert_eq!(res["result"], json!({"output": {"ok": true}}));
    assert_eq!(notes[0]["method"], "plugin/log");
    assert_eq!(notes[0]["params"]["level"], "info");
    assert_eq!(notes[0]["params"]["msg"], "hello log");
}

#[test]
fn slow_is_cancelled_by_cancel_request() {
    let mut p = started();
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "plugin/invoke",
        "params": {"runId": "r", "entry": "slow", "input": {"ms": 10_000}}}));
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    p.send(json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 2}}));
    let e = p.response(2).0["error"].clone();
    assert!(t.elapsed() < Duration::from_millis(200), "{:?}", t.elapsed());
    assert_eq!(e["code"], 1004);
    assert_eq!(e["data"]["code"], "CANCELLED");
}

#[test]
fn call_makes_a_reverse_request() {
    let mut p = started();
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "plugin/invoke", "params": {"runId": "r-2", "entry": "call",
        "input": {"plugin": "other", "entry": "echo", "input": {"x": 1}}}}));
    let (req, _) = p.wait_for(|m| m["method"] == "host/call");
    assert_eq!(req["params"], json!({"plugin": "other", "entry": "echo", "input": {"x": 1}, "parentRunId": "r-2"}));
    assert!(req["id"].is_number() || req["id"].is_string());
    p.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {"x": 1}}));
    assert_eq!(p.response(2).0["result"], json!({"output": {"result": {"x": 1}}}));
}

#[test]
fn noise_goes_to_stderr() {
    let mut p = started();
    assert_eq!(invoke(&mut p, 2, "noise", json!({})).0["result"], json!({"output": {"ok": true}}));
    p.stdin = None;
    assert_eq!(p.wait_exit(Duration::from_secs(1)), Some(0));
    assert!(p.stderr_text().contains("noise to stdout"));
    while let Ok(item) = p.items.try_recv() {
        assert!(matches!(item, ReadItem::Frame(_)), "stdout carried {item:?}");
    }
}

#[test]
fn protocol_errors_and_health() {
    let mut p = started();
    assert_eq!(invoke(&mut p, 2, "nope", json!({})).0["error"]["code"], 1001);
    p.send(json!({"jsonrpc": "2.0", "id": 3, "method": "no/such"}));
    assert_eq!(p.response(3).0["error"]["code"], -32601);
    p.send_raw(b"Content-Length: 5\r\n\r\n{bad}");
    let (e, _) = p.wait_for(|m| m.get("error").is_some());
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (Value::Null, json!(-32700)));
    p.send(json!({"jsonrpc": "2.0", "id": 4}));
    let (e, _) = p.wait_for(|m| m.get("error").is_some());
    assert_eq!(e["error"]["code"], -32600);
    p.send(json!({"jsonrpc": "2.0", "id": 5, "method": "plugin/health"}));
    assert_eq!(p.response(5).0["result"], json!({"status": "ok"}));
}

#[test]
fn framing_variants() {
    let mut p = started();
    let body = r#"{"jsonrpc":"2.0","id":2,"method":"plugin/invoke","params":{"runId":"r","entry":"echo","input":{"s":"日本語"}}}"#.as_bytes();
    let mut bytes =
        format!("content-type: application/vscode-jsonrpc; charset=utf-8\r\nCONTENT-length: {}\r\n\r\n", body.len())
            .into_bytes();
    bytes.extend_from_slice(body);
    // Split mid-header and mid-character.
    let cut1 = 10;
    let cut2 = bytes.len() - 8;
    p.send_raw(&bytes[..cut1]);
    std::thread::sleep(Duration::from_millis(20));
    p.send_raw(&bytes[cut1..cut2]);
    std::thread::sleep(Duration::from_millis(20));
    p.send_raw(&bytes[cut2..]);
    assert_eq!(p.response(2).0["result"]["output"]["s"], "日本語");
    // Two frames in one write.
    let mut two = Vec::new();
    for id in [3, 4] {
        let b = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"plugin/health"}}"#);
        two.extend(plugd_sdk::framing::encode_frame(b.as_bytes()));
    }
    p.send_raw(&two);
    assert_eq!(p.response(3).0["result"]["status"], "ok");
    assert_eq!(p.response(4).0["result"]["status"], "ok");
}

#[test]
fn shutdown_exits_zero_within_a_second() {
    let mut p = started();
    let t = Instant::now();
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "plugin/shutdown", "params": {}}));
    let r = p.response(2).0["result"].clone();
    assert!(r == json!({}) || r.is_null());
    assert_eq!(p.wait_exit(Duration::from_secs(1)), Some(0));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn eof_exits_within_a_second_with_a_run_going() {
    let mut p = started();
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "plugin/invoke",
        "params": {"runId": "r", "entry": "slow", "input": {"ms": 60_000}}}));
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    p.stdin = None;
    assert!(p.wait_exit(Duration::from_secs(1)).is_some());
    assert!(t.elapsed() < Duration::from_secs(1));
}
