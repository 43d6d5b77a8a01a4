#!/usr/bin/env node
// End-to-end test of the VS Code extension in VS Code's real workbench: code-server serves it,
// Debian's chromium renders it, playwright-core drives it, and the extension talks to the real
// `tlc lsp` ($TLC). Checks activation (on opening a .tl file; by `workspaceContains` in a folder
// with a tl.toml), highlighting (TextMate and semantic), a coded diagnostic in the Problems panel, a
// hover from the server, the status bar summary, "tl: Verify Contract at Cursor" (only that
// contract changes) and "tl: Verify File" against `tlc verify`, the contract hover, "tl: Show Trust
// Report" against `tlc trust`, "tl: Show Graph" against `tlc graph`, and "tl: Restart Language
// Server" (a new `tlc lsp` process, statuses and diagnostics come back).
//
//   TLC=target/debug/tlc node editors/vscode/e2e/run.mjs [--screenshot out.png]
//
// Skips (exit 0, reason printed) when TLC, chromium, the code-server install
// (setup-code-server.sh) or the extension's node_modules are missing. Environment:
//   TLC               the tlc binary (required)
//   CHROMIUM          browser binary (default: chromium on PATH)
//   TL_E2E_TOOLS      install made by setup-code-server.sh (default: its default directory)
//   TL_VSIX           an already packaged extension (default: package one with `npm run package`)
//   TL_E2E_TIMEOUT_S  the whole run's limit (default 300)
// On failure the scratch directory (screenshot failure.png, code-server.log) is kept and named.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installExtension, startCodeServer, writeUserSettings } from './codeServer.mjs';
import {
  activationReason,
  expectedGraphNodes,
  expectedStatuses,
  expectedTrustHeadings,
  gutterIcons,
  inspectTokens,
  lspProcesses,
  problemsRows,
  statusSummaryText,
  webviewFrameStartingWith,
  webviewTexts,
} from './checks.mjs';
import { launchBrowser, normalize, Workbench } from './workbench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const extensionDir = path.resolve(here, '..');
const repo = path.resolve(here, '../../..');

function skip(reason) {
  console.log(`SKIP vscode e2e: ${reason}`);
  process.exit(0);
}

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function defaultToolsDir() {
  const pins = JSON.parse(fs.readFileSync(path.join(here, 'tools', 'package.json'), 'utf8')).dependencies;
  return path.join(repo, 'editors', '.tools', `vscode-e2e-cs${pins['code-server']}-pw${pins['playwright-core']}`);
}

// ------------------------------------------------------------------------------ preconditions
const args = process.argv.slice(2);
const screenshotAt = args[0] === '--screenshot' && args[1] ? path.resolve(args[1]) : undefined;
if (args.length > 0 && !screenshotAt) {
  console.error('usage: run.mjs [--screenshot out.png]');
  process.exit(2);
}
const tlc = process.env.TLC ? path.resolve(process.env.TLC) : undefined;
if (!tlc) skip('TLC is not set (cargo build -p tlc, then TLC=$PWD/target/debug/tlc)');
if (!fs.existsSync(tlc)) skip(`TLC=${tlc} does not exist`);
if (process.versions.node.split('.')[0] !== '20') skip(`code-server 4.96.x runs on node 20, this is node ${process.version}`);
const chromiumPath = process.env.CHROMIUM || which('chromium');
if (!chromiumPath) skip('chromium is not installed (Debian: apt-get install chromium)');
const toolsDir = process.env.TL_E2E_TOOLS || defaultToolsDir();
if (!fs.existsSync(path.join(toolsDir, '.complete'))) {
  skip(`no code-server install at ${toolsDir} (run editors/vscode/e2e/setup-code-server.sh)`);
}
if (!process.env.TL_VSIX && !fs.existsSync(path.join(extensionDir, 'node_modules', '.bin', 'vsce'))) {
  skip('editors/vscode/node_modules is missing (npm ci in editors/vscode)');
}

