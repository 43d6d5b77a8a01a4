#!/usr/bin/env bash
# Builds and tests everything under editors/: the tree-sitter grammar, the VS Code extension and
# the Neovim plugin. Runs every step, then exits non-zero if any failed.
#
# Needs: node >= 20 with npm, a C compiler (cc) for tree-sitter's tests, and nvim (Debian's
# `neovim` package) for the Neovim test. TLC=/path/to/tlc adds the Neovim end-to-end checks
# against the real language server and the VS Code end-to-end test (code-server, installed into
# editors/.tools by vscode/e2e/setup-code-server.sh, driven in Debian's `chromium`; node 20);
# without them they are skipped with the reason printed.
#
# tree-sitter-cli comes from npm (pinned in tree-sitter-tl/package.json). Its install script
# downloads a release binary; where that download is impossible, the same pinned version is taken
# from PATH or built with `cargo install` into editors/.tools.
set -uo pipefail

editors="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=()

step() {
  local name="$1"
  shift
  echo
  echo "=== $name"
  local start=$SECONDS
  if ("$@"); then
    echo "--- ok: $name ($((SECONDS - start)) s)"
  else
    echo "--- FAILED: $name ($((SECONDS - start)) s)"
    failures+=("$name")
  fi
}

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "editors/ci.sh: '$1' is required ($2)" >&2
    exit 2
  }
}
need node "Debian: apt-get install nodejs npm (node >= 20)"
need npm "Debian: apt-get install npm"
need cc "tree-sitter compiles the grammar to test it; Debian: apt-get install build-essential"

# ----------------------------------------------------------------- tree-sitter
grammar="$editors/tree-sitter-tl"

ensure_tree_sitter() {
  local pkg="$grammar/node_modules/tree-sitter-cli"
  local want
  want="$(node -p "require('$grammar/package.json').devDependencies['tree-sitter-cli']")"
  [ -x "$pkg/tree-sitter" ] && return 0
  echo "tree-sitter-cli $want: fetching its release binary"
  (cd "$pkg" && node install.js) && [ -x "$pkg/tree-sitter" ] && return 0
  rm -f "$pkg/tree-sitter"
  local have=""
  if command -v tree-sitter >/dev/null 2>&1; then
    have="$(tree-sitter --version | awk '{print $2}')"
  fi
  if [ "$have" = "$want" ]; then
    ln -s "$(command -v tree-sitter)" "$pkg/tree-sitter"
    return 0
  fi
  local tools="$editors/.tools/tree-sitter-$want"
  if [ ! -x "$tools/bin/tree-sitter" ]; then
    command -v cargo >/dev/null 2>&1 || {
      echo "cannot get tree-sitter $want: no download, none on PATH, no cargo" >&2
      return 1
    }
    echo "building tree-sitter-cli $want with cargo (one time, into editors/.tools)"
    cargo install tree-sitter-cli --version "$want" --locked --root "$tools" || return 1
  fi
  ln -s "$tools/bin/tree-sitter" "$pkg/tree-sitter"
}

grammar_install() {
  cd "$grammar" && npm ci --ignore-scripts --no-audit --no-fund && ensure_tree_sitter
}

# The committed src/ must be exactly what the pinned tree-sitter generates from grammar.js.
grammar_generate_check() {
  cd "$grammar" || return 1
  cp -r src "$work/src-committed"
  npx --no-install tree-sitter generate --abi 14 || return 1
  if ! diff -r "$work/src-committed" src >"$work/generate.diff"; then
    head -40 "$work/generate.diff"
    echo "src/ is stale: run 'npx tree-sitter generate --abi 14' in editors/tree-sitter-tl and commit src/" >&2
    return 1
  fi
}

grammar_tests() {
  cd "$grammar" && npx --no-install tree-sitter test
}

queries_in_sync() {
  node "$grammar/scripts/sync-queries.js" --check
}

