// Runs a throwaway code-server: installs the extension into private extension and user-data
// directories, writes the user settings, starts the server on 127.0.0.1 and stops it (with every
// process it started: extension host, `tlc lsp`) when asked or when node exits.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The code-server launcher inside an install made by setup-code-server.sh. */
export function codeServerBin(toolsDir) {
  return path.join(toolsDir, 'node_modules', '.bin', 'code-server');
}

/** Directories code-server writes to, all under `work` so nothing lands in $HOME. */
function layout(work) {
  return {
    extensions: path.join(work, 'extensions'),
    userData: path.join(work, 'user-data'),
    xdg: path.join(work, 'xdg'),
    log: path.join(work, 'code-server.log'),
  };
}

function environment(dirs) {
  return { ...process.env, XDG_CONFIG_HOME: dirs.xdg, XDG_DATA_HOME: dirs.xdg, XDG_CACHE_HOME: dirs.xdg };
}

/** `code-server --install-extension`, bounded; throws with its output when it fails. */
export function installExtension(toolsDir, work, vsix) {
  const dirs = layout(work);
  const result = spawnSync(
    codeServerBin(toolsDir),
    ['--install-extension', vsix, '--extensions-dir', dirs.extensions, '--user-data-dir', dirs.userData],
    { env: environment(dirs), encoding: 'utf8', timeout: 60_000 },
  );
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0 || !/successfully installed/.test(output)) {
    throw new Error(`code-server --install-extension failed (${result.error ?? `exit ${result.status}`}):\n${output}`);
  }
}

/** Writes the user settings.json (VS Code reads it from <user-data-dir>/User). */
export function writeUserSettings(work, settings) {
  const dir = path.join(layout(work).userData, 'User');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify(settings, null, 2));
}

/**
 * Starts code-server on a free port of 127.0.0.1 with authentication off, opening nothing itself.
 * Resolves to `{ url, stop, log, processGroup }` once it says where it listens (every process it
 * starts, extension hosts and `tlc lsp` included, stays in `processGroup`); rejects after
 * `timeoutMs`.
 */
export function startCodeServer(toolsDir, work, { timeoutMs = 60_000 } = {}) {
  const dirs = layout(work);
  const args = [
    '--auth', 'none',
    '--bind-addr', '127.0.0.1:0',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    '--extensions-dir', dirs.extensions,
    '--user-data-dir', dirs.userData,
    '--config', path.join(dirs.xdg, 'config.yaml'),
  ];
  fs.mkdirSync(dirs.xdg, { recursive: true });
  const logFd = fs.openSync(dirs.log, 'a');
  // Its own process group, so stopping it also stops the extension host and `tlc lsp`.
  const child = spawn(codeServerBin(toolsDir), args, {
    env: environment(dirs),
    detached: true,
    stdio: ['ignore', 'pipe', logFd],
  });
  fs.closeSync(logFd);

  let stopped = false;
  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const onExit = () => killGroup('SIGKILL');
  process.on('exit', onExit);
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    killGroup('SIGTERM');
    const gone = await Promise.race([
      new Promise((resolve) => child.once('exit', () => resolve(true))),
      new Promise((resolve) => setTimeout(() => resolve(false), 3000)),
    ]);
    killGroup('SIGKILL');
    process.off('exit', onExit);
    return gone;
  };

  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`code-server did not report a listening address within ${timeoutMs} ms:\n${seen}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited early (${signal ?? `exit ${code}`}):\n${seen}`));
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      fs.appendFileSync(dirs.log, chunk);
      if (seen.length < 20_000) seen += chunk;
      const match = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], stop, log: dirs.log, processGroup: child.pid });
      }
    });
  });
}