// ---------------------------------------------------------------------------------- harness
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-vscode-e2e-'));
const limitS = Number(process.env.TL_E2E_TIMEOUT_S ?? 300);
const startedAt = Date.now();
const cleanups = [];
let current = 'setup';
let failed = false;

async function cleanUp() {
  for (const undo of cleanups.reverse()) {
    try {
      await undo();
    } catch {
      // best effort: the next cleanup still runs
    }
  }
  cleanups.length = 0;
}

async function finish(error) {
  if (error) {
    failed = true;
    console.error(`not ok - ${current}\n${error.stack ?? error}`);
  }
  if (failed && page) {
    await page.screenshot({ path: path.join(work, 'failure.png'), timeout: 10_000 }).catch(() => {});
  }
  await cleanUp();
  if (failed) {
    console.error(`vscode e2e FAILED; kept ${work} (failure.png, code-server.log)`);
    process.exit(1);
  }
  fs.rmSync(work, { recursive: true, force: true });
  console.log(`vscode e2e passed in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  process.exit(0);
}

setTimeout(() => void finish(new Error(`the run exceeded TL_E2E_TIMEOUT_S=${limitS}`)), limitS * 1000).unref();
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void finish(new Error(`got ${signal}`)));

async function step(name, run) {
  current = name;
  const t = Date.now();
  await run();
  console.log(`ok - ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
}

// ------------------------------------------------------------------------------------ fixture
/** A copy of spec-examples/ plus a broken spec, so nothing in the repository is touched. */
function makeWorkspace() {
  const folder = path.join(work, 'spec-examples');
  fs.cpSync(path.join(repo, 'spec-examples'), folder, { recursive: true });
  const mnist = fs.readFileSync(path.join(folder, 'mnist_mlp.tl'), 'utf8');
  const broken = mnist.replace('a1 = relu(h1)', 'a1 = rellu(h1)');
  if (broken === mnist) throw new Error('spec-examples/mnist_mlp.tl no longer has `a1 = relu(h1)` to break');
  fs.writeFileSync(path.join(folder, 'broken.tl'), broken);
  return folder;
}

/**
 * A second folder for `workspaceContains` activation: the file the glob names (e.g. `tl.toml`)
 * and one spec, which the test never opens.
 */
function makeProject(glob) {
  const marker = glob.split('/').pop();
  if (/[*?{}[\]]/.test(marker)) throw new Error(`cannot make a file for workspaceContains:${glob}`);
  const folder = path.join(work, 'project');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, marker), '# made by the VS Code e2e test\nfail_on = ["falsified"]\n');
  fs.copyFileSync(path.join(repo, 'spec-examples', 'mnist_mlp.tl'), path.join(folder, 'mnist_mlp.tl'));
  return folder;
}

/** 1-based numbers of the lines of `text` that start with `prefix` (after indentation). */
function linesStartingWith(text, prefix) {
  return text
    .split('\n')
    .map((line, i) => (line.trimStart().startsWith(prefix) ? i + 1 : 0))
    .filter((n) => n > 0);
}

/** Node names in the mermaid text the graph panel shows: `n3[("fc2.weight<br/>param: ...")]`. */
function mermaidNodeNames(text) {
  return [...text.matchAll(/\bn\d+\W*"([^"<]+)<br\/>/g)].map((m) => m[1]);
}

const sameSet = (a, b) => JSON.stringify([...new Set(a)].sort()) === JSON.stringify([...new Set(b)].sort());