# The grammar must keep up with the language: every spec example parses without an ERROR node.
grammar_parses_spec_examples() {
  cd "$grammar" || return 1
  local specs
  mapfile -t specs < <(find "$editors/../spec-examples" -name '*.tl' 2>/dev/null | sort)
  if [ ${#specs[@]} -eq 0 ]; then
    echo "no spec-examples/*.tl found: nothing to parse"
    return 0
  fi
  npx --no-install tree-sitter parse --quiet --stat "${specs[@]}"
}

# Hand-written Zed queries and the generated Helix/Neovim copies must name real nodes and fields.
editor_queries_compile() {
  cd "$grammar" || return 1
  local q
  for q in "$editors"/zed/languages/tl/*.scm "$editors"/helix/queries/tl/*.scm "$editors"/nvim/queries/tl/*.scm; do
    npx --no-install tree-sitter query "$q" "$editors/nvim/test/fixtures/mlp.tl" >/dev/null || {
      echo "query does not compile: ${q#"$editors"/}" >&2
      return 1
    }
  done
}

# Helix and Zed cannot be installed here (see README.md): check what we ship for them instead.
# Every highlight capture must get a colour from the editor's default theme (both fall back by
# dotted prefix), so no tl token renders unstyled there.
helix_zed_captures_styled() {
  node "$editors/screenshots/query-render.js" --check
}
# The Zed extension crate compiles (for the host) against the pinned zed_extension_api; Zed itself
# builds it to wasm32-wasip2, a target this machine's toolchain cannot fetch.
zed_extension_compiles() {
  command -v cargo >/dev/null 2>&1 || { echo "cargo is required for the Zed extension check" >&2; return 1; }
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$editors/.tools/zed-target}" \
    cargo check --locked --quiet --manifest-path "$editors/zed/Cargo.toml"
}

# ------------------------------------------------------------------- VS Code
vscode="$editors/vscode"

vscode_install() {
  cd "$vscode" && npm ci --no-audit --no-fund
}
vscode_compile() {
  cd "$vscode" && npm run --silent compile
}
vscode_unit_tests() {
  cd "$vscode" && node --test out/test/
}
vscode_grammar_tests() {
  cd "$vscode" && npm run --silent test:grammar
}
vscode_package() {
  cd "$vscode" && npx --no-install vsce package --allow-missing-repository --skip-license --out "$work/tl.vsix" &&
    ls -l "$work/tl.vsix"
}

# VS Code's own workbench (code-server) in chromium, the extension talking to TLC's `tlc lsp`.
vscode_e2e() {
  local tools
  tools="$("$vscode/e2e/setup-code-server.sh")" || return 1
  if [ -f "$work/tl.vsix" ]; then
    TL_E2E_TOOLS="$tools" TL_VSIX="$work/tl.vsix" node "$vscode/e2e/run.mjs"
  else
    TL_E2E_TOOLS="$tools" node "$vscode/e2e/run.mjs"
  fi
}
# Why the VS Code end-to-end test cannot run here, or nothing when it can.
vscode_e2e_blocker() {
  [ -n "${TLC:-}" ] || { echo "TLC is unset"; return; }
  command -v chromium >/dev/null 2>&1 || { echo "chromium is not installed (apt-get install chromium)"; return; }
  [ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ] || echo "code-server 4.96.x needs node 20, this is $(node -v)"
}

# -------------------------------------------------------------------- Neovim
nvim_against_fake_server() {
  TLC="$editors/nvim/test/fake-tlc.js" TL_E2E_TIMEOUT_MS=10000 "$editors/nvim/test/run.sh"
}
nvim_e2e() {
  "$editors/nvim/test/run.sh"
}

step "tree-sitter: npm ci + tree-sitter-cli" grammar_install
step "tree-sitter: generated src/ is up to date" grammar_generate_check
step "tree-sitter: corpus and highlight tests" grammar_tests
step "tree-sitter: parses every spec-examples/*.tl" grammar_parses_spec_examples
step "tree-sitter: editor query copies in sync" queries_in_sync
step "tree-sitter: Zed, Helix and Neovim queries compile" editor_queries_compile
step "helix, zed: every highlight capture is styled by the default theme" helix_zed_captures_styled
step "zed: extension crate compiles against zed_extension_api" zed_extension_compiles
step "vscode: npm ci" vscode_install
step "vscode: TypeScript compile" vscode_compile
step "vscode: extension unit tests" vscode_unit_tests
step "vscode: TextMate grammar tests" vscode_grammar_tests
step "vscode: vsce package" vscode_package
vscode_e2e_skip="$(vscode_e2e_blocker)"
if [ -z "$vscode_e2e_skip" ]; then
  step "vscode: end-to-end in code-server + chromium against TLC=$TLC" vscode_e2e
elif [ "${CI:-}" = true ]; then
  # .ci/run installs chromium and builds tlc: a skip in CI would hide a broken set-up.
  step "vscode: end-to-end (cannot run in CI: $vscode_e2e_skip)" false
else
  echo
  echo "=== vscode: end-to-end skipped: $vscode_e2e_skip"
fi
if command -v nvim >/dev/null 2>&1; then
  step "nvim: plugin wiring against the scripted fake server" nvim_against_fake_server
  if [ -n "${TLC:-}" ]; then
    step "nvim: end-to-end against TLC=$TLC" nvim_e2e
  else
    step "nvim: tree-sitter checks (TLC unset: language server checks skipped)" nvim_e2e
  fi
else
  echo
  echo "=== nvim: skipped: nvim is not installed (apt-get install neovim)"
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "editors/ci.sh: ${#failures[@]} step(s) failed:"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "editors/ci.sh: all steps passed"
