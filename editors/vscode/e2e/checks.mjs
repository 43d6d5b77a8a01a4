// What the end-to-end test reads: the expected statuses from `tlc verify`, and the workbench DOM
// (Problems rows, the token inspector, gutter icons, the extension's status bar item).

import { execFileSync } from 'node:child_process';
import { normalize } from './workbench.mjs';

/** The extension's status bar item: VS Code gives it the id `<publisher>.<name>`. */
export const STATUS_BAR_ID = 'tl-lang.tl-lang';

/** Every status the server sends; the extension draws `media/<status>.svg` for each. */
const STATUSES = ['proved', 'checked', 'tested', 'assumed', 'uncovered', 'falsified', 'running', 'error', 'unknown'];

/**
 * `tlc verify FILE --format json` in `folder`: each contract's name, 1-based line and status, the
 * independent answer the editor's gutter and status bar must agree with.
 */
export function expectedStatuses(tlc, folder, file) {
  let stdout;
  try {
    stdout = execFileSync(tlc, ['verify', file, '--format', 'json', '--no-cache', '--quiet'], {
      cwd: folder,
      encoding: 'utf8',
      timeout: 120_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    // Exit 1 only means some contract is below the bar; the report is still on stdout.
    if (err.status !== 1 || !err.stdout) throw err;
    stdout = err.stdout;
  }
  const report = JSON.parse(stdout);
  const contracts = report.contracts.map((c) => ({ name: c.name, line: c.line, status: c.status }));
  if (contracts.length === 0) throw new Error(`tlc verify found no contracts in ${file}`);
  return contracts;
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
