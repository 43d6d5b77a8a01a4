#!/usr/bin/env bash
# Runs the Neovim plugin's end-to-end test headless. TLC=/path/to/tlc enables the language server
# checks (skipped with the reason printed otherwise). Exit status: non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v nvim >/dev/null 2>&1; then
  echo "nvim e2e: skipped: nvim is not installed (apt-get install neovim)"
  exit 0
fi
# -u NONE: no user config; -i NONE: no shada; -n: no swap files.
exec timeout "${TL_E2E_WALL_S:-300}" nvim --headless -u NONE -i NONE -n -c "luafile $here/e2e.lua"
