//! The JSON-RPC 2.0 peer: one reader thread that parses frames and dispatches them, a shared writer, requests to
//! the other side matched to their responses by id, `$/cancelRequest` for incoming requests.

use crate::cancel::{CancelToken, Wake};
use crate::error::{codes, ErrorObject, PluginError};
use crate::framing::{FrameReader, FrameWriter, ReadItem};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) const CANCEL_METHOD: &str = "$/cancelRequest";

/// What the peer hands requests and notifications to.
pub(crate) trait Dispatch: Send + Sync {
    /// Must eventually answer through `responder` (dropping it answers nothing).
    fn request(&self, id: Value, method: String, params: Value, responder: Responder);
    fn notification(&self, method: String, params: Value);
}

#[derive(Serialize)]
struct RequestMsg<'a, P: Serialize> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: P,
}

#[derive(Serialize)]
struct NotificationMsg<'a, P: Serialize> {
    jsonrpc: &'static str,
    method: &'a str,
    params: P,
}

#[derive(Serialize)]
struct ResultMsg<'a, T: Serialize> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: T,
}

#[derive(Serialize)]
struct ErrorMsg<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    error: ErrorObject,
}

pub(crate) fn warn(msg: impl std::fmt::Display) {
    eprintln!("[plugd-sdk] {msg}");
}

pub(crate) struct Peer {
    writer: FrameWriter,
    max_message_bytes: usize,
    next_id: AtomicU64,
    state: Mutex<State>,
    /// Signalled when `State::inflight` drops.
    idle: Condvar,
}

