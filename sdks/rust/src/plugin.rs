//! [`Plugin`]: declare entries and hooks, then serve.

use crate::cancel::CancelToken;
use crate::error::{codes, PluginError};
use crate::framing::{FrameReader, FrameWriter, DEFAULT_MAX_MESSAGE_BYTES};
use crate::host::Host;
use crate::peer::{self, Dispatch, Peer, Responder};
use crate::pool::{Pool, DEFAULT_MAX_WORKERS};
use crate::run::{PluginState, Run};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The protocol version this SDK speaks. Only the major number must match the host's.
pub const PROTOCOL_VERSION: &str = "1.0";
/// How long runs may still answer after stdin ended (see [`Plugin::eof_grace`]).
pub const DEFAULT_EOF_GRACE: Duration = Duration::from_millis(500);
/// The SDK's name in the handshake.
pub const SDK_NAME: &str = "plugd-rust";
/// The SDK's version in the handshake.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

type Handler = Arc<dyn Fn(&Run, Value) -> Result<Value, PluginError> + Send + Sync>;
type StartupHook = Arc<dyn Fn(&Value) -> Result<(), PluginError> + Send + Sync>;
type ShutdownHook = Arc<dyn Fn() + Send + Sync>;
type ConfigHook = Arc<dyn Fn(&Value) + Send + Sync>;
type EventHook = Arc<dyn Fn(&Event) + Send + Sync>;

/// How an entry is described to the host in the handshake.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntrySpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    streaming: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
}

impl EntrySpec {
    /// An entry with a description (what the UI and AI agents read).
    pub fn new(description: impl Into<String>) -> Self {
        EntrySpec { description: Some(description.into()), ..Default::default() }
    }

    /// A display name (the id is used otherwise).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The JSON Schema of the input; the host validates input against it before the plugin sees it.
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.input_schema = Some(schema);
        self
    }

    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// The timeout the host applies to each call of this entry.
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Says the entry sends `run/output` chunks while it runs.
    pub fn streaming(mut self, streaming: bool) -> Self {
        self.streaming = Some(streaming);
        self
    }

    /// Makes this a timer entry the host fires every `interval_ms` (an ordinary invoke with no input).
    pub fn timer(mut self, interval_ms: u64) -> Self {
        self.kind = Some("timer");
        self.interval_ms = Some(interval_ms);
        self
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

#[derive(Serialize)]
struct EntryInfo<'a> {
    id: &'a str,
    #[serde(flatten)]
    spec: &'a EntrySpec,
}

/// A typed entry, for entries that deserve their own type. Register with [`Plugin::register`].
///
/// ```
/// use plugd_sdk::{Entry, EntrySpec, PluginError, Run};
/// use serde::{Deserialize, Serialize};
///
/// struct Add;
/// #[derive(Deserialize)]
/// struct AddIn { a: i64, b: i64 }
/// #[derive(Serialize)]
/// struct AddOut { sum: i64 }
///
/// impl Entry for Add {
///     type Input = AddIn;
///     type Output = AddOut;
///     fn id(&self) -> &str { "add" }
///     fn spec(&self) -> EntrySpec { EntrySpec::new("Adds two numbers") }
///     fn call(&self, _run: &Run, input: AddIn) -> Result<AddOut, PluginError> {
///         Ok(AddOut { sum: input.a + input.b })
///     }
/// }
///
/// let mut p = plugd_sdk::Plugin::new("math", "0.1.0");
/// p.register(Add);
/// ```
pub trait Entry: Send + Sync + 'static {
    /// What the input JSON deserializes into; a mismatch answers `1002 INVALID_INPUT`.
    type Input: DeserializeOwned;
    type Output: Serialize;
    /// The entry id callers use.
    fn id(&self) -> &str;
    fn spec(&self) -> EntrySpec;
    fn call(&self, run: &Run, input: Self::Input) -> Result<Self::Output, PluginError>;
}

/// A `plugin/onEvent` notification.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_type: String,
    #[serde(default)]
    pub payload: Value,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub timestamp: Option<f64>,
}

/// A plugin: its entries and hooks. Build it, then [`serve`](Self::serve) it.
pub struct Plugin {
    name: String,
    version: String,
    entries: Vec<(String, EntrySpec)>,
    handlers: HashMap<String, Handler>,
    startup: Option<StartupHook>,
    shutdown: Option<ShutdownHook>,
    config_changed: Option<ConfigHook>,
    events: Vec<(String, EventHook)>,
    capabilities: Vec<String>,
    host: Host,
    max_message_bytes: usize,
    eof_grace: Duration,
    max_workers: usize,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("entries", &self.entries.iter().map(|(id, _)| id).collect::<Vec<_>>())
            .finish()
    }
}

