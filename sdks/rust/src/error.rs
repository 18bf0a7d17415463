//! Errors that cross the wire.
//!
//! Every error has a numeric JSON-RPC code (`rpc_code`, e.g. 1013) and a symbolic code (`code`, e.g.
//! `"CITY_UNKNOWN"`) that travels in `error.data.code`.

use serde::Serialize;
use serde_json::{json, Map, Value};
use std::fmt;

/// The numeric error codes of the protocol (`packages/protocol/src/errors.ts`).
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;

    pub const ENTRY_NOT_FOUND: i64 = 1001;
    pub const INVALID_INPUT: i64 = 1002;
    pub const TIMEOUT: i64 = 1003;
    pub const CANCELLED: i64 = 1004;
    pub const PLUGIN_UNAVAILABLE: i64 = 1005;
    pub const CIRCULAR_CALL: i64 = 1006;
    pub const BUSY: i64 = 1007;
    pub const MESSAGE_TOO_LARGE: i64 = 1008;
    pub const CONNECTION_CLOSED: i64 = 1009;
    pub const PERMISSION_DENIED: i64 = 1010;
    pub const VERSION_MISMATCH: i64 = 1011;
    pub const PLUGIN_CRASHED: i64 = 1012;
    pub const ENTRY_FAILED: i64 = 1013;
    pub const PLUGIN_NOT_FOUND: i64 = 1014;

    /// The symbolic name of a code plugd defines (`1003` → `"TIMEOUT"`).
    pub fn name(code: i64) -> Option<&'static str> {
        Some(match code {
            PARSE_ERROR => "PARSE_ERROR",
            INVALID_REQUEST => "INVALID_REQUEST",
            METHOD_NOT_FOUND => "METHOD_NOT_FOUND",
            INVALID_PARAMS => "INVALID_PARAMS",
            INTERNAL_ERROR => "INTERNAL_ERROR",
            ENTRY_NOT_FOUND => "ENTRY_NOT_FOUND",
            INVALID_INPUT => "INVALID_INPUT",
            TIMEOUT => "TIMEOUT",
            CANCELLED => "CANCELLED",
            PLUGIN_UNAVAILABLE => "PLUGIN_UNAVAILABLE",
            CIRCULAR_CALL => "CIRCULAR_CALL",
            BUSY => "BUSY",
            MESSAGE_TOO_LARGE => "MESSAGE_TOO_LARGE",
            CONNECTION_CLOSED => "CONNECTION_CLOSED",
            PERMISSION_DENIED => "PERMISSION_DENIED",
            VERSION_MISMATCH => "VERSION_MISMATCH",
            PLUGIN_CRASHED => "PLUGIN_CRASHED",
            ENTRY_FAILED => "ENTRY_FAILED",
            PLUGIN_NOT_FOUND => "PLUGIN_NOT_FOUND",
            _ => return None,
        })
    }
}

/// The JSON-RPC error object, as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// An error an entry (or a reverse call) returns.
///
/// * `PluginError::new("CITY_UNKNOWN", "no such city")` reaches the caller as error `1013` with
///   `data: {"code": "CITY_UNKNOWN"}`; `.with_details(json!({..}))` adds `data.details`.
/// * `PluginError::cancelled()` is `1004` / `CANCELLED`; `run.check_cancelled()?` returns it for you.
/// * Any `std::error::Error` converts with `?` into `1013` / `ENTRY_FAILED` with the error's message, so
///   `let n: u32 = text.parse()?;` works in a handler.
/// * Errors from reverse calls (`run.call(..)`) keep the host's code, message and data.
///
/// Like `anyhow::Error`, `PluginError` does not implement `std::error::Error` itself; that is what lets `?`
/// convert every other error into it.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError(Box<Inner>);

/// Boxed so `Result<T, PluginError>` stays small.
#[derive(Debug, Clone, PartialEq)]
struct Inner {
    rpc_code: i64,
    code: String,
    message: String,
    details: Option<Value>,
    /// The error's `data` as received from the other side, kept whole (hint, chain, …).
    wire_data: Option<Value>,
}

