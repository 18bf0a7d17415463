//! Talking to the host outside a run: logs and reverse requests (`host/*`).

use crate::cancel::CancelToken;
use crate::error::PluginError;
use crate::peer::Peer;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Default time a reverse request waits for the host's answer.
pub const DEFAULT_REVERSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Level of a `plugin/log` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// How [`Host::update_config_mode`] keeps a config change: written to the plugin's config file (the default),
/// or held for the running plugin process only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConfigMode {
    #[default]
    Permanent,
    Temporary,
}

#[derive(Serialize)]
struct LogParams<'a> {
    level: LogLevel,
    msg: &'a str,
    #[serde(rename = "runId", skip_serializing_if = "Option::is_none")]
    run_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a Value>,
}

/// A handle on the host connection, usable from any thread and any hook (event handlers, timers of your own,
/// background threads). Get one with [`Plugin::host`](crate::Plugin::host) before serving, or
/// [`Run::host`](crate::Run::host) in an entry. Reverse requests need `[plugin.permissions]` in the manifest,
/// or the host answers `1010 PERMISSION_DENIED`. Before `serve` starts (or after it ends) every request fails
/// with `1009 CONNECTION_CLOSED`.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

struct HostInner {
    peer: RwLock<Option<Arc<Peer>>>,
    timeout: RwLock<Duration>,
}

impl Default for Host {
    fn default() -> Self {
        Host { inner: Arc::new(HostInner { peer: RwLock::new(None), timeout: RwLock::new(DEFAULT_REVERSE_TIMEOUT) }) }
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("connected", &self.peer().is_some()).finish()
    }
}

impl Host {
    pub(crate) fn attach(&self, peer: Arc<Peer>) {
        *self.inner.peer.write().unwrap_or_else(|e| e.into_inner()) = Some(peer);
    }

    pub(crate) fn set_timeout(&self, t: Duration) {
        *self.inner.timeout.write().unwrap_or_else(|e| e.into_inner()) = t;
    }

    fn peer(&self) -> Option<Arc<Peer>> {
        self.inner.peer.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The timeout reverse requests use unless told otherwise.
    pub fn default_timeout(&self) -> Duration {
        *self.inner.timeout.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a notification (fire and forget).
    pub fn notify(&self, method: &str, params: impl Serialize) -> Result<(), PluginError> {
        match self.peer() {
            Some(p) => p.notify(method, params),
            None => Err(PluginError::connection_closed("not serving")),
        }
    }

    /// Sends any request to the host and waits for the answer (up to `timeout`, `None` = the default).
    pub fn request(
        &self,
        method: &str,
        params: impl Serialize,
        timeout: Option<Duration>,
    ) -> Result<Value, PluginError> {
        self.request_with(method, params, timeout, None)
    }

    pub(crate) fn request_with(
        &self,
        method: &str,
        params: impl Serialize,
        timeout: Option<Duration>,
        cancel: Option<&CancelToken>,
    ) -> Result<Value, PluginError> {
        match self.peer() {
            Some(p) => p.request(method, params, Some(timeout.unwrap_or_else(|| self.default_timeout())), cancel),
            None => Err(PluginError::connection_closed(&format!("cannot send '{method}': not serving"))),
        }
    }

    /// A `plugin/log` record. Failures (no connection) are ignored: logging never fails a caller.
    pub fn log(&self, level: LogLevel, msg: &str) {
        self.log_record(level, msg, None, None);
    }

    /// A `plugin/log` record with structured fields (a JSON object).
    pub fn log_fields(&self, level: LogLevel, msg: &str, fields: Value) {
        self.log_record(level, msg, None, Some(&fields));
    }

    pub(crate) fn log_record(&self, level: LogLevel, msg: &str, run_id: Option<&str>, fields: Option<&Value>) {
        if self.notify("plugin/log", LogParams { level, msg, run_id, fields }).is_err() {
            eprintln!("[{level:?}] {msg}");
        }
    }

    /// Calls another plugin's entry through the host (`host/call`) and returns its output.
    pub fn call(&self, plugin: &str, entry: &str, input: impl Serialize) -> Result<Value, PluginError> {
        self.call_inner(plugin, entry, input, None, None, None)
    }

    pub(crate) fn call_inner(
        &self,
        plugin: &str,
        entry: &str,
        input: impl Serialize,
        timeout: Option<Duration>,
        parent_run_id: Option<&str>,
        cancel: Option<&CancelToken>,
    ) -> Result<Value, PluginError> {
        let mut params = Map::new();
        params.insert("plugin".into(), json!(plugin));
        params.insert("entry".into(), json!(entry));
        params.insert("input".into(), to_value(input)?);
        if let Some(t) = timeout {
            params.insert("timeoutMs".into(), json!(t.as_millis() as u64));
        }
        if let Some(r) = parent_run_id {
            params.insert("parentRunId".into(), json!(r));
        }
        // Wait a little longer than the nested call's own timeout, so the host's TIMEOUT answer reaches us.
        let wait = timeout.map(|t| t + Duration::from_secs(2));
        self.request_with("host/call", Value::Object(params), wait, cancel)
    }

    /// Pushes a message to the host's message plane (`host/pushMessage`): source, type, description, priority,
    /// content, metadata… Answers `{"submitted": true}`.
    pub fn push_message(&self, message: impl Serialize) -> Result<Value, PluginError> {
        self.request_with("host/pushMessage", to_value(message)?, None, None)
    }

    /// Emits a custom event on the host's bus (`host/emitEvent`).
    pub fn emit_event(&self, event_type: &str, payload: impl Serialize) -> Result<Value, PluginError> {
        self.request_with("host/emitEvent", json!({"type": event_type, "payload": to_value(payload)?}), None, None)
    }

    /// Queries the host's bus (`host/queryBus`).
    pub fn query_bus(&self, query: impl Serialize) -> Result<Value, PluginError> {
        self.request_with("host/queryBus", to_value(query)?, None, None)
    }

    /// The plugin's effective config as the host has it now (`host/getConfig`).
    pub fn get_config(&self) -> Result<Value, PluginError> {
        self.request_with("host/getConfig", json!({}), None, None)
    }

    /// Merges `patch` (a JSON object) into the plugin's config and writes it to the config file
    /// (`host/updateConfig {patch}`; permanent is the host's default for this call). Answers the hot-update
    /// result `{success, config, …}`; the new config also arrives through `on_config_changed`.
    pub fn update_config(&self, patch: impl Serialize) -> Result<Value, PluginError> {
        self.update_config_mode(patch, ConfigMode::Permanent)
    }

    /// [`update_config`](Self::update_config) with an explicit mode: `ConfigMode::Temporary`
    /// (`host/updateConfig {patch, mode: "temporary"}`) writes no file; the change lasts until the plugin
    /// process stops or its config is next written.
    pub fn update_config_mode(&self, patch: impl Serialize, mode: ConfigMode) -> Result<Value, PluginError> {
        let mut params = Map::new();
        params.insert("patch".into(), to_value(patch)?);
        if mode == ConfigMode::Temporary {
            params.insert("mode".into(), json!("temporary"));
        }
        self.request_with("host/updateConfig", Value::Object(params), None, None)
    }

    /// Publishes a status object for the plugin (`host/updateStatus`).
    pub fn update_status(&self, status: impl Serialize) -> Result<Value, PluginError> {
        self.request_with("host/updateStatus", to_value(status)?, None, None)
    }
}

pub(crate) fn to_value(v: impl Serialize) -> Result<Value, PluginError> {
    serde_json::to_value(v).map_err(|e| PluginError::entry_failed(format!("cannot serialize: {e}")))
}