impl Plugin {
    /// A plugin with a display name and version (both sent in the handshake).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Plugin {
            name: name.into(),
            version: version.into(),
            entries: Vec::new(),
            handlers: HashMap::new(),
            startup: None,
            shutdown: None,
            config_changed: None,
            events: Vec::new(),
            capabilities: ["cancel", "progress", "output", "export", "log", "reverse-rpc"].map(String::from).to_vec(),
            host: Host::default(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            eof_grace: DEFAULT_EOF_GRACE,
            max_workers: default_max_workers(),
        }
    }

    /// Adds an entry taking and returning JSON values. Registering an id again replaces the handler.
    pub fn entry<F>(&mut self, id: &str, spec: EntrySpec, handler: F) -> &mut Self
    where
        F: Fn(&Run, Value) -> Result<Value, PluginError> + Send + Sync + 'static,
    {
        match self.entries.iter_mut().find(|(e, _)| e == id) {
            Some(slot) => slot.1 = spec,
            None => self.entries.push((id.to_owned(), spec)),
        }
        self.handlers.insert(id.to_owned(), Arc::new(handler));
        self
    }

    /// Adds an entry whose input deserializes into `I` (a mismatch answers `1002 INVALID_INPUT` with the
    /// reason) and whose output is any `O: Serialize`.
    pub fn typed_entry<I, O, F>(&mut self, id: &str, spec: EntrySpec, handler: F) -> &mut Self
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(&Run, I) -> Result<O, PluginError> + Send + Sync + 'static,
    {
        let entry_id = id.to_owned();
        self.entry(id, spec, move |run, input| {
            let input: I = serde_json::from_value(input).map_err(|e| {
                PluginError::invalid_input(format!("invalid input for entry '{entry_id}': {e}"))
                    .with_data(json!({"code": "INVALID_INPUT", "problems": [e.to_string()]}))
            })?;
            let output = handler(run, input)?;
            serde_json::to_value(output).map_err(|e| {
                PluginError::entry_failed(format!("entry '{entry_id}' returned output that does not serialize: {e}"))
            })
        })
    }

    /// Adds an [`Entry`] implementation.
    pub fn register<E: Entry>(&mut self, entry: E) -> &mut Self {
        let id = entry.id().to_owned();
        let spec = entry.spec();
        let entry = Arc::new(entry);
        self.typed_entry::<E::Input, E::Output, _>(&id, spec, move |run, input| entry.call(run, input))
    }

    /// Runs during the handshake with the plugin's effective config; an error fails the handshake.
    pub fn on_startup<F>(&mut self, hook: F) -> &mut Self
    where
        F: Fn(&Value) -> Result<(), PluginError> + Send + Sync + 'static,
    {
        self.startup = Some(Arc::new(hook));
        self
    }

    /// Runs on `plugin/shutdown`, before the answer. (Not on stdin EOF: then the host is already gone.)
    pub fn on_shutdown<F>(&mut self, hook: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.shutdown = Some(Arc::new(hook));
        self
    }

    /// Runs on `plugin/configChanged` with the new config (runs started after it see it in `run.config()`).
    pub fn on_config_changed<F>(&mut self, hook: F) -> &mut Self
    where
        F: Fn(&Value) + Send + Sync + 'static,
    {
        self.config_changed = Some(Arc::new(hook));
        self
    }

    /// Subscribes to an event type (`"*"` for every type the host sends). The types are declared in the
    /// handshake; handlers run one at a time, in arrival order, on a thread of their own.
    pub fn on_event<F>(&mut self, event_type: &str, handler: F) -> &mut Self
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.events.retain(|(t, _)| t != event_type);
        self.events.push((event_type.to_owned(), Arc::new(handler)));
        self
    }

    /// Replaces the capabilities declared in the handshake (default: cancel, progress, output, export, log,
    /// reverse-rpc).
    pub fn capabilities(&mut self, caps: &[&str]) -> &mut Self {
        self.capabilities = caps.iter().map(|c| c.to_string()).collect();
        self
    }

    /// How long reverse requests (`run.call`, `host.emit_event`, …) wait for the host (default 60 s).
    pub fn reverse_call_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.host.set_timeout(timeout);
        self
    }

    /// Largest message accepted or sent, in bytes (default 64 MiB).
    pub fn max_message_bytes(&mut self, bytes: usize) -> &mut Self {
        self.max_message_bytes = bytes;
        self
    }

    /// When stdin ends, runs still going are cancelled and get this long to answer before `serve` returns
    /// (default 500 ms, so the plugin exits well within the 1 s the protocol allows).
    pub fn eof_grace(&mut self, grace: Duration) -> &mut Self {
        self.eof_grace = grace;
        self
    }

    /// How many invokes may run at once (default 256, or `PLUGD_MAX_WORKERS` when set). Invokes run on worker
    /// threads that are started on demand and reused: one that blocks never holds up the others until this many
    /// are running; more wait for a free worker.
    pub fn max_workers(&mut self, workers: usize) -> &mut Self {
        self.max_workers = workers.max(1);
        self
    }

    /// A handle on the host connection for hooks and threads of your own (connected once serving).
    pub fn host(&self) -> Host {
        self.host.clone()
    }

    /// Serves on this process's stdin/stdout until `plugin/shutdown` or stdin EOF; returns the exit code.
    /// Use as `std::process::exit(plugin.serve())`.
    ///
    /// On unix, stdout is taken for the protocol first: the protocol keeps a duplicate of fd 1 and fd 1 is
    /// pointed at stderr, so `println!` (and any child process inheriting stdout) lands in the plugin's log
    /// instead of corrupting the protocol.
    pub fn serve(self) -> i32 {
        let out = crate::stdio::take_stdout();
        self.serve_io(std::io::stdin(), out)
    }

    /// Serves over any byte streams (tests, sockets). Returns 0 after `plugin/shutdown` was answered, or once
    /// `reader` has ended: then runs still going are cancelled, answers already on their way are written for up
    /// to [`eof_grace`](Self::eof_grace), and handlers that ignore cancellation are not waited for.
    pub fn serve_io<R, W>(self, reader: R, writer: W) -> i32
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let peer = Arc::new(Peer::new(FrameWriter::new(writer), self.max_message_bytes));
        self.host.attach(peer.clone());
        let (done_tx, done_rx) = channel::<()>();
        let (jobs_tx, jobs_rx) = channel::<Box<dyn FnOnce() + Send>>();
        // Event and config hooks run in order, off the reader thread (they may make reverse requests).
        let spawned = std::thread::Builder::new().name("plugd-events".into()).spawn(move || {
            for job in jobs_rx {
                if catch_unwind(AssertUnwindSafe(job)).is_err() {
                    peer::warn("an event or config hook panicked");
                }
            }
        });
        if let Err(e) = spawned {
            peer::warn(format_args!("cannot start the event thread: {e}"));
            return 1;
        }
        let max = self.max_message_bytes;
        let grace = self.eof_grace;
        let max_workers = self.max_workers;
        let runtime = Arc::new(Runtime {
            plugin: self,
            peer: peer.clone(),
            state: Arc::new(RwLock::new(PluginState::default())),
            done: Mutex::new(done_tx.clone()),
            jobs: Mutex::new(jobs_tx),
            pool: Pool::new("plugd-run", max_workers),
        });
        let rt = runtime.clone();
        let spawned = std::thread::Builder::new().name("plugd-reader".into()).spawn(move || {
            let reason = peer::read_loop(&rt.peer, FrameReader::with_max_message_bytes(reader, max), &rt);
            // The host is gone or done: cancel the runs, give them a moment to answer, then stop.
            rt.peer.input_ended(&reason);
            rt.peer.wait_idle(grace);
            rt.peer.close(&reason);
            let _ = done_tx.send(());
        });
        if let Err(e) = spawned {
            peer::warn(format_args!("cannot start the reader thread: {e}"));
            return 1;
        }
        drop(runtime);
        let _ = done_rx.recv();
        0
    }
}

