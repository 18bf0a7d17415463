//! A fake host for testing plugins in-process, without spawning anything.
//!
//! ```
//! use plugd_sdk::{testing::TestHost, EntrySpec, Plugin};
//! use serde_json::json;
//!
//! let mut p = Plugin::new("demo", "0.1.0");
//! p.entry("echo", EntrySpec::new("Echo"), |_run, input| Ok(input));
//! let mut host = TestHost::start(p);
//! host.handshake();
//! let res = host.invoke("echo", json!({"x": 1}));
//! assert_eq!(res["result"]["output"], json!({"x": 1}));
//! ```

use crate::framing::{encode_frame, FrameReader, ReadItem};
use crate::plugin::Plugin;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The read end of an in-memory pipe.
pub struct PipeReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

/// The write end of an in-memory pipe; dropping it ends the stream.
#[derive(Clone)]
pub struct PipeWriter {
    tx: Sender<Vec<u8>>,
}

/// An in-memory byte pipe (each `write` arrives as one chunk at the reader).
pub fn pipe() -> (PipeWriter, PipeReader) {
    let (tx, rx) = channel();
    (PipeWriter { tx }, PipeReader { rx, buf: Vec::new(), pos: 0 })
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = (self.buf.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.tx.send(data.to_vec()).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "pipe closed"))?;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Serves a [`Plugin`] on a thread and plays the host: sends requests, collects what the plugin sends.
/// Every wait gives up after [`timeout`](Self::set_timeout) (5 s) with a panic naming what was awaited.
pub struct TestHost {
    to_plugin: Option<PipeWriter>,
    from_plugin: Receiver<Value>,
    backlog: VecDeque<Value>,
    next_id: i64,
    server: Option<JoinHandle<i32>>,
    timeout: Duration,
    /// Every write the plugin made (one per frame, if the SDK keeps its promise).
    writes: Receiver<usize>,
}

impl TestHost {
    pub fn start(plugin: Plugin) -> Self {
        let (to_plugin, plugin_in) = pipe();
        let (plugin_out, mut host_in) = pipe();
        let (msg_tx, msg_rx) = channel();
        let (writes_tx, writes_rx) = channel();
        let server = std::thread::spawn(move || plugin.serve_io(plugin_in, plugin_out));
        std::thread::spawn(move || {
            // Count writes as they arrive, then frame them.
            let (counted_tx, counted_rx) = pipe();
            std::thread::spawn(move || {
                let mut counted_tx = counted_tx;
                let mut chunk = vec![0u8; 1 << 20];
                loop {
                    // One `read` of PipeReader returns at most one write's bytes.
                    match host_in.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let _ = writes_tx.send(n);
                            if counted_tx.write_all(&chunk[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            for item in FrameReader::new(counted_rx) {
                let msg = match item {
                    Ok(ReadItem::Frame(body)) => {
                        serde_json::from_slice(&body).unwrap_or_else(|e| json!({"$unparsable": e.to_string()}))
                    }
                    Ok(ReadItem::Garbage { text, .. }) => json!({ "$garbage": text }),
                    Ok(ReadItem::Oversize { length, .. }) => json!({ "$oversize": length }),
                    Err(_) => break,
                };
                if msg_tx.send(msg).is_err() {
                    break;
                }
            }
        });
        TestHost {
            to_plugin: Some(to_plugin),
            from_plugin: msg_rx,
            backlog: VecDeque::new(),
            next_id: 1,
            server: Some(server),
            timeout: Duration::from_secs(5),
            writes: writes_rx,
        }
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends raw bytes to the plugin's stdin.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        if let Some(w) = &mut self.to_plugin {
            let _ = w.write_all(bytes);
        }
    }

    /// Sends one framed message.
    pub fn send(&mut self, msg: &Value) {
        let body = serde_json::to_vec(msg).expect("serializable");
        self.send_raw(&encode_frame(&body));
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request; returns its id.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = json!(self.next_id);
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Sends a request and waits for its response (the whole message, `result` or `error`).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params);
        self.response(&id)
    }

    /// `plugin/handshake` with protocol 1.0; returns the result (panics on an error).
    pub fn handshake(&mut self) -> Value {
        self.handshake_with(json!({"id": "test", "config": {}}))
    }

    /// `plugin/handshake` with protocol 1.0 and the given `plugin` object (`{id, config, dataDir?}`).
    pub fn handshake_with(&mut self, plugin: Value) -> Value {
        let res = self.call(
            "plugin/handshake",
            json!({
                "protocolVersion": "1.0",
                "host": {"name": "test-host", "version": "0.0.0"},
                "plugin": plugin,
                "supportsReverseRpc": true,
            }),
        );
        match res.get("result") {
            Some(r) => r.clone(),
            None => panic!("handshake failed: {res}"),
        }
    }

    /// Sends `plugin/invoke` (run id `run-<n>`) and returns its id without waiting.
    pub fn start_invoke(&mut self, entry: &str, input: Value) -> Value {
        let run_id = format!("run-{}", self.next_id);
        self.request("plugin/invoke", json!({"runId": run_id, "entry": entry, "input": input}))
    }

    /// Invokes an entry and waits for the response message.
    pub fn invoke(&mut self, entry: &str, input: Value) -> Value {
        let id = self.start_invoke(entry, input);
        self.response(&id)
    }

    /// Sends `$/cancelRequest` for a request id.
    pub fn cancel(&mut self, id: &Value) {
        self.notify("$/cancelRequest", json!({ "id": id }));
    }

    /// Waits for the response to `id`; everything else received meanwhile stays in the backlog.
    pub fn response(&mut self, id: &Value) -> Value {
        let id = id.clone();
        self.wait_for(&format!("the response to id {id}"), |m| m.get("id") == Some(&id) && m.get("method").is_none())
    }

    /// Waits for the first message (backlog first) that matches; the others stay in the backlog.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).expect("index in range");
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_plugin.recv_timeout(left) {
                Ok(m) if pred(&m) => return m,
                Ok(m) => self.backlog.push_back(m),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; received meanwhile: {:?}", self.backlog)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the plugin's output ended while waiting for {what}; received: {:?}", self.backlog)
                }
            }
        }
    }

    /// The next message (backlog first), or `None` after `wait`.
    pub fn next_message(&mut self, wait: Duration) -> Option<Value> {
        if let Some(m) = self.backlog.pop_front() {
            return Some(m);
        }
        self.from_plugin.recv_timeout(wait).ok()
    }

    /// Notifications with this method received so far (taken out of the backlog), in order.
    pub fn take_notifications(&mut self, method: &str) -> Vec<Value> {
        while let Ok(m) = self.from_plugin.try_recv() {
            self.backlog.push_back(m);
        }
        let (taken, kept) = self
            .backlog
            .drain(..)
            .partition(|m| m.get("method").and_then(Value::as_str) == Some(method) && m.get("id").is_none());
        self.backlog = kept;
        taken.into_iter().collect()
    }

    /// Number of `write` calls the plugin made since the last call of this method.
    pub fn take_write_count(&self) -> usize {
        self.writes.try_iter().count()
    }

    /// Closes the plugin's stdin (EOF).
    pub fn close_input(&mut self) {
        self.to_plugin = None;
    }

    /// Waits up to `wait` for `serve_io` to return; its exit code, or `None` if it is still serving.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<i32> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.server.as_ref().is_some_and(|s| s.is_finished()) {
                return self.server.take().and_then(|s| s.join().ok());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }
}
