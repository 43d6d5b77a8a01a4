// A minimal JSON-RPC session with a language server over stdio, for the recording and
// screenshot scripts: requests return promises, server requests get a null result, and
// notifications are collected in order.
'use strict';
const { spawn } = require('child_process');

function startSession(command, args) {
  const server = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let buffer = Buffer.alloc(0);
  let nextId = 1;
  const waiting = new Map();
  const notifications = [];
  const send = (msg) => {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }));
    server.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    server.stdin.write(body);
  };
  server.stdout.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, end).toString())[1]);
      if (buffer.length < end + 4 + length) return;
      const msg = JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString());
      buffer = buffer.subarray(end + 4 + length);
      if (msg.id !== undefined && msg.method) send({ id: msg.id, result: null });
      else if (msg.id !== undefined) waiting.get(msg.id)(msg);
      else notifications.push(msg);
    }
  });
  return {
    notifications,
    notify: (method, params) => send({ method, params }),
    request: (method, params) => {
      const id = nextId++;
      send({ id, method, params });
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    async close() {
      await this.request('shutdown', null);
      send({ method: 'exit' });
    },
  };
}

module.exports = { startSession };
