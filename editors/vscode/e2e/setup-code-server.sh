#!/usr/bin/env bash
# Installs what the VS Code end-to-end test runs on into editors/.tools/vscode-e2e-<versions>/:
# code-server (VS Code's own workbench served to a browser) and playwright-core (drives Debian's
# chromium), at the versions pinned in tools/package.json and tools/package-lock.json.
#
#   editors/vscode/e2e/setup-code-server.sh        # prints the install directory on stdout
#
# Idempotent: a finished install is marked with .complete and reused (no network). A failed or
# interrupted one is left in <dir>.partial and redone from scratch on the next run.
#
# Why not a plain `npm install code-server`: its postinstall runs `npm install` inside lib/vscode,
# whose npm-shrinkwrap.json pins @vscode/proxy-agent to a GitHub URL that this network cannot
# reach, and native modules whose install scripts download prebuilt binaries from GitHub. So the
# packages are installed with scripts off and the postinstall steps are done here: the shrinkwrap
# entry is pointed at the registry tarball of the same version (npm checks it against the pinned
# integrity hash, so the bytes are the ones VS Code pinned), native modules are compiled with
# node-gyp against the local node headers, and the postinstall symlinks are made.
#
# Needs: node 20 (code-server 4.96.x runs only on node 20), npm, python3, make and a C++ compiler
# (node-gyp), node's headers in /usr/include/node (Debian/NodeSource nodejs ship them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
editors="$(cd "$here/../.." && pwd)"
pins="$here/tools"

fail() {
  echo "setup-code-server.sh: $*" >&2
  exit 1
}
log() { echo "setup-code-server: $*" >&2; }

version_of() { node -p "require('$pins/package.json').dependencies['$1']"; }
code_server_version="$(version_of code-server)"
playwright_version="$(version_of playwright-core)"
target="${TL_E2E_TOOLS:-$editors/.tools/vscode-e2e-cs$code_server_version-pw$playwright_version}"
stamp="code-server $code_server_version, playwright-core $playwright_version, node $(node -v)"

# @vscode/ripgrep's postinstall downloads rg from GitHub; link Debian's when there is one (without
# it, file search, Quick Open and `workspaceContains` activation do not work). Checked on every
# run, so installing ripgrep later is picked up.
link_ripgrep() {
  local bin="$1/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin"
  if command -v rg >/dev/null 2>&1; then
    mkdir -p "$bin"
    ln -sfn "$(command -v rg)" "$bin/rg"
  else
    log "note: no rg on PATH (Debian: ripgrep): search, Quick Open and workspaceContains activation will not work"
  fi
}

if [ -f "$target/.complete" ] && [ "$(cat "$target/.complete")" = "$stamp" ]; then
  link_ripgrep "$target"
  echo "$target"
  exit 0
fi

for tool in node npm python3 make c++; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is required (Debian: apt-get install nodejs npm python3 build-essential)"
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" = 20 ] || fail "code-server $code_server_version needs node 20, this is node $(node -v)"
# node-gyp would download the headers from nodejs.org; use the installed ones instead.
if [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
else
  log "no /usr/include/node/node.h: node-gyp will try to download node's headers"
fi
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

partial="$target.partial"
# quietly WHAT CMD...: runs CMD with its output in a log, shown only when it fails.
quietly() {
  local what="$1"
  shift
  log "$what"
  "$@" >"$partial/step.log" 2>&1 || {
    tail -40 "$partial/step.log" >&2
    fail "failed: $what (output above)"
  }
}
rm -rf "$partial" "$target"
mkdir -p "$partial"
started=$SECONDS
cp "$pins/package.json" "$pins/package-lock.json" "$partial/"

quietly "npm ci: code-server $code_server_version, playwright-core $playwright_version (scripts off)" \
  npm ci --prefix "$partial" --ignore-scripts --prefer-offline

node_gyp="$(dirname "$(realpath "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
[ -f "$node_gyp" ] || fail "npm's bundled node-gyp is not at $node_gyp"

server="$partial/node_modules/code-server"
# code-server hashes passwords with argon2 (loaded at startup even with --auth none).
quietly "compiling argon2" sh -c 'cd "$1" && ../.bin/node-pre-gyp install --build-from-source' _ "$server/../argon2"

vscode="$server/lib/vscode"
log "pointing lib/vscode's @vscode/proxy-agent at the npm registry"
registry="$(npm config get registry)"
node - "$vscode/npm-shrinkwrap.json" "${registry%/}" <<'EOF'
const fs = require('fs');
const [file, registry] = process.argv.slice(2);
const shrinkwrap = JSON.parse(fs.readFileSync(file, 'utf8'));
const entry = shrinkwrap.packages['node_modules/@vscode/proxy-agent'];
if (!entry) throw new Error('no @vscode/proxy-agent entry in ' + file);
// Same version, same integrity hash: npm rejects the tarball unless it is byte-identical.
entry.resolved = `${registry}/@vscode/proxy-agent/-/proxy-agent-${entry.version}.tgz`;
fs.writeFileSync(file, JSON.stringify(shrinkwrap, null, 2) + '\n');
EOF
# `npm install`, as code-server's postinstall does: the shipped package.json and shrinkwrap are
# slightly out of sync (npm ci refuses them); the shrinkwrap still pins every version it lists.
quietly "npm install in lib/vscode (scripts off)" \
  npm install --prefix "$vscode" --omit=dev --ignore-scripts --prefer-offline

# The native modules VS Code's server loads on Linux. Left out: kerberos (Kerberos proxy
# authentication only; needs libkrb5-dev), @vscode/windows-* (Windows only).
for module in @vscode/spdlog @vscode/deviceid native-watchdog node-pty @parcel/watcher; do
  quietly "compiling $module" sh -c 'cd "$1" && node "$2" rebuild' _ "$vscode/node_modules/$module" "$node_gyp"
done
(cd "$vscode/node_modules/node-pty" && node scripts/post-install.js) >/dev/null
# The built-in extensions' shared dependency (typescript, trimmed by their postinstall).
quietly "npm install in lib/vscode/extensions" npm install --prefix "$vscode/extensions" --omit=dev --prefer-offline

# What code-server's postinstall.sh links.
ln -sfn node_modules "$vscode/node_modules.asar"
ln -sfn code-linux.sh "$vscode/bin/remote-cli/code-server"
ln -sfn browser-linux.sh "$vscode/bin/helpers/browser.sh"
rm -f "$partial/step.log"

# Smoke test, with config and data kept out of $HOME.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
got="$(XDG_CONFIG_HOME="$scratch" XDG_DATA_HOME="$scratch" "$partial/node_modules/.bin/code-server" --version 2>/dev/null | tail -1)"
case "$got" in
  "$code_server_version "*) ;;
  *) fail "the installed code-server does not run: --version printed '$got'" ;;
esac

link_ripgrep "$partial"
echo "$stamp" >"$partial/.complete"
mv "$partial" "$target"
log "installed in $((SECONDS - started)) s: $target"
echo "$target"
