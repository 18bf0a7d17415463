//! [`Run`]: what an entry handler gets to talk about the call it is serving.

use crate::cancel::CancelToken;
use crate::error::PluginError;
use crate::host::{to_value, Host, LogLevel};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What the handshake told the plugin about itself; config changes with `plugin/configChanged`.
#[derive(Debug, Clone, Default)]
pub(crate) struct PluginState {
    pub id: String,
    pub config: Value,
    pub data_dir: Option<PathBuf>,
}

/// A `run/progress` update. Build one with [`Progress::new`] / [`Progress::step`] and the setters, or with
/// struct syntax: `Progress { progress: Some(0.5), ..Default::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// 0..1
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Seconds left, if the plugin can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Map<String, Value>>,
}

impl Progress {
    /// A fraction done, 0..1.
    pub fn new(fraction: f64) -> Self {
        Progress { progress: Some(fraction), ..Default::default() }
    }

    /// Step `step` of `total`; the fraction is `step / total`.
    pub fn step(step: u64, total: u64) -> Self {
        let fraction = if total == 0 { 1.0 } else { step as f64 / total as f64 };
        Progress { progress: Some(fraction), step: Some(step), step_total: Some(total), ..Default::default() }
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn stage(mut self, stage: impl Into<String>) -> Self {
        self.stage = Some(stage.into());
        self
    }

    pub fn eta(mut self, seconds: f64) -> Self {
        self.eta = Some(seconds);
        self
    }

    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.get_or_insert_with(Map::new).insert(name.into(), Value::from(value));
        self
    }
}

#[derive(Serialize)]
struct ProgressParams<'a> {
    #[serde(rename = "runId")]
    run_id: &'a str,
    #[serde(flatten)]
    progress: &'a Progress,
}

#[derive(Serialize)]
struct OutputParams<'a> {
    #[serde(rename = "runId")]
    run_id: &'a str,
    chunk: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<&'a str>,
}

/// One export item of a run (`run/export`). The shortcuts on [`Run`] cover the usual cases; this adds
/// description, mime type and metadata: `run.export(Export::text("# hi").label("a.md").mime("text/markdown"))`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Export {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
}

impl Export {
    fn of(kind: &'static str) -> Self {
        Export { kind, label: None, description: None, mime: None, data: None, url: None, metadata: None }
    }

    pub fn text(text: impl Into<String>) -> Self {
        Export { data: Some(Value::String(text.into())), ..Self::of("text") }
    }

    /// Any serializable value (one that fails to serialize becomes `null`; [`Run::export_json`] reports that instead).
    pub fn json(value: impl Serialize) -> Self {
        Export { data: Some(serde_json::to_value(value).unwrap_or(Value::Null)), ..Self::of("json") }
    }

    pub fn url(url: impl Into<String>) -> Self {
        Export { url: Some(url.into()), ..Self::of("url") }
    }

    /// Bytes, sent base64-encoded; mime type `application/octet-stream` unless set.
    pub fn binary(bytes: &[u8]) -> Self {
        Export {
            data: Some(Value::String(crate::base64::encode(bytes))),
            mime: Some("application/octet-stream".into()),
            ..Self::of("binary")
        }
    }

    /// A binary that lives at a URL.
    pub fn binary_url(url: impl Into<String>) -> Self {
        Export { url: Some(url.into()), ..Self::of("binary_url") }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    pub fn mime(mut self, mime: impl Into<String>) -> Self {
        self.mime = Some(mime.into());
        self
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

#[derive(Serialize)]
struct ExportParams<'a> {
    #[serde(rename = "runId")]
    run_id: &'a str,
    #[serde(flatten)]
    export: &'a Export,
}

/// One call of an entry. Handed to the handler by reference; everything on it is thread-safe, and
/// [`Run::cancel_token`] / [`Run::host`] can be moved to helper threads.
pub struct Run {
    pub(crate) id: String,
    pub(crate) entry: String,
    pub(crate) token: Arc<CancelToken>,
    pub(crate) host: Host,
    pub(crate) state: Arc<RwLock<PluginState>>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) call_chain: Vec<String>,
    pub(crate) meta: Option<Value>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("id", &self.id)
            .field("entry", &self.entry)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Run {
    /// The run id the host gave this call.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The entry being run.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The plugin's id (from the handshake).
    pub fn plugin_id(&self) -> String {
        self.state.read().unwrap_or_else(|e| e.into_inner()).id.clone()
    }

    /// The plugin's effective config now (from the handshake, updated by `plugin/configChanged`).
    pub fn config(&self) -> Value {
        self.state.read().unwrap_or_else(|e| e.into_inner()).config.clone()
    }

    /// The plugin's data directory, if the host gave one.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).data_dir.clone()
    }

    /// The timeout the host applies to this call, if it said.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.timeout_ms
    }

    /// Plugin ids of the calls this one is nested in, outermost first.
    pub fn call_chain(&self) -> &[String] {
        &self.call_chain
    }

    /// The invoke's `meta`, if any.
    pub fn meta(&self) -> Option<&Value> {
        self.meta.as_ref()
    }

