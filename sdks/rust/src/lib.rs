//! # plugd-sdk: plugd plugins in Rust
//!
//! A plugd plugin is a process that speaks JSON-RPC 2.0 over stdin/stdout with `Content-Length` framing.
//! This crate does the protocol — framing, handshake, concurrent invokes on worker threads, cancellation,
//! progress/output/exports, logs, reverse calls to the host — with plain threads (no async runtime).
//!
//! ```no_run
//! use plugd_sdk::{EntrySpec, Plugin, PluginError, Progress, Run};
//! use serde::Deserialize;
//! use serde_json::{json, Value};
//! use std::time::Duration;
//!
//! #[derive(Deserialize)]
//! struct CountIn { to: u64 }
//!
//! fn main() {
//!     let mut p = Plugin::new("hello-rust", "0.1.0");
//!     p.entry("echo", EntrySpec::new("Echo the input").input_schema(json!({"type": "object"})),
//!         |_run: &Run, input: Value| Ok(input));
//!     p.typed_entry("count", EntrySpec::new("Count with progress"), |run: &Run, input: CountIn| {
//!         for i in 1..=input.to {
//!             run.sleep(Duration::from_millis(100))?; // Err(CANCELLED) at once when cancelled
//!             run.progress(Progress::step(i, input.to).message(format!("{i} of {}", input.to)));
//!         }
//!         Ok::<_, PluginError>(json!({"counted": input.to}))
//!     });
//!     std::process::exit(p.serve());
//! }
//! ```
//!
//! See the crate README (a minimal plugin, how plugd starts it) and docs/plugin-authoring.md in the plugd repository
//! for the whole tour.

mod base64;
mod cancel;
mod error;
pub mod framing;
mod host;
mod peer;
mod plugin;
mod pool;
mod run;
mod stdio;
pub mod testing;

pub use cancel::CancelToken;
pub use error::{codes, ErrorObject, PluginError};
pub use host::{ConfigMode, Host, LogLevel, DEFAULT_REVERSE_TIMEOUT};
pub use plugin::{Entry, EntrySpec, Event, Plugin, PROTOCOL_VERSION, SDK_NAME, SDK_VERSION};
pub use run::{Export, Progress, Run};

/// Re-exported so plugins need not depend on `serde_json` just for `json!` and `Value`.
pub use serde_json::{json, Value};