/** 1-based line and column of the first `needle` in `text`. */
function positionOf(text, needle) {
  const index = text.indexOf(needle);
  if (index < 0) throw new Error(`fixture text lacks ${JSON.stringify(needle)}`);
  const before = text.slice(0, index).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function packageExtension() {
  if (process.env.TL_VSIX) return path.resolve(process.env.TL_VSIX);
  const vsix = path.join(work, 'tl.vsix');
  const run = spawnSync('npm', ['run', '--silent', 'package', '--', '--out', vsix], {
    cwd: extensionDir,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (run.status !== 0) {
    throw new Error(`npm run package failed (${run.error ?? `exit ${run.status}`}):\n${run.stdout}${run.stderr}`);
  }
  return vsix;
}

// -------------------------------------------------------------------------------------- run
let page;
try {
  const folder = makeWorkspace();
  const mnistText = fs.readFileSync(path.join(folder, 'mnist_mlp.tl'), 'utf8');
  const manifest = JSON.parse(fs.readFileSync(path.join(extensionDir, 'package.json'), 'utf8'));
  const cliCache = path.join(work, 'cli-cache'); // any cache the tlc CLI writes stays in `work`
  let server;

  await step('package the extension and install it into code-server', async () => {
    const vsix = packageExtension();
    installExtension(toolsDir, work, vsix);
    writeUserSettings(work, {
      'tl.server.path': tlc,
      'workbench.colorTheme': 'Default Dark Modern',
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'security.workspace.trust.enabled': false,
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'update.mode': 'none',
      'editor.minimap.enabled': false,
      'workbench.reduceMotion': 'on',
      // Keep broken.tl open beside mnist_mlp.tl: the restart must bring its diagnostics back.
      'workbench.editor.enablePreview': false,
    });
  });

  await step('start code-server and load the workbench in chromium', async () => {
    server = await startCodeServer(toolsDir, work);
    cleanups.push(server.stop);
    const browser = await launchBrowser(toolsDir, chromiumPath, path.join(work, 'chromium-profile'), {
      width: 1280,
      height: 860,
    });
    cleanups.push(() => browser.context.close());
    page = browser.page;
    await new Workbench(page).open(server.url, folder);
  });
  const bench = new Workbench(page);
  const servers = () => lspProcesses(server.processGroup, tlc);
  const seenServers = new Set();

  await step('broken.tl: the server reports a coded TLxxxx diagnostic in the Problems panel', async () => {
    await bench.openFromExplorer('broken.tl');
    await bench.activeEditor().locator('.squiggly-error').first().waitFor({ timeout: 60_000 });
    await bench.runCommand('View: Focus Problems');
    const rows = await bench.waitUntil('a TL0200 row in Problems', () => problemsRows(page), (rs) =>
      rs.some((r) => /TL0200/.test(r) && r.includes('rellu')),
    );
    console.log(`  problems: ${rows.join(' | ')}`);
    await bench.runCommand('View: Hide Panel');
  });

  await step('activation: opening a .tl file (no tl.toml in the folder) started one `tlc lsp`', async () => {
    const reason = await activationReason(bench, manifest.displayName);
    console.log(`  running extensions: ${reason}`);
    if (!/because you opened a tl file/.test(reason)) throw new Error(`unexpected activation: ${reason}`);
    const pids = servers();
    if (pids.length !== 1) throw new Error(`expected one tlc lsp in code-server's process group, found ${pids}`);
    pids.forEach((pid) => seenServers.add(pid));
  });

  await step('mnist_mlp.tl: TextMate and semantic highlighting on a node name', async () => {
    await bench.openFromExplorer('mnist_mlp.tl');
    const at = positionOf(mnistText, 'a1 = relu(h1)');
    await bench.goTo(at.line, at.column + 'a1 = relu('.length);
    const tokens = await inspectTokens(bench);
    console.log(`  token inspector: ${tokens}`);
    if (!/textmate scopes.*source\.tl/i.test(tokens)) throw new Error('no TextMate scope source.tl on h1');
    if (!/semantic token type/i.test(tokens)) throw new Error('no semantic token on h1');
  });

  await step('mnist_mlp.tl: a hover from the server on the op `relu`', async () => {
    const at = positionOf(mnistText, 'relu(h1)');
    await bench.goTo(at.line, at.column + 1);
    await bench.runCommand('Show or Focus Hover');
    const text = await bench.waitUntil('the hover on relu', () => bench.hoverText(), (t) => /relu/.test(t) && t.length > 20);
    console.log(`  hover: ${text.slice(0, 160)}`);
    await bench.dismiss();
  });

  const expected = expectedStatuses(tlc, folder, 'mnist_mlp.tl', cliCache);
  const unverifiedSummary = new RegExp(`^tl .*${expected.length} unknown`);
  await step('mnist_mlp.tl: the status bar summarises the contracts before verification', async () => {
    const text = await bench.waitUntil('the tl status bar item', () => statusSummaryText(bench), (t) =>
      unverifiedSummary.test(t),
    );
    console.log(`  status bar: ${text}`);
  });

  await step('tl: Verify Contract at Cursor: only that contract gets the status `tlc verify --contract` gives', async () => {
    const target = expected[expected.length - 1];
    const others = expected.filter((c) => c !== target);
    const [want] = expectedStatuses(tlc, folder, 'mnist_mlp.tl', cliCache, target.name);
    // The cursor in the contract's body, not on its header line.
    await bench.goTo(target.line + 1, 3);
    await bench.runCommand('tl: Verify Contract at Cursor');
    const icons = await bench.waitUntil(
      `a ${want.status} icon on line ${target.line} (${target.name})`,
      () => gutterIcons(bench),
      (found) => found.some((i) => i.line === target.line && i.status === want.status),
      120_000,
    );
    console.log(`  gutter: ${icons.map((i) => `line ${i.line}: ${i.status}`).join(', ')}`);
    for (const c of others) {
      if (!icons.some((i) => i.line === c.line && i.status === 'unknown')) {
        throw new Error(`${c.name} (line ${c.line}) changed although only ${target.name} ran: ${JSON.stringify(icons)}`);
      }
    }
    const summary = await bench.waitUntil('the status bar after one contract', () => statusSummaryText(bench), (t) =>
      t.includes(`1 ${want.status}`) && t.includes(`${others.length} unknown`) && !/running/.test(t),
    );
    console.log(`  status bar: ${summary}`);
  });

  await step('tl: Verify File: gutter icons and status bar match `tlc verify`', async () => {
    await bench.runCommand('tl: Verify File');
    const want = expected.map((c) => c.status).sort();
    const icons = await bench.waitUntil(
      `gutter icons ${want.join(', ')}`,
      () => gutterIcons(bench),
      (found) => JSON.stringify(found.map((i) => i.status).sort()) === JSON.stringify(want),
      120_000,
    );
    console.log(`  gutter: ${icons.map((i) => `line ${i.line}: ${i.status}`).join(', ')}`);
    for (const c of expected) {
      if (!icons.some((i) => i.line === c.line && i.status === c.status)) {
        throw new Error(`no ${c.status} icon on line ${c.line} (${c.name}); gutter: ${JSON.stringify(icons)}`);
      }
    }
    const counts = {};
    for (const c of expected) counts[c.status] = (counts[c.status] ?? 0) + 1;
    const summary = await bench.waitUntil('the verified status bar summary', () => statusSummaryText(bench), (t) =>
      Object.entries(counts).every(([status, n]) => t.includes(`${n} ${status}`)) && !/unknown|running/.test(t),
    );
    console.log(`  status bar: ${summary}`);
  });

  await step("hovering a contract's first line shows its status beside the server's hover", async () => {
    const first = expected[0];
    const name = bench.activeEditor().locator('.view-lines span span', { hasText: first.name }).first();
    await name.hover();
    // The first paragraph of the extension's own hover text for this contract, as rendered.
    const { hoverFor } = createRequire(import.meta.url)('../out/decorationMapping.js');
    const want = hoverFor({ name: first.name, status: first.status }).replace(/\*\*/g, '');
    // A hover can fail to open or open on the wrong token (the pointer landed while the editor
    // was still laying out the code lenses a verify run adds): unless the wanted hover is showing,
    // move away and hover again instead of waiting on one attempt.
    const readHover = async () => {
      let text = null;
      let failure = null;
      try {
        text = await bench.hoverText();
      } catch (err) {
        failure = err;
      }
      if (text !== null && text.includes(want)) return text;
      await bench.page.mouse.move(0, 0);
      await name.hover();
      if (failure) throw failure;
      return text;
    };
    await bench.waitUntil(`the contract hover with "${want}"`, readHover, (t) => t.includes(want));
    console.log(`  contract hover includes: ${want}`);
    if (screenshotAt) {
      await page.waitForTimeout(500); // let the hover finish fading in
      await page.screenshot({ path: screenshotAt });
      console.log(`wrote ${screenshotAt}`);
    }
    await bench.dismiss();
  });

  await step('tl: Show Trust Report: the markdown preview shows the statuses `tlc trust --verify` gives', async () => {
    const headings = expectedTrustHeadings(tlc, folder, 'mnist_mlp.tl', cliCache);
    await bench.runCommand('tl: Show Trust Report');
    await bench.waitUntil('the trust report preview', () => webviewTexts(page), (texts) =>
      texts.some((t) => t.startsWith('Trust report') && headings.every((h) => t.includes(h))),
    );
    console.log(`  preview: ${headings.join(' | ')}`);
    const tabs = await bench.tabLabels();
    if (!tabs.some((t) => t.includes('mnist_mlp.tl trust report'))) throw new Error(`no trust report tab: ${tabs}`);
    // The report is a read-only virtual document, not an unsaved buffer that asks to be saved.
    const dirty = (await page.locator('.tab.dirty .label-name').allTextContents()).map(normalize);
    if (dirty.length > 0) throw new Error(`the report left unsaved editors: ${dirty}`);
  });

  await step('tl: Show Graph: the graph panel lists the nodes of `tlc graph --format json`', async () => {
    const graph = /^graph\s+(\w+)/m.exec(mnistText)?.[1];
    if (!graph) throw new Error('mnist_mlp.tl declares no graph');
    const nodes = expectedGraphNodes(tlc, folder, 'mnist_mlp.tl', graph, cliCache);
    await bench.focusTab('mnist_mlp.tl');
    // The cursor on a line inside the graph, so the command needs no quick pick.
    await bench.goTo(linesStartingWith(mnistText, 'param ')[0], 3);
    await bench.runCommand('tl: Show Graph');
    const texts = await bench.waitUntil(`the graph panel of ${graph}`, () => webviewTexts(page), (ts) =>
      ts.some((t) => t.startsWith(`Graph ${graph}`)),
    );
    const shown = mermaidNodeNames(texts.find((t) => t.startsWith(`Graph ${graph}`)));
    if (!sameSet(shown, nodes)) throw new Error(`graph panel nodes ${shown} differ from tlc graph's ${nodes}`);
    console.log(`  nodes: ${shown.join(', ')}`);
    const tabs = await bench.tabLabels();
    if (!tabs.includes(`tl graph: ${graph}`)) throw new Error(`no "tl graph: ${graph}" tab: ${tabs}`);
  });

  await step('tl: Show Report: the webview shows `tlc report`\'s page: its nodes, the ledger statuses, and its script runs', async () => {
    const graph = /^graph\s+(\w+)/m.exec(mnistText)?.[1];
    const nodes = expectedGraphNodes(tlc, folder, 'mnist_mlp.tl', graph, cliCache);
    const headings = expectedTrustHeadings(tlc, folder, 'mnist_mlp.tl', cliCache);
    await bench.focusTab('mnist_mlp.tl');
    await bench.runCommand('tl: Show Report (graph, ledgers, bounds)');
    const frame = await bench.waitUntil('the report webview', () => webviewFrameStartingWith(page, 'tl report:'), (f) => !!f, 60_000);
    const text = normalize(await frame.locator('body').textContent());
    if (!text.includes('mnist_mlp.tl')) throw new Error(`the report is not about mnist_mlp.tl: ${text.slice(0, 200)}`);
    // Each contract heading and status as `tlc trust --verify` gives them.
    for (const h of headings) {
      const m = /^contract (\S+) on (\S+) \((\w+)\): (\w+)$/.exec(h);
      if (!m) throw new Error(`unexpected trust heading ${h}`);
      const row = `contract ${m[1]} on ${m[2]} (${m[3]}) ${m[4]}`;
      if (!text.includes(row)) throw new Error(`the report lacks "${row}"`);
    }
    const shown = await frame.locator('.tl-node[data-node]').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')));
    if (!sameSet(shown, nodes)) throw new Error(`report graph nodes ${shown} differ from tlc graph's ${nodes}`);
    // The page's own script runs in the webview (its CSP allows inline script only): a click on a
    // node fills the details panel.
    await frame.locator(`.tl-node[data-node="${nodes[nodes.length - 1]}"]`).first().click();
    const details = await bench.waitUntil('the node details panel', async () => normalize(await frame.locator('.details').first().textContent()), (t) =>
      t.startsWith(nodes[nodes.length - 1]) && t.includes('parents:'),
    );
    // The panel follows the cursor: in a contract on the graph, its section becomes current.
    await bench.focusTab('mnist_mlp.tl');
    await bench.goTo(linesStartingWith(mnistText, 'ensure ')[0], 3);
    await bench.waitUntil(`the report's section of ${graph} marked current`, async () =>
      frame.locator(`section.graph.current[data-graph="${graph}"]`).count(), (n) => n === 1,
    );
    console.log(`  report: ${headings.length} contract(s), nodes ${shown.join(', ')}; details: ${details.slice(0, 60)}`);
    const tabs = await bench.tabLabels();
    if (!tabs.includes('tl report: mnist_mlp.tl')) throw new Error(`no "tl report: mnist_mlp.tl" tab: ${tabs}`);
    if (screenshotAt) {
      const shot = path.join(path.dirname(screenshotAt), 'vscode-report-webview.png');
      await page.screenshot({ path: shot });
      console.log(`  wrote ${shot}`);
    }
  });

  await step('tl: Restart Language Server: a new `tlc lsp`, statuses and diagnostics come back', async () => {
    const before = servers();
    await bench.focusTab('mnist_mlp.tl');
    await bench.runCommand('tl: Restart Language Server');
    const after = await bench.waitUntil(
      `a tlc lsp other than ${before}`,
      async () => servers(),
      (pids) => pids.length === 1 && !before.includes(pids[0]),
    );
    after.forEach((pid) => seenServers.add(pid));
    console.log(`  tlc lsp: ${before} -> ${after}`);
    // The new server starts with no results in memory (no tl.toml: no cache on disk).
    const text = await bench.waitUntil('the status bar from the new server', () => statusSummaryText(bench), (t) =>
      unverifiedSummary.test(t),
    );
    console.log(`  status bar: ${text}`);
    await bench.focusTab('broken.tl');
    await bench.activeEditor().locator('.squiggly-error').first().waitFor();
    await bench.runCommand('View: Focus Problems');
    await bench.waitUntil('the TL0200 row from the new server', () => problemsRows(page), (rs) =>
      rs.some((r) => /TL0200/.test(r) && r.includes('rellu')),
    );
    await bench.runCommand('View: Hide Panel');
  });

  const contains = (manifest.activationEvents ?? []).filter((e) => e.startsWith('workspaceContains:'));
  if (contains.length === 0) {
    console.log(`  package.json declares no workspaceContains activation: ${JSON.stringify(manifest.activationEvents)}`);
  }
  for (const event of contains) {
    const glob = event.slice('workspaceContains:'.length);
    await step(`activation: ${event} starts \`tlc lsp\` in a folder before any file is opened`, async () => {
      const project = makeProject(glob);
      await bench.open(server.url, project);
      const pids = await bench.waitUntil('a tlc lsp for the new window', async () => servers(), (ps) =>
        ps.some((pid) => !seenServers.has(pid)),
      );
      const tabs = await bench.tabLabels();
      if (tabs.length > 0) throw new Error(`expected no open editor, found ${tabs}`);
      console.log(`  tlc lsp ${pids.filter((pid) => !seenServers.has(pid))} with no editor open`);
      const reason = await activationReason(bench, manifest.displayName);
      console.log(`  running extensions: ${reason}`);
      if (!reason.includes(`because a file matching ${glob} exists`)) throw new Error(`unexpected activation: ${reason}`);
    });
  }
} catch (error) {
  await finish(error);
}
await finish();