#[derive(Default)]
struct State {
    /// Our requests waiting for an answer.
    pending: HashMap<u64, Sender<Wake>>,
    /// Incoming requests that can be cancelled.
    incoming: HashMap<String, Arc<CancelToken>>,
    /// Incoming requests (and batches) not answered yet.
    inflight: usize,
    /// Set when nothing more can be read: no answer to a request of ours can arrive any more.
    input_closed: Option<String>,
    /// Set when nothing more may be written.
    closed: Option<String>,
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

impl Peer {
    pub(crate) fn new(writer: FrameWriter, max_message_bytes: usize) -> Self {
        Peer {
            writer,
            max_message_bytes,
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn closed_reason(&self) -> Option<String> {
        self.state().closed.clone()
    }

    /// The input ended: requests of ours can no longer be answered (they fail with CONNECTION_CLOSED) and
    /// incoming runs are cancelled, but answers can still be written. Idempotent.
    pub(crate) fn input_ended(&self, reason: &str) {
        let (pending, incoming) = {
            let mut st = self.state();
            if st.input_closed.is_some() {
                return;
            }
            st.input_closed = Some(reason.to_owned());
            (std::mem::take(&mut st.pending), std::mem::take(&mut st.incoming))
        };
        for (_, tx) in pending {
            let _ = tx.send(Wake::Closed(reason.to_owned()));
        }
        for (_, token) in incoming {
            token.cancel();
        }
    }

    /// Closes the peer: like [`input_ended`](Self::input_ended), and nothing more is written. Idempotent.
    pub(crate) fn close(&self, reason: &str) {
        self.input_ended(reason);
        let mut st = self.state();
        if st.closed.is_none() {
            st.closed = Some(reason.to_owned());
        }
    }

    /// Waits until every incoming request was answered, or `grace` passed; true if all were.
    pub(crate) fn wait_idle(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        let mut st = self.state();
        while st.inflight > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.idle.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    fn inflight_guard(self: &Arc<Self>) -> InflightGuard {
        self.state().inflight += 1;
        InflightGuard(self.clone())
    }

    fn write_body(&self, body: &[u8]) -> Result<(), PluginError> {
        if let Some(reason) = self.closed_reason() {
            return Err(PluginError::connection_closed(&reason));
        }
        let r = self.writer.write_frame(body);
        if let Err(e) = r {
            let reason = format!("write error: {e}");
            self.close(&reason);
            return Err(PluginError::connection_closed(&reason));
        }
        Ok(())
    }

    fn too_large(&self, what: &str, bytes: usize) -> PluginError {
        PluginError::protocol(
            codes::MESSAGE_TOO_LARGE,
            format!("'{what}' is {bytes} bytes, over the {}-byte message limit", self.max_message_bytes),
        )
        .with_data(serde_json::json!({"code": "MESSAGE_TOO_LARGE", "bytes": bytes, "limit": self.max_message_bytes}))
    }

    fn encode<T: Serialize>(&self, what: &str, msg: &T) -> Result<Vec<u8>, PluginError> {
        let body = serde_json::to_vec(msg)
            .map_err(|e| PluginError::protocol(codes::INTERNAL_ERROR, format!("cannot serialize '{what}': {e}")))?;
        if body.len() > self.max_message_bytes {
            return Err(self.too_large(what, body.len()));
        }
        Ok(body)
    }

    /// Sends a notification.
    pub(crate) fn notify<P: Serialize>(&self, method: &str, params: P) -> Result<(), PluginError> {
        let body = self.encode(method, &NotificationMsg { jsonrpc: "2.0", method, params })?;
        self.write_body(&body)
    }

    /// Sends a request and blocks until its answer, the timeout, the cancellation of `cancel`, or the connection
    /// closing. On timeout or cancel, `$/cancelRequest` tells the other side to stop.
    pub(crate) fn request<P: Serialize>(
        &self,
        method: &str,
        params: P,
        timeout: Option<Duration>,
        cancel: Option<&CancelToken>,
    ) -> Result<Value, PluginError> {
        if let Some(reason) = self.closed_reason() {
            return Err(PluginError::connection_closed(&format!("cannot send '{method}': {reason}")));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = self.encode(method, &RequestMsg { jsonrpc: "2.0", id, method, params })?;
        let (tx, rx) = channel();
        if let Some(token) = cancel {
            if !token.add_waker(id, tx.clone()) {
                return Err(PluginError::cancelled());
            }
        }
        {
            let mut st = self.state();
            if let Some(reason) = st.input_closed.clone().or_else(|| st.closed.clone()) {
                drop(st);
                self.forget(id, cancel);
                return Err(PluginError::connection_closed(&format!("cannot send '{method}': {reason}")));
            }
            st.pending.insert(id, tx);
        }
        if let Err(e) = self.write_body(&body) {
            self.forget(id, cancel);
            return Err(e);
        }
        let wake = match timeout {
            Some(t) => rx.recv_timeout(t),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        self.forget(id, cancel);
        match wake {
            Ok(Wake::Reply(r)) => r,
            Ok(Wake::Closed(reason)) => {
                Err(PluginError::connection_closed(&format!("'{method}' (id {id}) was not answered: {reason}")))
            }
            Ok(Wake::Cancelled) => {
                let _ = self.notify(CANCEL_METHOD, serde_json::json!({ "id": id }));
                Err(PluginError::protocol(codes::CANCELLED, format!("'{method}' was cancelled by the caller")))
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.notify(CANCEL_METHOD, serde_json::json!({ "id": id }));
                let ms = timeout.unwrap_or_default().as_millis();
                Err(PluginError::protocol(codes::TIMEOUT, format!("'{method}' timed out after {ms} ms"))
                    .with_data(serde_json::json!({"code": "TIMEOUT", "timeoutMs": ms})))
            }
            Err(RecvTimeoutError::Disconnected) => Err(PluginError::connection_closed("no answer")),
        }
    }

    fn forget(&self, id: u64, cancel: Option<&CancelToken>) {
        self.state().pending.remove(&id);
        if let Some(token) = cancel {
            token.remove_waker(id);
        }
    }

    /// Registers an incoming request so `$/cancelRequest` can reach it.
    pub(crate) fn track_incoming(&self, id: &Value) -> Arc<CancelToken> {
        let token = Arc::new(CancelToken::new());
        let mut st = self.state();
        if st.input_closed.is_some() {
            token.cancel();
        } else {
            st.incoming.insert(id_key(id), token.clone());
        }
        token
    }

    pub(crate) fn untrack_incoming(&self, id: &Value) {
        self.state().incoming.remove(&id_key(id));
    }

    /// Encodes a response; one over the size limit becomes a MESSAGE_TOO_LARGE error.
    fn encode_response<T: Serialize>(&self, id: &Value, result: Result<T, PluginError>) -> Vec<u8> {
        let encoded = match result {
            Ok(value) => self.encode("response", &ResultMsg { jsonrpc: "2.0", id, result: value }),
            Err(e) => Err(e),
        };
        match encoded {
            Ok(body) => body,
            Err(e) => serde_json::to_vec(&ErrorMsg { jsonrpc: "2.0", id, error: e.to_error_object() })
                .expect("an error response always serializes"),
        }
    }

    fn receive_response(&self, msg: &Map<String, Value>) {
        let id = msg.get("id").and_then(Value::as_u64);
        let tx = id.and_then(|id| self.state().pending.remove(&id));
        let Some(tx) = tx else {
            // Late answers to requests that timed out or were cancelled land here; that is expected.
            return;
        };
        let reply = match msg.get("error") {
            Some(err) if !err.is_null() => {
                let code = err.get("code").and_then(Value::as_i64).unwrap_or(codes::INTERNAL_ERROR);
                let message = err.get("message").and_then(Value::as_str).unwrap_or("error").to_owned();
                Err(PluginError::from_wire(code, message, err.get("data").cloned()))
            }
            _ => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
        };
        let _ = tx.send(Wake::Reply(reply));
    }

    fn receive_cancel(&self, params: &Value) {
        if let Some(id) = params.get("id") {
            let token = self.state().incoming.get(&id_key(id)).cloned();
            if let Some(token) = token {
                token.cancel();
            }
        }
    }

    fn receive_oversize(&self, length: usize, peek: &[u8]) {
        let text = String::from_utf8_lossy(peek);
        warn(format_args!("received a {length}-byte message, over the {}-byte limit; skipped", self.max_message_bytes));
        let Some(id) = peek_id(&text) else { return };
        let err = self.too_large("message", length);
        if text.contains("\"method\"") {
            let body = self.encode_response::<Value>(&id, Err(err));
            let _ = self.write_body(&body);
        } else if let Some(tx) = id.as_u64().and_then(|id| self.state().pending.remove(&id)) {
            let _ = tx.send(Wake::Reply(Err(err)));
        }
    }
}

/// Finds `"id": <number or string>` in the first bytes of a message that was too large to parse.
fn peek_id(text: &str) -> Option<Value> {
    let at = text.find("\"id\"")?;
    let rest = text[at + 4..].trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('"') {
        let mut de = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        return de.next()?.ok().filter(Value::is_string);
    }
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
    digits.parse::<i64>().ok().map(Value::from)
}

/// Sends the answer to one request: straight to the wire, or into the batch it came in.
pub(crate) struct Responder {
    target: Option<Target>,
    _inflight: InflightGuard,
}

/// Counts an incoming request as unanswered while it lives.
struct InflightGuard(Arc<Peer>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut st = self.0.state();
        st.inflight -= 1;
        if st.inflight == 0 {
            self.0.idle.notify_all();
        }
    }
}

enum Target {
    Direct(Arc<Peer>),
    Batch(Arc<Peer>, Sender<Option<Vec<u8>>>),
}

impl Responder {
    fn direct(peer: &Arc<Peer>) -> Self {
        Responder { target: Some(Target::Direct(peer.clone())), _inflight: peer.inflight_guard() }
    }

    pub(crate) fn respond<T: Serialize>(mut self, id: &Value, result: Result<T, PluginError>) {
        match self.target.take() {
            Some(Target::Direct(peer)) => {
                let body = peer.encode_response(id, result);
                let _ = peer.write_body(&body);
            }
            Some(Target::Batch(peer, tx)) => {
                let _ = tx.send(Some(peer.encode_response(id, result)));
            }
            None => {}
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(Target::Batch(_, tx)) = self.target.take() {
            let _ = tx.send(None);
        }
    }
}

/// Reads frames until the stream ends or fails; returns why it stopped. The caller closes the peer.
pub(crate) fn read_loop<R: Read>(peer: &Arc<Peer>, reader: FrameReader<R>, dispatch: &dyn Dispatch) -> String {
    for item in reader {
        match item {
            Err(e) => return format!("read error: {e}"),
            Ok(ReadItem::Frame(body)) => receive(peer, &body, dispatch),
            Ok(ReadItem::Garbage { bytes, text }) => {
                warn(format_args!("skipped {bytes} bytes that are not a frame: {:?}", truncate(&text, 120)))
            }
            Ok(ReadItem::Oversize { length, peek }) => peer.receive_oversize(length, &peek),
        }
    }
    "the other side closed the connection".to_owned()
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn receive(peer: &Arc<Peer>, body: &[u8], dispatch: &dyn Dispatch) {
    let msg: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            warn(format_args!("parse error: {e}"));
            let err = PluginError::protocol(codes::PARSE_ERROR, format!("parse error: {e}"));
            Responder::direct(peer).respond::<Value>(&Value::Null, Err(err));
            return;
        }
    };
    match msg {
        Value::Array(items) if items.is_empty() => {
            let err = PluginError::protocol(codes::INVALID_REQUEST, "invalid request: empty batch");
            Responder::direct(peer).respond::<Value>(&Value::Null, Err(err));
        }
        Value::Array(items) => {
            let n = items.len();
            let (tx, rx) = channel::<Option<Vec<u8>>>();
            for item in items {
                dispatch_one(
                    peer,
                    item,
                    Responder {
                        target: Some(Target::Batch(peer.clone(), tx.clone())),
                        _inflight: peer.inflight_guard(),
                    },
                    dispatch,
                );
            }
            drop(tx);
            let peer = peer.clone();
            let guard = peer.inflight_guard();
            let collect = move || {
                let _guard = guard;
                let answers: Vec<Vec<u8>> = rx.iter().take(n).flatten().collect();
                if answers.is_empty() {
                    return;
                }
                let mut out = Vec::from(&b"["[..]);
                for (i, a) in answers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(a);
                }
                out.push(b']');
                let _ = peer.write_body(&out);
            };
            if std::thread::Builder::new().name("plugd-batch".into()).spawn(collect).is_err() {
                warn("could not start a thread to answer a batch");
            }
        }
        other => dispatch_one(peer, other, Responder::direct(peer), dispatch),
    }
}

fn dispatch_one(peer: &Arc<Peer>, raw: Value, responder: Responder, dispatch: &dyn Dispatch) {
    let invalid = |why: &str, id: Value, responder: Responder| {
        warn(format_args!("invalid message: {why}"));
        let err = PluginError::protocol(codes::INVALID_REQUEST, format!("invalid request: {why}"));
        responder.respond::<Value>(&id, Err(err));
    };
    let Value::Object(mut m) = raw else {
        return invalid("not a JSON-RPC 2.0 message (not an object)", Value::Null, responder);
    };
    let id = m.get("id").cloned().unwrap_or(Value::Null);
    let answerable_id = if id.is_number() || id.is_string() { id.clone() } else { Value::Null };
    let is_response = m.contains_key("result") || m.contains_key("error");
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        // Answering an invalid response would start a ping-pong; only requests get an error back.
        if is_response && !m.contains_key("method") {
            return;
        }
        return invalid("not a JSON-RPC 2.0 message (missing jsonrpc: \"2.0\")", answerable_id, responder);
    }
    match m.remove("method") {
        Some(Value::String(method)) => {
            let params = m.remove("params").unwrap_or(Value::Null);
            if id.is_null() {
                if method == CANCEL_METHOD {
                    peer.receive_cancel(&params);
                } else {
                    dispatch.notification(method, params);
                }
            } else if id.is_number() || id.is_string() {
                dispatch.request(id, method, params, responder);
            } else {
                invalid("id must be a number or a string", Value::Null, responder);
            }
        }
        Some(_) => invalid("method must be a string", answerable_id, responder),
        None if is_response => peer.receive_response(&m),
        None => invalid("neither a request, a notification nor a response", answerable_id, responder),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peek_finds_ids() {
        assert_eq!(peek_id(r#"{"jsonrpc":"2.0","id":42,"method":"x","params":"aaa"#), Some(json!(42)));
        assert_eq!(peek_id(r#"{"id" : "p-1","method":"x"#), Some(json!("p-1")));
        assert_eq!(peek_id(r#"{"jsonrpc":"2.0","method":"x"#), None);
    }
}