struct Runtime {
    plugin: Plugin,
    peer: Arc<Peer>,
    state: Arc<RwLock<PluginState>>,
    done: Mutex<Sender<()>>,
    jobs: Mutex<Sender<Box<dyn FnOnce() + Send>>>,
    /// Runs the invokes.
    pool: Pool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvokeParams {
    run_id: String,
    entry: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    call_chain: Vec<String>,
    #[serde(default)]
    meta: Option<Value>,
}

#[derive(Serialize)]
struct InvokeResult {
    output: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HandshakeResult<'a> {
    protocol_version: &'static str,
    name: &'a str,
    version: &'a str,
    sdk: SdkInfo,
    entries: Vec<EntryInfo<'a>>,
    events: Vec<&'a str>,
    capabilities: &'a [String],
}

#[derive(Serialize)]
struct SdkInfo {
    name: &'static str,
    version: &'static str,
}

fn default_max_workers() -> usize {
    std::env::var("PLUGD_MAX_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_WORKERS)
}

fn major_of(version: &str) -> Option<u64> {
    let v = version.trim();
    let mut parts = v.split('.');
    let major = parts.next()?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(major) || !parts.all(all_digits) {
        return None;
    }
    major.parse().ok()
}

fn version_mismatch(theirs: &str) -> PluginError {
    let ours = PROTOCOL_VERSION;
    let message = match major_of(theirs) {
        Some(_) => format!("protocol major version mismatch: this side speaks {ours}, the other side {theirs}"),
        None => format!("{theirs:?} is not a protocol version (expected e.g. \"1.0\")"),
    };
    PluginError::protocol(codes::VERSION_MISMATCH, message).with_data(json!({
        "code": "VERSION_MISMATCH",
        "hint": "Upgrade the plugin's SDK or plugd so both speak the same protocol major version.",
        "ours": ours,
        "theirs": theirs,
    }))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

impl Runtime {
    /// Runs `work` on a thread of its own (`Some(name)`) or on a pool worker (`None`). The responder goes to the
    /// job; if it cannot start, the request is answered here.
    fn spawn(
        &self,
        name: Option<String>,
        id: &Value,
        responder: Responder,
        work: impl FnOnce(Responder) + Send + 'static,
    ) {
        let slot = Arc::new(Mutex::new(Some(responder)));
        let theirs = slot.clone();
        let job = move || {
            let responder = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(r) = responder {
                work(r);
            }
        };
        let started = match name {
            Some(name) => std::thread::Builder::new().name(name).spawn(job).map(drop),
            None => self.pool.submit(job),
        };
        if let Err(e) = started {
            if let Some(r) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let err = PluginError::protocol(codes::INTERNAL_ERROR, format!("cannot start a thread: {e}"));
                r.respond::<Value>(id, Err(err));
            }
        }
    }

    fn handshake(self: &Arc<Self>, id: Value, params: Value, responder: Responder) {
        let theirs = params.get("protocolVersion").and_then(Value::as_str).unwrap_or("").to_owned();
        if major_of(&theirs) != major_of(PROTOCOL_VERSION) {
            return responder.respond::<Value>(&id, Err(version_mismatch(&theirs)));
        }
        {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            let plugin = params.get("plugin");
            if let Some(pid) = plugin.and_then(|p| p.get("id")).and_then(Value::as_str) {
                st.id = pid.to_owned();
            }
            st.config = plugin.and_then(|p| p.get("config")).cloned().unwrap_or_else(|| json!({}));
            st.data_dir = plugin.and_then(|p| p.get("dataDir")).and_then(Value::as_str).map(PathBuf::from);
        }
        let rt = self.clone();
        self.spawn(Some("plugd-handshake".into()), &id.clone(), responder, move |responder| {
            if let Some(hook) = &rt.plugin.startup {
                let config = rt.state.read().unwrap_or_else(|e| e.into_inner()).config.clone();
                let outcome = catch_unwind(AssertUnwindSafe(|| hook(&config)));
                let err = match outcome {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(p) => Some(PluginError::entry_failed(format!("startup hook panicked: {}", panic_message(&*p)))),
                };
                if let Some(e) = err {
                    return responder.respond::<Value>(&id, Err(e));
                }
            }
            let p = &rt.plugin;
            let result = HandshakeResult {
                protocol_version: PROTOCOL_VERSION,
                name: &p.name,
                version: &p.version,
                sdk: SdkInfo { name: SDK_NAME, version: SDK_VERSION },
                entries: p.entries.iter().map(|(id, spec)| EntryInfo { id, spec }).collect(),
                events: p.events.iter().map(|(t, _)| t.as_str()).collect(),
                capabilities: &p.capabilities,
            };
            responder.respond(&id, Ok(result));
        });
    }

    fn invoke(self: &Arc<Self>, id: Value, params: Value, responder: Responder) {
        let p: InvokeParams = match serde_json::from_value(params) {
            Ok(p) => p,
            Err(e) => {
                let err = PluginError::protocol(codes::INVALID_PARAMS, format!("invalid plugin/invoke params: {e}"));
                return responder.respond::<Value>(&id, Err(err));
            }
        };
        let Some(handler) = self.plugin.handlers.get(&p.entry).cloned() else {
            let plugin_id = self.state.read().unwrap_or_else(|e| e.into_inner()).id.clone();
            let available: Vec<&str> = self.plugin.entries.iter().map(|(id, _)| id.as_str()).collect();
            let err = PluginError::protocol(
                codes::ENTRY_NOT_FOUND,
                format!(
                    "plugin '{}' has no entry '{}'",
                    if plugin_id.is_empty() { &self.plugin.name } else { &plugin_id },
                    p.entry
                ),
            )
            .with_data(json!({
                "code": "ENTRY_NOT_FOUND",
                "hint": "List the plugin's entries (GET /plugins) and call one of those.",
                "available": available,
            }));
            return responder.respond::<Value>(&id, Err(err));
        };
        // Registered before the thread starts, so a `$/cancelRequest` right behind the invoke is not lost.
        let token: Arc<CancelToken> = self.peer.track_incoming(&id);
        let run = Run {
            id: p.run_id,
            entry: p.entry,
            token,
            host: self.plugin.host.clone(),
            state: self.state.clone(),
            timeout_ms: p.timeout_ms,
            call_chain: p.call_chain,
            meta: p.meta,
        };
        let rt = self.clone();
        let input = p.input;
        self.spawn(None, &id.clone(), responder, move |responder| {
            let outcome = catch_unwind(AssertUnwindSafe(|| handler(&run, input)));
            rt.peer.untrack_incoming(&id);
            let result = match outcome {
                Ok(Ok(output)) => Ok(InvokeResult { output }),
                Ok(Err(e)) => Err(e),
                Err(panic) => {
                    let msg = format!("entry '{}' panicked: {}", run.entry, panic_message(&*panic));
                    Err(PluginError::entry_failed(msg).with_data(json!({"code": "ENTRY_FAILED", "type": "panic"})))
                }
            };
            responder.respond(&id, result);
        });
    }

    fn shutdown(self: &Arc<Self>, id: Value, responder: Responder) {
        let rt = self.clone();
        self.spawn(Some("plugd-shutdown".into()), &id.clone(), responder, move |responder| {
            if let Some(hook) = &rt.plugin.shutdown {
                if catch_unwind(AssertUnwindSafe(|| hook())).is_err() {
                    peer::warn("the shutdown hook panicked");
                }
            }
            responder.respond(&id, Ok(json!({})));
            rt.peer.close("the plugin shut down");
            let _ = rt.done.lock().unwrap_or_else(|e| e.into_inner()).send(());
        });
    }

    fn queue(&self, job: impl FnOnce() + Send + 'static) {
        let _ = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).send(Box::new(job));
    }
}

impl Dispatch for Arc<Runtime> {
    fn request(&self, id: Value, method: String, params: Value, responder: Responder) {
        match method.as_str() {
            "plugin/handshake" => self.handshake(id, params, responder),
            "plugin/invoke" => self.invoke(id, params, responder),
            "plugin/health" => responder.respond(&id, Ok(json!({"status": "ok"}))),
            "plugin/shutdown" => self.shutdown(id, responder),
            _ => {
                let err = PluginError::protocol(codes::METHOD_NOT_FOUND, format!("method not found: {method}"));
                responder.respond::<Value>(&id, Err(err));
            }
        }
    }

    fn notification(&self, method: String, params: Value) {
        match method.as_str() {
            "plugin/onEvent" => {
                let ev: Event = match serde_json::from_value(params) {
                    Ok(ev) => ev,
                    Err(e) => return peer::warn(format_args!("ignoring a malformed plugin/onEvent: {e}")),
                };
                let events = &self.plugin.events;
                let hook = events
                    .iter()
                    .find(|(t, _)| *t == ev.event_type)
                    .or_else(|| events.iter().find(|(t, _)| t == "*"))
                    .map(|(_, h)| h.clone());
                if let Some(hook) = hook {
                    self.queue(move || hook(&ev));
                }
            }
            "plugin/configChanged" => {
                let config = params.get("config").cloned().unwrap_or_else(|| json!({}));
                self.state.write().unwrap_or_else(|e| e.into_inner()).config = config.clone();
                if let Some(hook) = self.plugin.config_changed.clone() {
                    self.queue(move || hook(&config));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(major_of("1.0"), Some(1));
        assert_eq!(major_of("1"), Some(1));
        assert_eq!(major_of(" 2.3.4 "), Some(2));
        assert_eq!(major_of("1.x"), None);
        assert_eq!(major_of(""), None);
        assert_eq!(major_of("v1"), None);
    }
}
