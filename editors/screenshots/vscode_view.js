#!/usr/bin/env node
// Renders a VS Code-like view of spec-examples/mnist_mlp.tl as HTML from the real `tlc lsp`:
// semantic tokens for colours, the extension's own gutter icons and status-bar summary (its
// compiled modules in editors/vscode/out), code lenses and diagnostics, and the hover of a
// verified contract. It is a rendering of the server's answers, not a capture of VS Code.
//
//   TLC=target/debug/tlc node editors/screenshots/vscode_view.js OUT.html
'use strict';
const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '../..');
const vscodeDir = path.join(repo, 'editors/vscode');
const { startSession } = require(path.join(vscodeDir, 'scripts/lsp-session'));
let summarize, planGutter, DECORATION_STYLE;
try {
  ({ summarize } = require(path.join(vscodeDir, 'out/statusSummary')));
  ({ planGutter, DECORATION_STYLE } = require(path.join(vscodeDir, 'out/decorationMapping')));
} catch (e) {
  console.error('vscode_view.js: compile the extension first (cd editors/vscode && npm ci && npm run compile)');
  process.exit(2);
}

const tlc = process.env.TLC || path.join(repo, 'target/debug/tlc');
const spec = path.join(repo, 'spec-examples/mnist_mlp.tl');
const uri = `file://${spec}`;
const out = process.argv[2] || 'vscode.html';

// VS Code Dark+ colours per semantic token type.
const COLORS = {
  keyword: '#569cd6', function: '#dcdcaa', variable: '#9cdcfe', parameter: '#9cdcfe', property: '#9cdcfe',
  type: '#4ec9b0', class: '#4ec9b0', enumMember: '#4fc1ff', decorator: '#c586c0', method: '#dcdcaa',
  number: '#b5cea8', string: '#ce9178', comment: '#6a9955',
};
const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** The small markdown subset hovers use: headings, code fences, tables, bold, code, <br>. */
function markdown(md) {
  const inline = (s) =>
    esc(s)
      .replace(/&lt;br&gt;/g, '<br>')
      .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>')
      .replace(/`([^`]+)`/g, '<code>$1</code>');
  const lines = md.split('\n');
  const html = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith('```')) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) code.push(esc(lines[i]));
      html.push(`<pre>${code.join('\n')}</pre>`);
    } else if (l.startsWith('|')) {
      const rows = [];
      for (; i < lines.length && lines[i].startsWith('|'); i++) {
        if (!/^\|[-| ]+\|$/.test(lines[i])) rows.push(lines[i].slice(1, -1).split(/(?<!\\)\|/));
      }
      i--;
      html.push(
        '<table>' +
          rows.map((r, k) => `<tr>${r.map((c) => `<${k ? 'td' : 'th'}>${inline(c.trim().replace(/\\\|/g, '|'))}</${k ? 'td' : 'th'}>`).join('')}</tr>`).join('') +
          '</table>',
      );
    } else if (l.startsWith('#')) {
      html.push(`<h4>${inline(l.replace(/^#+\s*/, ''))}</h4>`);
    } else if (l === '---') {
      html.push('<hr>');
    } else if (l.startsWith('- ')) {
      html.push(`<div class="li">• ${inline(l.slice(2))}</div>`);
    } else if (l.trim()) {
      html.push(`<p>${inline(l)}</p>`);
    }
  }
  return html.join('\n');
}

