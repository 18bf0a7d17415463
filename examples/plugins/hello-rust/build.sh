#!/bin/sh
# Builds the plugin: target/release/hello-rust (the command in plugin.toml).
set -e
cd "$(dirname "$0")"
cargo build --release
