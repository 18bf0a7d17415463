//! The conformance plugin of the Rust SDK: exactly the entries of conformance/README.md.

use plugd_sdk::{EntrySpec, LogLevel, Plugin, PluginError, Progress, Run};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Deserialize)]
struct ProgressIn {
    steps: u64,
}

#[derive(Deserialize)]
struct FailIn {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct SlowIn {
    ms: u64,
}

#[derive(Deserialize)]
struct CallIn {
    plugin: String,
    entry: String,
    #[serde(default)]
    input: Value,
}

fn main() {
    let mut p = Plugin::new("conformance", "0.1.0");

    p.entry(
        "echo",
        EntrySpec::new("Returns the input unchanged").input_schema(json!({"type": "object"})),
        |_run: &Run, input: Value| Ok(input),
    );

    p.typed_entry(
        "progress",
        EntrySpec::new("Sends n progress updates and one output chunk").input_schema(json!({
            "type": "object",
            "properties": {"steps": {"type": "integer"}},
            "required": ["steps"]
        })),
        |run: &Run, input: ProgressIn| {
            let n = input.steps;
            for i in 1..=n {
                run.progress(Progress::step(i, n).message(format!("step {i}")));
            }
            run.output("done\n");
            Ok(json!({ "steps": n }))
        },
    );

    p.typed_entry("fail", EntrySpec::new("Fails with the given code and message"), |_run: &Run, input: FailIn| {
        Err::<Value, _>(PluginError::new(input.code, input.message))
    });

    p.typed_entry("slow", EntrySpec::new("Waits ms milliseconds; honours cancellation"), |run: &Run, input: SlowIn| {
        // run.sleep wakes as soon as `$/cancelRequest` arrives and then returns Err(CANCELLED).
        run.sleep(Duration::from_millis(input.ms))?;
        Ok(json!({ "slept": input.ms }))
    });

    p.entry("export", EntrySpec::new("Sends a text and a JSON export"), |run: &Run, _input: Value| {
        run.export_text("t", "hello")?;
        run.export_json("j", json!({"a": 1}))?;
        Ok(json!({ "exports": 2 }))
    });

    p.typed_entry(
        "call",
        EntrySpec::new("Calls another plugin's entry through the host"),
        |run: &Run, input: CallIn| {
            let result = run.call(&input.plugin, &input.entry, input.input)?;
            Ok(json!({ "result": result }))
        },
    );

    p.entry("noise", EntrySpec::new("Prints to stdout with println!"), |_run: &Run, _input: Value| {
        println!("noise to stdout");
        Ok(json!({ "ok": true }))
    });

    p.entry("log", EntrySpec::new("Logs through the SDK logger"), |run: &Run, _input: Value| {
        run.log(LogLevel::Info, "hello log");
        Ok(json!({ "ok": true }))
    });

    std::process::exit(p.serve());
}
