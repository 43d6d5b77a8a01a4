// What the end-to-end test reads: the expected answers from the `tlc` CLI (verify, trust, graph),
// the workbench DOM (Problems rows, the token inspector, gutter icons, the extension's status bar
// item, webviews, Running Extensions) and the `tlc lsp` processes code-server started.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { normalize } from './workbench.mjs';

/** The extension's status bar item: VS Code gives it the id `<publisher>.<name>`. */
export const STATUS_BAR_ID = 'tl-lang.tl-lang';

/** Every status the server sends; the extension draws `media/<status>.svg` for each. */
const STATUSES = ['proved', 'checked', 'tested', 'assumed', 'uncovered', 'falsified', 'running', 'error', 'unknown'];

/**
 * Runs `tlc ARGS` in `folder` and parses its JSON report. Exit 1 only means "below the bar" or
 * "a spec has errors": the report is still on stdout. `cacheHome` keeps any result cache the
 * command writes inside the test's scratch directory.
 */
function tlcJson(tlc, folder, args, cacheHome) {
  let stdout;
  try {
    stdout = execFileSync(tlc, args, {
      cwd: folder,
      encoding: 'utf8',
      timeout: 120_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XDG_CACHE_HOME: cacheHome },
    });
  } catch (err) {
    if (err.status !== 1 || !err.stdout) throw err;
    stdout = err.stdout;
  }
  return JSON.parse(stdout);
}

/**
 * `tlc verify FILE --format json` in `folder` (only `contract` when given): each contract's name,
 * 1-based line and status, the independent answer the editor's gutter and status bar must agree
 * with.
 */
export function expectedStatuses(tlc, folder, file, cacheHome, contract) {
  const only = contract ? ['--contract', contract] : [];
  const report = tlcJson(tlc, folder, ['verify', file, '--format', 'json', '--no-cache', '--quiet', ...only], cacheHome);
  const contracts = report.contracts.map((c) => ({ name: c.name, line: c.line, status: c.status }));
  if (contracts.length === 0) throw new Error(`tlc verify found no contracts in ${file}`);
  return contracts;
}

/**
 * `tlc trust FILE --verify --format json`: the heading the trust report gives each contract,
 * `contract NAME on TARGET (KIND): STATUS`, as the editor's rendered report must show it after
 * the file was verified in the session.
 */
export function expectedTrustHeadings(tlc, folder, file, cacheHome) {
  const report = tlcJson(tlc, folder, ['trust', file, '--verify', '--format', 'json'], cacheHome);
  const headings = report.files.flatMap((f) =>
    f.contracts.map((c) => `contract ${c.contract} on ${c.target} (${c.kind}): ${c.status}`),
  );
  if (headings.length === 0) throw new Error(`tlc trust found no contracts in ${file}`);
  return headings;
}

/** `tlc graph FILE --graph NAME --format json`: the names of the lowered graph's nodes. */
export function expectedGraphNodes(tlc, folder, file, graph, cacheHome) {
  const ir = tlcJson(tlc, folder, ['graph', file, '--graph', graph, '--format', 'json'], cacheHome);
  const names = ir.nodes.map((n) => n.name);
  if (names.length === 0) throw new Error(`tlc graph found no nodes in ${graph}`);
  return names;
}

/** Text of each row in the Problems panel. */
export async function problemsRows(page) {
  const rows = page.locator('.markers-panel .monaco-list-row');
  return (await rows.allTextContents()).map(normalize);
}

/** Runs "Developer: Inspect Editor Tokens and Scopes" at the cursor and returns the widget's text. */
export async function inspectTokens(bench) {
  await bench.runCommand('Developer: Inspect Editor Tokens and Scopes');
  const widget = bench.page.locator('.token-inspect-widget');
  const text = await bench.waitUntil(
    'the token inspector',
    async () => normalize(await widget.textContent({ timeout: 2000 })),
    (t) => /textmate scopes/i.test(t) && !/loading/i.test(t),
  );
  await bench.dismiss();
  return text;
}

/**
 * The gutter icons in the active editor: each glyph-margin decoration whose background image is
 * one of the extension's `media/<status>.svg`, with the 1-based line it sits on.
 */
export async function gutterIcons(bench) {
  return bench.activeEditor().evaluate((editor, statuses) => {
    const lineAtTop = new Map();
    for (const number of editor.querySelectorAll('.margin-view-overlays .line-numbers')) {
      const row = number.closest('.margin-view-overlays > div');
      const line = Number(number.textContent.trim());
      if (row && Number.isInteger(line)) lineAtTop.set(row.style.top, line);
    }
    const icons = [];
    for (const glyph of editor.querySelectorAll('.cgmr')) {
      // A remote-resource URL: the icon's path is percent-encoded in its query.
      const image = decodeURIComponent(getComputedStyle(glyph).backgroundImage);
      const status = statuses.find((s) => image.includes(`/media/${s}.svg`));
      if (!status) continue;
      icons.push({ status, line: lineAtTop.get(glyph.style.top) ?? -1 });
    }
    return icons.sort((a, b) => a.line - b.line);
  }, STATUSES);
}

/** The extension's status bar text, codicons dropped. */
export function statusSummaryText(bench) {
  return bench.statusBarText(STATUS_BAR_ID);
}

/**
 * Process ids of the `TLC lsp` servers running in `processGroup` (code-server's group: the
 * extension host starts them there). Linux /proc; processes that exit while being read are skipped.
 */
export function lspProcesses(processGroup, tlc) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces, so count from the last ')'.
      const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (group !== processGroup) continue;
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0] === tlc && argv[1] === 'lsp') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

/**
 * The text of every webview's content frame (markdown previews and extension panels alike: the
 * workbench nests each in `pre/index.html` → `pre/fake.html`), whitespace collapsed.
 */
export async function webviewTexts(page) {
  const texts = [];
  for (const frame of page.frames()) {
    if (!frame.url().includes('/webview/browser/pre/fake.html')) continue;
    try {
      texts.push(normalize(await frame.locator('body').textContent({ timeout: 2000 })));
    } catch {
      // a frame being torn down
    }
  }
  return texts;
}

/** The content frame of the webview whose body text starts with `prefix`, or undefined. */
export async function webviewFrameStartingWith(page, prefix) {
  for (const frame of page.frames()) {
    if (!frame.url().includes('/webview/browser/pre/fake.html')) continue;
    try {
      if (normalize(await frame.locator('body').textContent({ timeout: 2000 })).startsWith(prefix)) return frame;
    } catch {
      // a frame being torn down
    }
  }
  return undefined;
}

/**
 * "Developer: Show Running Extensions", then the hover on the extension's activation time: VS
 * Code's own words for why it activated ("... because you opened a tl file").
 */
export async function activationReason(bench, displayName) {
  await bench.runCommand('Developer: Show Running Extensions');
  const page = bench.page;
  const row = page
    .locator('.runtime-extensions-editor .monaco-list-row')
    .filter({ has: page.locator('.name', { hasText: displayName }) })
    .first();
  const time = row.locator('.activation-time');
  await time.waitFor({ timeout: 10_000 });
  await time.hover();
  const reason = await bench.waitUntil(
    'the activation reason hover',
    async () => normalize(await page.locator('.workbench-hover:visible').first().textContent({ timeout: 2000 })),
    (t) => /^Activated by/.test(t),
    10_000,
  );
  await bench.closeTab('Running Extensions');
  return reason;
}
