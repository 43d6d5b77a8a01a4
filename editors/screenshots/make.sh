#!/usr/bin/env bash
# Regenerates the editor screenshots in this directory with tl itself: Neovim with the plugin
# and the real `tlc lsp`, run under tmux, captured as ANSI, turned into HTML and photographed by
# headless Chromium; and VS Code's real workbench (code-server) with the extension, photographed
# by the VS Code end-to-end test (editors/vscode/e2e/run.mjs); and labelled renders of the Helix
# and Zed highlight queries (query-render.js; neither editor can be installed here).
#
#   TLC=target/debug/tlc editors/screenshots/make.sh
#
# Needs: tmux, nvim (>= 0.7), cc, python3, node 20 with npm, chromium (Debian: apt-get install
# tmux neovim build-essential python3 nodejs npm chromium ripgrep); the first run installs
# code-server into editors/.tools (npm registry). Output: nvim-*.png and vscode-*.png here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
TLC="$(cd "$repo" && realpath "${TLC:-target/debug/tlc}")"
for tool in tmux nvim cc python3 node chromium; do
  command -v "$tool" >/dev/null || { echo "make.sh: '$tool' is required" >&2; exit 2; }
done
[ -x "$TLC" ] || { echo "make.sh: no tlc at $TLC (cargo build -p tlc)" >&2; exit 2; }

work="$(mktemp -d)"
socket="tlshot-$$"
cleanup() {
  tmux -L "$socket" kill-server 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The tree-sitter parser, compiled from the committed sources (what :TlBuildParser does).
mkdir -p "$work/parser/parser"
cc -o "$work/parser/parser/tl.so" -shared -fPIC -Os -I "$repo/editors/tree-sitter-tl/src" \
  "$repo/editors/tree-sitter-tl/src/parser.c"

# A broken copy of the MNIST example beside the real payloads.
mkdir -p "$work/broken"
ln -s "$repo/spec-examples/weights" "$work/broken/weights"
ln -s "$repo/spec-examples/data" "$work/broken/data"
sed -e 's/a1 = relu(h1)/a1 = rellu(h1)/' "$repo/spec-examples/mnist_mlp.tl" >"$work/broken/mnist_mlp.tl"

cols=140
rows=40

# png NAME: the current pane as NAME.png.
png() {
  tmux -L "$socket" capture-pane -e -p -t shot >"$work/$1.ansi"
  python3 "$here/ansi2html.py" "$1" <"$work/$1.ansi" >"$work/$1.html"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=$((cols * 17 / 2 + 12)),$((rows * 17 + 12)) \
    --screenshot="$here/$1.png" "file://$work/$1.html" >/dev/null 2>&1
  echo "wrote editors/screenshots/$1.png"
}

# nvim FILE: a fresh Neovim on FILE in a 140x40 tmux pane.
nvim_on() {
  tmux -L "$socket" kill-session -t shot 2>/dev/null || true
  tmux -L "$socket" new-session -d -s shot -x "$cols" -y "$rows" \
    "cd '$repo' && TERM=xterm-256color TLC='$TLC' TL_SHOT_PARSER_DIR='$work/parser' nvim -u '$here/init.lua' -i NONE -n '$1'"
  tmux -L "$socket" set-option -t shot status off >/dev/null
}
keys() { tmux -L "$socket" send-keys -t shot "$@"; }

# 1. A verified spec: signs from tl/status, result code lenses, diagnostics.
nvim_on spec-examples/mnist_mlp.tl
sleep 4
keys ':TlVerify' Enter
sleep 5
keys ':call cursor(19, 12)' Enter
sleep 1
png nvim-verified

# 2. Hover on the verified contract: its summary and trust ledger.
keys 'K'
sleep 2
png nvim-hover

# 3. The trust report in a split.
keys Escape Escape ':TlTrust' Enter
sleep 3
png nvim-trust

# 4. A broken spec: the coded diagnostic.
nvim_on "$work/broken/mnist_mlp.tl"
sleep 5
keys ':call cursor(15, 8)' Enter
sleep 1
png nvim-diagnostic

# 5. VS Code itself: its workbench served by code-server, in chromium, with the extension and the
#    real server, after "tl: Verify File" (the end-to-end test's last step takes the picture).
tools="$("$repo/editors/vscode/e2e/setup-code-server.sh")"
TLC="$TLC" TL_E2E_TOOLS="$tools" node "$repo/editors/vscode/e2e/run.mjs" --screenshot "$work/vscode-verified.png"
[ -f "$work/vscode-verified.png" ] || { echo "make.sh: the VS Code end-to-end run took no screenshot" >&2; exit 1; }
mv "$work/vscode-verified.png" "$here/vscode-verified.png"
echo "wrote editors/screenshots/vscode-verified.png"

# 6. Helix and Zed cannot be installed here: renders of their highlight queries with each editor's
#    default theme colours, labelled as such (query-render.js).
node "$here/query-render.js" --png
