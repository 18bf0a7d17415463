//! Example plugd plugin in Rust: `echo`, `count` (progress, output, cancellable) and `greet` (config).
//! Build with `./build.sh`; plugd starts `target/release/hello-rust` (see plugin.toml).

use plugd_sdk::{Entry, EntrySpec, LogLevel, Plugin, PluginError, Progress, Run};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountIn {
    to: u64,
    #[serde(default = "default_delay")]
    delay_ms: u64,
}

fn default_delay() -> u64 {
    100
}

/// Counts to `to`, one step every `delayMs`: progress and an output line per step; stops at once on cancel.
fn count(run: &Run, input: CountIn) -> Result<Value, PluginError> {
    for i in 1..=input.to {
        run.sleep(Duration::from_millis(input.delay_ms))?; // Err(CANCELLED) as soon as the run is cancelled
        run.progress(Progress::step(i, input.to).message(format!("{i} of {}", input.to)));
        run.output(&format!("{i}\n"));
    }
    Ok(json!({ "counted": input.to }))
}

/// `greet` as a typed entry of its own.
struct Greet;

#[derive(Deserialize)]
struct GreetIn {
    name: String,
}

#[derive(Serialize)]
struct GreetOut {
    greeting: String,
}

impl Entry for Greet {
    type Input = GreetIn;
    type Output = GreetOut;

    fn id(&self) -> &str {
        "greet"
    }

    fn spec(&self) -> EntrySpec {
        EntrySpec::new("Greets someone with the configured prefix").input_schema(json!({
            "type": "object",
            "properties": {"name": {"type": "string", "minLength": 1}},
            "required": ["name"]
        }))
    }

    fn call(&self, run: &Run, input: GreetIn) -> Result<GreetOut, PluginError> {
        let config = run.config();
        let prefix = config["greeting"]["prefix"].as_str().unwrap_or("Hello");
        run.log(LogLevel::Debug, &format!("greeting {}", input.name));
        Ok(GreetOut { greeting: format!("{prefix}, {}!", input.name) })
    }
}

fn main() {
    let mut p = Plugin::new("Hello (Rust)", env!("CARGO_PKG_VERSION"));

    p.entry(
        "echo",
        EntrySpec::new("Returns its input unchanged").input_schema(json!({"type": "object"})),
        |_run: &Run, input: Value| Ok(input),
    );

    p.typed_entry(
        "count",
        EntrySpec::new("Counts to `to`, one step every `delayMs`, with progress and output; honours cancel")
            .input_schema(json!({
                "type": "object",
                "properties": {
                    "to": {"type": "integer", "minimum": 1, "maximum": 100000},
                    "delayMs": {"type": "integer", "minimum": 0, "default": 100}
                },
                "required": ["to"]
            }))
            .streaming(true),
        count,
    );

    p.register(Greet);

    p.on_startup(|config| {
        eprintln!("hello-rust starting with config {config}");
        Ok(())
    });
    p.on_config_changed(|config| eprintln!("hello-rust: config is now {config}"));
    p.on_shutdown(|| eprintln!("hello-rust: bye"));

    std::process::exit(p.serve());
}
