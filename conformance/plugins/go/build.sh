#!/bin/sh
# Builds the Go SDK's conformance plugin (plugin.toml: command = "bin/conformance"). Needs Go 1.22 or newer.
set -eu
cd "$(dirname "$0")"
go build -o bin/conformance .
