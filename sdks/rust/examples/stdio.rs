//! A tiny plugin served on the real stdin/stdout; the process-level tests (tests/process.rs) spawn it.
//! Try it by hand: `cargo run --example stdio`, then type frames.

use plugd_sdk::{json, EntrySpec, LogLevel, Plugin};
use std::time::Duration;

fn main() {
    let mut p = Plugin::new("sdk-example", "0.1.0");
    p.entry("echo", EntrySpec::new("Returns its input"), |_run, input| Ok(input));
    p.entry("noise", EntrySpec::new("println! must not reach the protocol"), |run, _input| {
        println!("noise to stdout");
        print!("partial line without newline ");
        run.log(LogLevel::Info, "hello log");
        Ok(json!({"ok": true}))
    });
    p.entry("stuck", EntrySpec::new("Sleeps without looking at cancellation"), |_run, _input| {
        std::thread::sleep(Duration::from_secs(60));
        Ok(json!(null))
    });
    p.on_shutdown(|| eprintln!("shutdown hook ran"));
    std::process::exit(p.serve());
}
