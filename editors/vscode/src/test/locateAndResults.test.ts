import { strict as assert } from 'assert';
import { test } from 'node:test';
import { escapeHtml, graphHtml, interpretResult } from '../commandResults';
import { contractAt, graphAt, graphNames } from '../locate';

const source = [
  'graph mnist(x: f32[B, 4]) -> y: f32[B, 2] {', // 0
  '  y = relu(x)', // 1
  '}', // 2
  'tolerance t = abs 1e-5', // 3
  'contract robust on mnist {', // 4
  '  ensure argmax(y) == 1', // 5
  '}', // 6
  '  block inner(x: f32) -> y: f32 {', // 7
  '}', // 8
].join('\n');

test('the contract under the cursor is found from the text', () => {
  assert.equal(contractAt(source, 5), 'robust');
  assert.equal(contractAt(source, 4), 'robust');
  assert.equal(contractAt(source, 1), undefined);
  assert.equal(contractAt(source, 3), undefined, 'a tolerance between items ends the search');
});

test('reported ranges take precedence over the text scan', () => {
  const reported = [{ name: 'from_server', status: 'checked' as const, range: { start: { line: 0, character: 0 }, end: { line: 2, character: 1 } } }];
  assert.equal(contractAt(source, 1, reported), 'from_server');
});

test('graphs and blocks are found, indented or not', () => {
  assert.equal(graphAt(source, 1), 'mnist');
  assert.equal(graphAt(source, 8), 'inner');
  assert.equal(graphAt(source, 5), undefined);
  assert.deepEqual(graphNames(source), ['mnist', 'inner']);
});

test('trust results must be markdown strings', () => {
  assert.deepEqual(interpretResult('tl.showTrust', '# Trust'), { kind: 'markdown', markdown: '# Trust' });
  const bad = interpretResult('tl.showTrust', { text: 1 });
  assert.equal(bad.kind, 'invalid');
});

test('graph results need format and text', () => {
  assert.deepEqual(interpretResult('tl.showGraph', { format: 'mermaid', text: 'graph TD' }), {
    kind: 'graph',
    format: 'mermaid',
    text: 'graph TD',
  });
  assert.equal(interpretResult('tl.showGraph', null).kind, 'invalid');
  assert.equal(interpretResult('tl.showGraph', [1]).kind, 'invalid');
});

test('verify results must be summaries', () => {
  assert.equal(interpretResult('tl.verifyFile', null).kind, 'invalid');
  assert.deepEqual(interpretResult('tl.verifyContract', { uri: 'file:///a.tl', cancelled: true, executed: 0, cached: 0, contracts: [] }), {
    kind: 'verified',
    message: 'verification stopped: the document changed (save to run it again)',
    cancelled: true,
  });
});

test('graph webview escapes server text and allows no scripts', () => {
  const html = graphHtml('g<1>', 'mermaid', 'A-->B["<script>alert(1)</script>"]');
  assert.ok(!html.includes('<script>'));
  assert.ok(html.includes('&lt;script&gt;'));
  assert.ok(html.includes("default-src 'none'"));
  assert.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&quot;&#39;');
});
