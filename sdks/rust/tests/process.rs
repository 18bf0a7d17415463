//! The SDK in a real process (examples/stdio.rs): stdout belongs to the protocol, EOF and shutdown exit quickly.

mod common;

use common::Proc;
use plugd_sdk::framing::ReadItem;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn example_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(find_or_build).clone()
}

fn find_or_build() -> PathBuf {
    // tests run from target/<profile>/deps; cargo builds examples into target/<profile>/examples.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join(format!("stdio{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        // `cargo test` builds examples, `cargo test --test process` does not: build it.
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "stdio"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success() && bin.exists(), "cannot build {}", bin.display());
    }
    bin
}

#[test]
fn println_goes_to_stderr_not_the_protocol() {
    let mut p = Proc::spawn(&example_binary());
    p.handshake();
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "plugin/invoke", "params": {"runId": "r1", "entry": "noise", "input": {}}}));
    let (res, others) = p.response(2);
    assert_eq!(res["result"]["output"], json!({"ok": true}));
    assert!(others.iter().any(|m| m["method"] == "plugin/log" && m["params"]["msg"] == "hello log"));
    p.send(json!({"jsonrpc": "2.0", "id": 3, "method": "plugin/invoke", "params": {"runId": "r2", "entry": "echo", "input": {"a": "ü"}}}));
    assert_eq!(p.response(3).0["result"]["output"], json!({"a": "ü"}));
    p.stdin = None;
    assert_eq!(p.wait_exit(Duration::from_secs(2)), Some(0));
    let stderr = p.stderr.recv_timeout(Duration::from_secs(2)).unwrap();
    assert!(stderr.contains("noise to stdout"), "stderr: {stderr}");
    // Nothing but frames reached stdout: the reader thread saw no garbage before EOF.
    while let Ok(item) = p.items.try_recv() {
        assert!(matches!(item, ReadItem::Frame(_)), "stdout carried {item:?}");
    }
}

#[test]
fn stdin_eof_exits_within_a_second_even_with_a_handler_stuck() {
    let mut p = Proc::spawn(&example_binary());
    p.handshake();
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "plugin/invoke", "params": {"runId": "r1", "entry": "stuck", "input": {}}}));
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    p.stdin = None;
    assert_eq!(p.wait_exit(Duration::from_secs(1)), Some(0));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn shutdown_answers_then_exits_zero() {
    let mut p = Proc::spawn(&example_binary());
    p.handshake();
    let t = Instant::now();
    p.send(json!({"jsonrpc": "2.0", "id": 9, "method": "plugin/shutdown", "params": {}}));
    assert_eq!(p.response(9).0["result"], json!({}));
    // stdin stays open: the plugin must exit on its own.
    assert_eq!(p.wait_exit(Duration::from_secs(1)), Some(0));
    assert!(t.elapsed() < Duration::from_secs(1));
    let stderr = p.stderr.recv_timeout(Duration::from_secs(2)).unwrap();
    assert!(stderr.contains("shutdown hook ran"), "stderr: {stderr}");
}

#[test]
fn piped_requests_then_eof_are_answered() {
    let mut p = Proc::spawn(&example_binary());
    p.send(json!({"jsonrpc": "2.0", "id": 1, "method": "plugin/handshake", "params": {"protocolVersion": "1.0"}}));
    p.send(json!({"jsonrpc": "2.0", "id": 2, "method": "plugin/invoke", "params": {"runId": "r", "entry": "echo", "input": {"x": 1}}}));
    p.stdin = None;
    assert_eq!(p.response(1).0["result"]["protocolVersion"], "1.0");
    assert_eq!(p.response(2).0["result"]["output"], json!({"x": 1}));
    assert_eq!(p.wait_exit(Duration::from_secs(1)), Some(0));
}
