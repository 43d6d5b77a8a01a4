#!/usr/bin/env node
// Records what the real `tlc lsp` sends for a verify session on spec-examples/mnist_mlp.tl, into
// src/test/fixtures/server-payloads.json, for the extension's unit tests (they check that the
// extension reads today's server payloads, not ones written by hand).
//
//   TLC=target/debug/tlc node editors/vscode/scripts/record-payloads.js
//
// Timings and absolute paths are replaced so the file does not change from run to run.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '../../..');
const tlc = process.env.TLC || path.join(repo, 'target/debug/tlc');
const spec = path.join(repo, 'spec-examples/mnist_mlp.tl');
const uri = `file://${spec}`;
const out = path.join(__dirname, '../src/test/fixtures/server-payloads.json');

const server = spawn(tlc, ['lsp'], { stdio: ['pipe', 'pipe', 'inherit'] });
let buffer = Buffer.alloc(0);
let nextId = 1;
const waiting = new Map();
const notifications = [];

function send(msg) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }));
  server.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  server.stdin.write(body);
}
function request(method, params) {
  const id = nextId++;
  send({ id, method, params });
  return new Promise((resolve) => waiting.set(id, resolve));
}
server.stdout.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, end).toString())[1]);
    if (buffer.length < end + 4 + length) return;
    const msg = JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString());
    buffer = buffer.subarray(end + 4 + length);
    if (msg.id !== undefined && msg.method) send({ id: msg.id, result: null }); // server requests
    else if (msg.id !== undefined) waiting.get(msg.id)(msg);
    else notifications.push(msg);
  }
});

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
  await request('shutdown', null);
  send({ method: 'exit' });
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
