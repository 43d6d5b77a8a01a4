#!/usr/bin/env node
// Helix and Zed cannot be installed on this project's machines (neither is packaged for Debian 12
// nor published on a registry we reach), so this is what we can check and show of them:
//
//   node query-render.js --check   every capture in editors/helix and editors/zed highlight
//                                  queries resolves to a style of that editor's default theme
//                                  (by the dotted-prefix fallback both editors use); exit 1 if not
//   node query-render.js --png     also renders spec-examples/mnist_mlp.tl with those queries and
//                                  theme colours (tree-sitter highlight --html, then headless
//                                  Chromium) to helix-render.png and zed-render.png
//
// The PNGs are renders of the queries, NOT screenshots of Helix or Zed windows; each carries a
// caption saying so. Needs: node, the tree-sitter CLI from editors/tree-sitter-tl/node_modules
// (`npm ci` there), and for --png chromium (Debian: apt-get install chromium).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const here = __dirname;
const editors = path.resolve(here, '..');
const repo = path.resolve(editors, '..');
const treeSitter = path.join(editors, 'tree-sitter-tl', 'node_modules', 'tree-sitter-cli', 'tree-sitter');
const sample = path.join(repo, 'spec-examples', 'mnist_mlp.tl');

const EDITORS = [
  { name: 'helix', query: path.join(editors, 'helix', 'queries', 'tl', 'highlights.scm'), theme: 'helix-default.json' },
  { name: 'zed', query: path.join(editors, 'zed', 'languages', 'tl', 'highlights.scm'), theme: 'zed-one-dark.json' },
];

/** The capture names a query file uses (`@name`, not `@_private` helpers). */
function captures(queryText) {
  const names = new Set();
  for (const line of queryText.split('\n')) {
    const code = line.replace(/;.*$/, '');
    for (const m of code.matchAll(/@([A-Za-z][\w.]*)/g)) names.add(m[1]);
  }
  return [...names].sort();
}

/** The theme scope a capture falls back to: the longest dotted prefix the theme styles. */
function resolve(capture, scopes) {
  const parts = capture.split('.');
  for (let n = parts.length; n > 0; n--) {
    const key = parts.slice(0, n).join('.');
    if (key in scopes) return key;
  }
  return null;
}

function check() {
  let failed = false;
  for (const ed of EDITORS) {
    const theme = JSON.parse(fs.readFileSync(path.join(here, 'themes', ed.theme), 'utf8'));
    const names = captures(fs.readFileSync(ed.query, 'utf8'));
    const unstyled = names.filter((c) => resolve(c, theme.scopes) === null);
    if (unstyled.length > 0) {
      failed = true;
      console.error(`${ed.name}: captures ${theme.theme} does not style: ${unstyled.map((c) => '@' + c).join(', ')}`);
    } else {
      console.log(`${ed.name}: all ${names.length} captures resolve to ${theme.editor} ${theme.theme} scopes`);
    }
  }
  return !failed;
}

function escapeHtml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function render(ed, work) {
  const theme = JSON.parse(fs.readFileSync(path.join(here, 'themes', ed.theme), 'utf8'));
  const config = path.join(work, `${ed.name}-config.json`);
  fs.writeFileSync(config, JSON.stringify({ 'parser-directories': [editors], theme: theme.scopes }));
  const html = execFileSync(
    treeSitter,
    ['highlight', '--html', '--query-paths', ed.query, '--config-path', config, sample],
    { cwd: path.join(editors, 'tree-sitter-tl'), encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  const caption =
    `Render of editors/${path.relative(editors, ed.query)} with ${theme.editor}'s ${theme.theme} theme colours ` +
    `(tree-sitter highlight + headless Chromium). Not a ${theme.editor} window: ${theme.editor} could not be installed here.`;
  const style = `<style>
    body { background: ${theme.background}; color: ${theme.foreground}; margin: 0; padding: 12px;
           font: 14px/1.35 "DejaVu Sans Mono", monospace; }
    .line-number { color: ${theme.line_number} !important; }
    .caption { color: ${theme.foreground}; opacity: .8; font-size: 12px; margin: 0 0 8px 0; }
  </style></head>`;
  const page = html
    .replace('</head>', style)
    .replace('<body>', `<body><p class="caption">${escapeHtml(caption)}</p>`);
  const file = path.join(work, `${ed.name}.html`);
  fs.writeFileSync(file, page);
  const png = path.join(here, `${ed.name}-render.png`);
  execFileSync('chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${path.join(work, 'chromium-' + ed.name)}`,
    '--window-size=1100,900', `--screenshot=${png}`, `file://${file}`,
  ], { stdio: 'ignore', timeout: 60000 });
  console.log(`wrote ${path.relative(repo, png)}`);
}

function main() {
  const args = process.argv.slice(2);
  if (!fs.existsSync(treeSitter)) {
    console.error(`query-render: no tree-sitter CLI at ${treeSitter} (run npm ci in editors/tree-sitter-tl)`);
    process.exit(2);
  }
  const ok = check();
  if (args.includes('--png')) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-query-render-'));
    try {
      for (const ed of EDITORS) render(ed, work);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  process.exit(ok ? 0 : 1);
}

if (require.main === module) main();

module.exports = { captures, resolve };