impl PluginError {
    /// A failure with the plugin's own symbolic code: error `1013 ENTRY_FAILED` with `data.code = code`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError(Box::new(Inner {
            rpc_code: codes::ENTRY_FAILED,
            code: code.into(),
            message: message.into(),
            details: None,
            wire_data: None,
        }))
    }

    /// A failure without a code of its own: `1013` with `data.code = "ENTRY_FAILED"`.
    pub fn entry_failed(message: impl Into<String>) -> Self {
        Self::new("ENTRY_FAILED", message)
    }

    /// The run was cancelled: `1004 CANCELLED`.
    pub fn cancelled() -> Self {
        Self::protocol(codes::CANCELLED, "the request was cancelled")
    }

    /// The input does not fit: `1002 INVALID_INPUT`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::protocol(codes::INVALID_INPUT, message)
    }

    /// An error with one of the protocol's numeric codes (see [`codes`]); the symbolic code is its name.
    pub fn protocol(rpc_code: i64, message: impl Into<String>) -> Self {
        let code = codes::name(rpc_code).map(str::to_owned).unwrap_or_else(|| rpc_code.to_string());
        PluginError(Box::new(Inner { rpc_code, code, message: message.into(), details: None, wire_data: None }))
    }

    /// Rebuilds an error received from the other side, keeping its `data` whole.
    pub fn from_wire(rpc_code: i64, message: impl Into<String>, data: Option<Value>) -> Self {
        let code = data
            .as_ref()
            .and_then(|d| d.get("code"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| codes::name(rpc_code).map(str::to_owned))
            .unwrap_or_else(|| rpc_code.to_string());
        let details = data.as_ref().and_then(|d| d.get("details")).cloned();
        PluginError(Box::new(Inner { rpc_code, code, message: message.into(), details, wire_data: data }))
    }

    /// Adds `data.details` (any JSON) to the error.
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        let details = serde_json::to_value(details).unwrap_or(Value::Null);
        if let Some(Value::Object(map)) = &mut self.0.wire_data {
            map.insert("details".into(), details.clone());
        }
        self.0.details = Some(details);
        self
    }

    /// The symbolic code (`"CITY_UNKNOWN"`, `"CANCELLED"`, `"TIMEOUT"`, …).
    pub fn code(&self) -> &str {
        &self.0.code
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The numeric JSON-RPC code (1013 for the plugin's own errors).
    pub fn rpc_code(&self) -> i64 {
        self.0.rpc_code
    }

    pub fn details(&self) -> Option<&Value> {
        self.0.details.as_ref()
    }

    /// True for `1004 CANCELLED`.
    pub fn is_cancelled(&self) -> bool {
        self.0.rpc_code == codes::CANCELLED
    }

    /// The `data` the error carries on the wire: `{"code": …}` plus `details` if any.
    pub fn data(&self) -> Value {
        if let Some(d) = &self.0.wire_data {
            return d.clone();
        }
        let mut map = Map::new();
        map.insert("code".into(), Value::String(self.0.code.clone()));
        if let Some(d) = &self.0.details {
            map.insert("details".into(), d.clone());
        }
        Value::Object(map)
    }

    pub fn to_error_object(&self) -> ErrorObject {
        ErrorObject { code: self.0.rpc_code, message: self.0.message.clone(), data: Some(self.data()) }
    }

    pub(crate) fn with_data(mut self, data: Value) -> Self {
        self.0.wire_data = Some(data);
        self
    }

    pub(crate) fn connection_closed(reason: &str) -> Self {
        Self::protocol(codes::CONNECTION_CLOSED, format!("connection closed: {reason}"))
    }

    pub(crate) fn entry_failed_typed(message: String, type_name: &str) -> Self {
        Self::entry_failed(message).with_data(json!({"code": "ENTRY_FAILED", "type": type_name}))
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.0.code, self.0.rpc_code, self.0.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for PluginError {
    fn from(e: E) -> Self {
        let full = std::any::type_name::<E>();
        let short = full.rsplit("::").next().unwrap_or(full);
        PluginError::entry_failed_typed(e.to_string(), short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_error_on_the_wire() {
        let e = PluginError::new("MY_CODE", "boom");
        assert_eq!(
            serde_json::to_value(e.to_error_object()).unwrap(),
            json!({"code": 1013, "message": "boom", "data": {"code": "MY_CODE"}})
        );
        let e = PluginError::new("X", "y").with_details(json!({"n": 1}));
        assert_eq!(e.data(), json!({"code": "X", "details": {"n": 1}}));
        assert_eq!(PluginError::cancelled().data(), json!({"code": "CANCELLED"}));
        assert_eq!(PluginError::cancelled().rpc_code(), 1004);
    }

    #[test]
    fn question_mark_converts_std_errors() {
        fn parse(s: &str) -> Result<u32, PluginError> {
            Ok(s.parse::<u32>()?)
        }
        let e = parse("x").unwrap_err();
        assert_eq!(e.rpc_code(), 1013);
        assert_eq!(e.code(), "ENTRY_FAILED");
        assert_eq!(e.data(), json!({"code": "ENTRY_FAILED", "type": "ParseIntError"}));
    }

    #[test]
    fn wire_errors_keep_their_code() {
        let e = PluginError::from_wire(1010, "denied", Some(json!({"code": "PERMISSION_DENIED", "hint": "h"})));
        assert_eq!(e.code(), "PERMISSION_DENIED");
        assert_eq!(e.data()["hint"], "h");
        let e = PluginError::from_wire(1003, "slow", None);
        assert_eq!(e.code(), "TIMEOUT");
        let e = PluginError::from_wire(42, "odd", None);
        assert_eq!(e.code(), "42");
    }
}
