#!/usr/bin/env bash
# The whole test suite: every Rust crate (unit, snapshot, end-to-end tests against the real `tlc`
# binary and server), then the editor extensions (tree-sitter grammar, VS Code extension, Neovim
# plugin against the real `tlc lsp`). Tests that need data from ../shared or a GPU skip with a
# printed reason.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo build --locked -p tlc
cargo test --locked --workspace
TLC="${CARGO_TARGET_DIR:-$root/target}/debug/tlc" editors/ci.sh
