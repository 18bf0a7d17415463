//! The reverse requests `Host` writes, checked against what the host accepts (docs/protocol.md, "host/*").

use plugd_sdk::testing::TestHost;
use plugd_sdk::{ConfigMode, EntrySpec, Plugin};
use serde_json::{json, Value};

/// A plugin whose `update` entry calls `Host::update_config` (or `update_config_mode` when input has `mode`).
fn plugin() -> Plugin {
    let mut p = Plugin::new("config-plugin", "0.1.0");
    p.entry("update", EntrySpec::new("Updates its own config"), |run, input| {
        let patch = input["patch"].clone();
        match input["mode"].as_str() {
            Some("temporary") => run.host().update_config_mode(patch, ConfigMode::Temporary),
            Some(_) => run.host().update_config_mode(patch, ConfigMode::Permanent),
            None => run.host().update_config(patch),
        }
    });
    p
}

/// Invokes `update` with `input`, answers its reverse request with `answer`; returns the request's params
/// and the run's output.
fn update_round_trip(input: Value, answer: Value) -> (Value, Value) {
    let mut h = TestHost::start(plugin());
    h.handshake();
    let id = h.start_invoke("update", input);
    let req = h.wait_for("host/updateConfig", |m| m.get("method").is_some() && m.get("id").is_some());
    assert_eq!(req["method"], "host/updateConfig");
    h.send(&json!({"jsonrpc": "2.0", "id": req["id"], "result": answer}));
    let res = h.response(&id);
    (req["params"].clone(), res["result"]["output"].clone())
}

#[test]
fn update_config_sends_the_patch_under_patch() {
    let answer = json!({"success": true, "config": {"greeting": {"prefix": "Yo"}}});
    let (params, output) = update_round_trip(json!({"patch": {"greeting": {"prefix": "Yo"}}}), answer.clone());
    // The host reads `patch` (or `config`) and refuses anything else with INVALID_INPUT.
    assert_eq!(params, json!({"patch": {"greeting": {"prefix": "Yo"}}}));
    assert_eq!(output, answer);
}

#[test]
fn update_config_mode_sends_the_mode() {
    let (params, _) = update_round_trip(json!({"patch": {"k": 1}, "mode": "temporary"}), json!({"success": true}));
    assert_eq!(params, json!({"patch": {"k": 1}, "mode": "temporary"}));
    // Permanent is the host's default for host/updateConfig: no mode, as the TypeScript SDK sends it.
    let (params, _) = update_round_trip(json!({"patch": {"k": 2}, "mode": "permanent"}), json!({"success": true}));
    assert_eq!(params, json!({"patch": {"k": 2}}));
}