(async () => {
  const s = startSession(tlc, ['lsp']);
  const init = await s.request('initialize', {
    processId: null,
    rootUri: `file://${path.join(repo, 'spec-examples')}`,
    capabilities: {},
  });
  const legend = init.result.capabilities.semanticTokensProvider.legend.tokenTypes;
  s.notify('initialized', {});
  const text = fs.readFileSync(spec, 'utf8');
  s.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'tl', version: 1, text } });
  await s.request('workspace/executeCommand', { command: 'tl.verifyFile', arguments: [uri] });
  const tokens = (await s.request('textDocument/semanticTokens/full', { textDocument: { uri } })).result.data;
  const lenses = (await s.request('textDocument/codeLens', { textDocument: { uri } })).result;
  const lines = text.split('\n');
  const hoverLine = lines.findIndex((l) => l.startsWith('contract robust_digit_7'));
  const hover = (await s.request('textDocument/hover', { textDocument: { uri }, position: { line: hoverLine, character: 12 } })).result;
  await s.close();
  const statuses = s.notifications.filter((n) => n.method === 'tl/status').map((n) => n.params);
  const contracts = statuses[statuses.length - 1].contracts;
  const diagnostics = s.notifications.filter((n) => n.method === 'textDocument/publishDiagnostics').pop().params.diagnostics;

  // Colour spans per line from the delta-encoded tokens (UTF-16 columns; the example is ASCII).
  const spans = lines.map(() => []);
  for (let i = 0, line = 0, col = 0; i < tokens.length; i += 5) {
    line += tokens[i];
    col = tokens[i] ? tokens[i + 1] : col + tokens[i + 1];
    spans[line].push({ col, len: tokens[i + 2], color: COLORS[legend[tokens[i + 3]]] || '#d4d4d4' });
  }
  const colour = (n) => {
    let html = '';
    let at = 0;
    for (const t of spans[n]) {
      html += esc(lines[n].slice(at, t.col)) + `<span style="color:${t.color}">${esc(lines[n].slice(t.col, t.col + t.len))}</span>`;
      at = t.col + t.len;
    }
    return html + esc(lines[n].slice(at));
  };
  const gutter = new Map();
  const plan = planGutter(contracts);
  for (const [status, marks] of Object.entries(plan)) {
    for (const m of marks) {
      const svg = fs.readFileSync(path.join(vscodeDir, 'media', DECORATION_STYLE[status].icon));
      gutter.set(m.line, `<img src="data:image/svg+xml;base64,${svg.toString('base64')}">`);
    }
  }
  const lensAt = new Map();
  for (const l of lenses) {
    const list = lensAt.get(l.range.start.line) || [];
    list.push(esc(l.command.title));
    lensAt.set(l.range.start.line, list);
  }
  const rows = [];
  lines.forEach((_, n) => {
    if (n === lines.length - 1 && !lines[n]) return;
    if (lensAt.has(n)) {
      const indent = lines[n].match(/^\s*/)[0].length;
      rows.push(`<div class="row"><span class="ln"></span><span class="gt"></span><span class="lens" style="padding-left:${indent}ch">${lensAt.get(n).join(' | ')}</span></div>`);
    }
    rows.push(`<div class="row${n === hoverLine ? ' cur' : ''}"><span class="ln">${n + 1}</span><span class="gt">${gutter.get(n) || ''}</span><span class="code">${colour(n)}</span></div>`);
    if (n === hoverLine && hover) {
      rows.push(`<div class="hover">${markdown(hover.contents.value)}</div>`);
    }
  });
  const summary = summarize(contracts);
  const icons = { 'verified-filled': '✔', pass: '✓', beaker: '⚗', bookmark: '🔖', 'circle-slash': '⊘', error: '✗', 'sync~spin': '⟳', warning: '⚠', question: '?' };
  const barText = esc(summary.text).replace(/\$\(([^)]+)\)/g, (_, name) => icons[name] || '');
  const errors = diagnostics.filter((d) => d.severity === 1).length;
  const warnings = diagnostics.filter((d) => d.severity === 2).length;
  fs.writeFileSync(
    out,
    `<!doctype html><meta charset="utf-8"><title>tl in a VS Code-like view</title>
<style>
body{margin:0;background:#1e1e1e;color:#d4d4d4;font:13px system-ui,'DejaVu Sans',sans-serif;height:100vh;display:flex;flex-direction:column}
.title{background:#3c3c3c;color:#ccc;text-align:center;padding:6px;font-size:12px}
.tabs{background:#252526;display:flex}.tab{background:#1e1e1e;color:#fff;padding:8px 14px;border-top:1px solid #0078d4}
.editor{flex:1;overflow:hidden;font:14px/20px 'DejaVu Sans Mono',monospace;padding-top:4px}
.row{display:flex;white-space:pre}.cur{background:#2a2d2e}
.ln{width:44px;text-align:right;color:#858585;padding-right:6px}.gt{width:22px;display:flex;align-items:center;justify-content:center}
.gt img{width:14px;height:14px}.lens{color:#999;font:12px/18px system-ui,'DejaVu Sans',sans-serif}
.hover{margin:2px 0 6px 90px;max-width:1080px;background:#252526;border:1px solid #454545;padding:4px 10px;font:12px/17px system-ui,'DejaVu Sans',sans-serif;white-space:normal}
.hover pre{font:12px 'DejaVu Sans Mono',monospace;color:#569cd6;margin:4px 0}.hover h4{margin:6px 0;font-size:13px}
.hover table{border-collapse:collapse;margin:4px 0}.hover td,.hover th{border:1px solid #454545;padding:2px 5px;vertical-align:top}
.hover code{font-family:'DejaVu Sans Mono',monospace;color:#ce9178}.hover p{margin:4px 0}.hover hr{border:0;border-top:1px solid #454545}
.status{background:#007acc;color:#fff;display:flex;justify-content:space-between;padding:3px 10px;font-size:12px}
</style>
<div class="title">mnist_mlp.tl — spec-examples — tl (rendered from tlc lsp answers)</div>
<div class="tabs"><div class="tab">mnist_mlp.tl</div></div>
<div class="editor">${rows.join('\n')}</div>
<div class="status"><span>⊗ ${errors}  ⚠ ${warnings}</span><span>${barText}</span></div>`,
  );
  console.log(`wrote ${out}: ${contracts.map((c) => `${c.name} ${c.status}`).join(', ')}`);
})();
