#!/bin/sh
# Builds the plugin binary plugd starts (plugin.toml: command = "bin/hello-go"). Needs Go 1.22 or newer.
set -eu
cd "$(dirname "$0")"
go build -o bin/hello-go .
