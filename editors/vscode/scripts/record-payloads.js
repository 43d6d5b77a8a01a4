#!/usr/bin/env node
// Records what the real `tlc lsp` sends for a verify session on spec-examples/mnist_mlp.tl, into
// src/test/fixtures/server-payloads.json, for the extension's unit tests (they check that the
// extension reads today's server payloads, not ones written by hand).
//
//   TLC=target/debug/tlc node editors/vscode/scripts/record-payloads.js
//
// Timings and absolute paths are replaced so the file does not change from run to run.
'use strict';
const { startSession } = require('./lsp-session');
const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '../../..');
const tlc = process.env.TLC || path.join(repo, 'target/debug/tlc');
const spec = path.join(repo, 'spec-examples/mnist_mlp.tl');
const uri = `file://${spec}`;
const out = path.join(__dirname, '../src/test/fixtures/server-payloads.json');

const session = startSession(tlc, ['lsp']);
const { request, notifications } = session;
const send = (msg) => session.notify(msg.method, msg.params);

function stable(value) {
  return JSON.parse(
    JSON.stringify(value, (key, v) => {
      if (key === 'millis' && typeof v === 'number') return 7;
      return typeof v === 'string' ? v.replace(/ in \d+ ms/, ' in 7 ms') : v;
    })
      .split(`file://${repo}`)
      .join('file:///repo'),
  );
}

(async () => {
  const timer = setTimeout(() => {
    console.error('record-payloads: no answer within 60 s');
    process.exit(1);
  }, 60000);
  await request('initialize', {
    processId: null,
    rootUri: `file://${path.join(repo, 'spec-examples')}`,
    capabilities: { window: { workDoneProgress: true } },
  });
  send({ method: 'initialized', params: {} });
  const text = fs.readFileSync(spec, 'utf8');
  send({ method: 'textDocument/didOpen', params: { textDocument: { uri, languageId: 'tl', version: 1, text } } });
  const exec = async (command, args) => (await request('workspace/executeCommand', { command, arguments: args })).result;
  const trustBefore = await exec('tl.showTrust', [uri]);
  const verifyFile = await exec('tl.verifyFile', [uri]);
  const trustAfter = await exec('tl.showTrust', [uri]);
  const graph = await exec('tl.showGraph', [uri, 'mnist_mlp']);
  const lenses = (await request('textDocument/codeLens', { textDocument: { uri } })).result;
  await session.close();
  clearTimeout(timer);
  const statuses = notifications.filter((n) => n.method === 'tl/status').map((n) => n.params);
  const progress = notifications.filter((n) => n.method === '$/progress').map((n) => n.params);
  const recorded = stable({
    recordedFrom: 'tlc lsp on spec-examples/mnist_mlp.tl (editors/vscode/scripts/record-payloads.js)',
    statuses,
    progress,
    results: { 'tl.verifyFile': verifyFile, 'tl.showTrust': trustAfter, 'tl.showTrust(before)': trustBefore, 'tl.showGraph': graph },
    codeLens: lenses,
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(recorded, null, 2) + '\n');
  console.log(`recorded ${statuses.length} tl/status, ${progress.length} $/progress into ${path.relative(repo, out)}`);
})();
