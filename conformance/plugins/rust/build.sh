#!/bin/sh
# Builds the Rust conformance plugin: target/release/conformance (the command in plugin.toml).
set -e
cd "$(dirname "$0")"
cargo build --release
