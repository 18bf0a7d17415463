//! A plugin process driven over real pipes, for the process-level tests.
#![allow(dead_code)]

use plugd_sdk::framing::{encode_frame, FrameReader, ReadItem};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub struct Proc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub items: Receiver<ReadItem>,
    pub stderr: Receiver<String>,
    /// Responses read while waiting for another one: answers may come in any order (JSON-RPC allows it, and the
    /// SDK answers the handshake on one thread and runs on others).
    pub backlog: Vec<Value>,
}

impl Proc {
    pub fn spawn(bin: &Path) -> Proc {
        let mut child =
            Command::new(bin).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, items) = channel();
        std::thread::spawn(move || {
            for item in FrameReader::new(stdout) {
                match item {
                    Ok(i) => {
                        if tx.send(i).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let (etx, erx) = channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        let stdin = child.stdin.take();
        Proc { child, stdin, items, stderr: erx, backlog: Vec::new() }
    }

    pub fn send(&mut self, msg: Value) {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(&encode_frame(&serde_json::to_vec(&msg).unwrap())).unwrap();
        w.flush().unwrap();
    }

    /// Next frame as JSON; panics on garbage (stdout must carry frames only).
    pub fn recv(&mut self) -> Value {
        let item = match self.items.recv_timeout(Duration::from_secs(5)) {
            Ok(item) => item,
            Err(e) => {
                let status = self.child.try_wait();
                let stderr = self.stderr.recv_timeout(Duration::from_millis(500)).unwrap_or_default();
                panic!("no message from the plugin ({e}); exit status {status:?}; its stderr:\n{stderr}");
            }
        };
        match item {
            ReadItem::Frame(b) => serde_json::from_slice(&b).unwrap(),
            other => panic!("stdout carried something that is not a frame: {other:?}"),
        }
    }

    pub fn response(&mut self, id: i64) -> (Value, Vec<Value>) {
        if let Some(i) = self.backlog.iter().position(|m| m["id"] == id) {
            return (self.backlog.remove(i), Vec::new());
        }
        let mut others = Vec::new();
        loop {
            let m = self.recv();
            let is_response = m.get("method").is_none() && m.get("id").is_some();
            if is_response && m["id"] == id {
                return (m, others);
            }
            if is_response {
                self.backlog.push(m.clone());
            }
            others.push(m);
        }
    }

    pub fn handshake(&mut self) {
        self.send(json!({"jsonrpc": "2.0", "id": 1, "method": "plugin/handshake", "params": {
            "protocolVersion": "1.0", "host": {"name": "t", "version": "0"},
            "plugin": {"id": "sdk-example", "config": {}}, "supportsReverseRpc": false}}));
        let (res, _) = self.response(1);
        assert_eq!(res["result"]["sdk"]["name"], "plugd-rust");
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        None
    }
}

impl Proc {
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
    }

    /// Waits for the first message matching `pred`, returning it and what came before it.
    pub fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
        let mut others = Vec::new();
        loop {
            let m = self.recv();
            if pred(&m) {
                return (m, others);
            }
            others.push(m);
        }
    }

    /// Everything the plugin wrote to stderr (after it exited).
    pub fn stderr_text(&mut self) -> String {
        self.stderr.recv_timeout(Duration::from_secs(2)).unwrap_or_default()
    }
}