    /// True once the host cancelled this run (`$/cancelRequest`) or went away.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// `Err(CANCELLED)` once cancelled: put `run.check_cancelled()?;` in loops.
    pub fn check_cancelled(&self) -> Result<(), PluginError> {
        self.token.check()
    }

    /// Sleeps, waking at once with `Err(CANCELLED)` if the run is cancelled meanwhile.
    pub fn sleep(&self, dur: Duration) -> Result<(), PluginError> {
        if self.token.wait_timeout(dur) {
            Err(PluginError::cancelled())
        } else {
            Ok(())
        }
    }

    /// The cancellation flag, to hand to helper threads.
    pub fn cancel_token(&self) -> Arc<CancelToken> {
        self.token.clone()
    }

    /// The host connection (for requests the shortcuts here do not cover).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Sends `run/progress`. Like the other notifications, a failure to send is only logged to stderr.
    pub fn progress(&self, progress: Progress) {
        self.send("run/progress", ProgressParams { run_id: &self.id, progress: &progress });
    }

    /// Sends a chunk of streamed output (`run/output`).
    pub fn output(&self, chunk: &str) {
        self.send("run/output", OutputParams { run_id: &self.id, chunk, stream: None });
    }

    /// Sends a chunk of output tagged with a stream name (`"stdout"`, `"stderr"`, …).
    pub fn output_stream(&self, stream: &str, chunk: &str) {
        self.send("run/output", OutputParams { run_id: &self.id, chunk, stream: Some(stream) });
    }

    fn send(&self, method: &str, params: impl Serialize) {
        if let Err(e) = self.host.notify(method, params) {
            if !self.token.is_cancelled() {
                crate::peer::warn(format_args!("run {}: could not send {method}: {e}", self.id));
            }
        }
    }

    /// Sends an export item. Fails if it could not be sent (too large, connection gone).
    pub fn export(&self, export: Export) -> Result<(), PluginError> {
        self.host.notify("run/export", ExportParams { run_id: &self.id, export: &export })
    }

    /// A text export.
    pub fn export_text(&self, label: &str, text: &str) -> Result<(), PluginError> {
        self.export(Export::text(text).label(label))
    }

    /// A JSON export.
    pub fn export_json(&self, label: &str, value: impl Serialize) -> Result<(), PluginError> {
        let value = to_value(value)?;
        self.export(Export { data: Some(value), ..Export::of("json") }.label(label))
    }

    /// A link.
    pub fn export_url(&self, label: &str, url: &str) -> Result<(), PluginError> {
        self.export(Export::url(url).label(label))
    }

    /// Bytes (sent base64-encoded) with their mime type.
    pub fn export_binary(&self, label: &str, bytes: &[u8], mime: &str) -> Result<(), PluginError> {
        self.export(Export::binary(bytes).label(label).mime(mime))
    }

    /// A `plugin/log` record tied to this run.
    pub fn log(&self, level: LogLevel, msg: &str) {
        self.host.log_record(level, msg, Some(&self.id), None);
    }

    /// A `plugin/log` record with structured fields (a JSON object).
    pub fn log_fields(&self, level: LogLevel, msg: &str, fields: Value) {
        self.host.log_record(level, msg, Some(&self.id), Some(&fields));
    }

    /// Calls another plugin's entry through the host (`host/call`, with this run as parent) and blocks until
    /// its output arrives. Returns `CANCELLED` at once if this run is cancelled meanwhile, `TIMEOUT` after the
    /// default reverse-call timeout, and the host's error (`PERMISSION_DENIED`, `CIRCULAR_CALL`, the callee's own
    /// code…) otherwise.
    pub fn call(&self, plugin: &str, entry: &str, input: impl Serialize) -> Result<Value, PluginError> {
        self.host.call_inner(plugin, entry, input, None, Some(&self.id), Some(&self.token))
    }

    /// Like [`call`](Self::call), with a timeout the host also applies to the nested run.
    pub fn call_with_timeout(
        &self,
        plugin: &str,
        entry: &str,
        input: impl Serialize,
        timeout: Duration,
    ) -> Result<Value, PluginError> {
        self.host.call_inner(plugin, entry, input, Some(timeout), Some(&self.id), Some(&self.token))
    }

    /// `host/pushMessage`.
    pub fn push_message(&self, message: impl Serialize) -> Result<Value, PluginError> {
        self.host.request_with("host/pushMessage", to_value(message)?, None, Some(&self.token))
    }

    /// `host/emitEvent`.
    pub fn emit_event(&self, event_type: &str, payload: impl Serialize) -> Result<Value, PluginError> {
        let params = serde_json::json!({"type": event_type, "payload": to_value(payload)?});
        self.host.request_with("host/emitEvent", params, None, Some(&self.token))
    }

    /// `host/queryBus`.
    pub fn query_bus(&self, query: impl Serialize) -> Result<Value, PluginError> {
        self.host.request_with("host/queryBus", to_value(query)?, None, Some(&self.token))
    }

    /// `host/updateStatus`.
    pub fn update_status(&self, status: impl Serialize) -> Result<Value, PluginError> {
        self.host.request_with("host/updateStatus", to_value(status)?, None, Some(&self.token))
    }
}
