#!/usr/bin/env node
// A scripted stand-in for `tlc lsp`, used only to test the editor plugins' wiring (attach, hover,
// definition, diagnostics with codes, `tl/status` signs, executeCommand) where no tlc is built.
// It understands tl only as far as its regexes go; it is not a tl implementation and its
// `TL9999` diagnostic code is its own. Real checks run against tlc with TLC=/path/to/tlc.
//
//   fake-tlc.js lsp     speaks LSP over stdio

'use strict';

if (process.argv[2] !== 'lsp') {
  process.stderr.write('usage: fake-tlc.js lsp\n');
  process.exit(2);
}

const documents = new Map();
let buffer = Buffer.alloc(0);

function send(message) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
  process.stdout.write(`Content-Length: ${body.length}\r\n\r\n`);
  process.stdout.write(body);
}

function nodeDefinitions(text) {
  const defs = new Map();
  text.split('\n').forEach((line, i) => {
    const m = /^(\s*)([A-Za-z_]\w*)\s*=(?!=)/.exec(line);
    if (m) defs.set(m[2], { line: i, character: m[1].length, length: m[2].length });
  });
  return defs;
}

function wordAt(text, position) {
  const line = text.split('\n')[position.line] ?? '';
  const re = /[A-Za-z_]\w*/g;
  let m;
  while ((m = re.exec(line))) {
    if (m.index <= position.character && position.character <= m.index + m[0].length) return m[0];
  }
  return undefined;
}

function diagnosticsFor(text) {
  let depth = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    for (const ch of lines[i]) {
      if (ch === '(' || ch === '[' || ch === '{') depth++;
      if (ch === ')' || ch === ']' || ch === '}') depth--;
    }
  }
  if (depth === 0) return [];
  const last = lines.length - 1;
  return [
    {
      range: { start: { line: last, character: 0 }, end: { line: last, character: 1 } },
      severity: 1,
      code: 'TL9999',
      source: 'fake-tlc',
      message: 'unbalanced brackets (fake server)',
    },
  ];
}

function contractsOf(text) {
  const out = [];
  text.split('\n').forEach((line, i) => {
    const m = /^contract\s+([A-Za-z_]\w*)/.exec(line);
    if (m) out.push({ name: m[1], range: { start: { line: i, character: 0 }, end: { line: i, character: line.length } } });
  });
  return out;
}

function publish(uri) {
  send({ method: 'textDocument/publishDiagnostics', params: { uri, diagnostics: diagnosticsFor(documents.get(uri)) } });
}

const handlers = {
  initialize: () => ({
    capabilities: {
      textDocumentSync: 1,
      hoverProvider: true,
      definitionProvider: true,
      executeCommandProvider: { commands: ['tl.verifyFile', 'tl.verifyContract', 'tl.showTrust', 'tl.showGraph'] },
    },
    serverInfo: { name: 'fake-tlc' },
  }),
  shutdown: () => null,
  'textDocument/hover': ({ textDocument, position }) => {
    const text = documents.get(textDocument.uri) ?? '';
    const word = wordAt(text, position);
    return word && nodeDefinitions(text).has(word)
      ? { contents: { kind: 'markdown', value: `\`${word}\`: a node (fake server)` } }
      : null;
  },
  'textDocument/definition': ({ textDocument, position }) => {
    const text = documents.get(textDocument.uri) ?? '';
    const def = nodeDefinitions(text).get(wordAt(text, position));
    if (!def) return null;
    const start = { line: def.line, character: def.character };
    return { uri: textDocument.uri, range: { start, end: { line: def.line, character: def.character + def.length } } };
  },
  'workspace/executeCommand': ({ command, arguments: args }) => {
    const uri = args[0];
    if (command === 'tl.verifyFile') {
      const contracts = contractsOf(documents.get(uri) ?? '').map((c) => ({ ...c, status: 'tested', method: 'sampling', millis: 3 }));
      send({ method: 'tl/status', params: { uri, contracts } });
      return null;
    }
    if (command === 'tl.showTrust') return `# Trust report (fake server)\n\n${uri}\n`;
    if (command === 'tl.showGraph') return { format: 'mermaid', text: `graph TD\n  ${args[1]}` };
    return null;
  },
};

const notifications = {
  exit: () => process.exit(0),
  'textDocument/didOpen': ({ textDocument }) => {
    documents.set(textDocument.uri, textDocument.text);
    publish(textDocument.uri);
  },
  'textDocument/didChange': ({ textDocument, contentChanges }) => {
    documents.set(textDocument.uri, contentChanges[contentChanges.length - 1].text);
    publish(textDocument.uri);
  },
  'textDocument/didClose': ({ textDocument }) => documents.delete(textDocument.uri),
};

function dispatch(message) {
  if (message.id !== undefined && message.method) {
    const handler = handlers[message.method];
    if (handler) send({ id: message.id, result: handler(message.params ?? {}) });
    else send({ id: message.id, error: { code: -32601, message: `unhandled ${message.method}` } });
  } else if (message.method && notifications[message.method]) {
    notifications[message.method](message.params ?? {});
  }
}

process.stdin.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const headerEnd = buffer.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const match = /Content-Length: (\d+)/i.exec(buffer.subarray(0, headerEnd).toString('ascii'));
    if (!match) {
      buffer = buffer.subarray(headerEnd + 4);
      continue;
    }
    const length = Number(match[1]);
    if (buffer.length < headerEnd + 4 + length) return;
    const body = buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8');
    buffer = buffer.subarray(headerEnd + 4 + length);
    dispatch(JSON.parse(body));
  }
});
process.stdin.on('end', () => process.exit(0));
