import { strict as assert } from 'assert';
import { test } from 'node:test';
import { checkReportPage, interpretReportRun, REPORT_CSP, reportArgs } from '../reportPage';

test('the report runs tlc report on the spec, with --verify when asked', () => {
  assert.deepEqual(reportArgs('/s/m.tl', '/tmp/p.html', true), ['report', '/s/m.tl', '--verify', '-o', '/tmp/p.html']);
  assert.deepEqual(reportArgs('/s/m.tl', '/tmp/p.html', false), ['report', '/s/m.tl', '-o', '/tmp/p.html']);
});

test("tlc report's exit codes: 0 page, 1 page with a warning, 2 failure, a signal, a cancel", () => {
  assert.deepEqual(interpretReportRun(0, null, 'wrote p.html (2 contract(s))\n', false), { kind: 'page' });
  const partial = interpretReportRun(1, null, 'wrote p.html (2 contract(s), 1 error(s) in the spec: ledgers incomplete)\n', false);
  assert.equal(partial.kind, 'page');
  assert.match((partial as { warning: string }).warning, /ledgers incomplete/);
  assert.deepEqual(interpretReportRun(2, null, 'error[TL0120]: cannot read x.tl\n', false), {
    kind: 'failed',
    message: 'error[TL0120]: cannot read x.tl',
  });
  assert.deepEqual(interpretReportRun(2, null, '', false), { kind: 'failed', message: 'tlc report exited with 2' });
  assert.equal(interpretReportRun(null, 'SIGKILL', '', false).kind, 'failed');
  assert.deepEqual(interpretReportRun(null, 'SIGTERM', '', true), { kind: 'cancelled' });
});

test("only a page with tlc report's own CSP is shown", () => {
  const page = (csp: string) => `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}"><title>t</title></head><body></body></html>\n`;
  assert.equal(checkReportPage(page(REPORT_CSP)), undefined);
  assert.match(checkReportPage(page("default-src *"))!, /not the one tlc report writes/);
  assert.match(checkReportPage('<!DOCTYPE html>\n<html><head></head></html>')!, /no Content-Security-Policy/);
  assert.match(checkReportPage('{"not": "html"}')!, /not an HTML page/);
});

test('the report follows the graph the cursor is in, or the contract\'s target', async () => {
  const { graphForCursor } = await import('../reportPage');
  const text = [
    'tolerance t = abs 1e-5',
    'graph g(x: f32[2]) -> y: f32[2] {',
    '  y = relu(x)',
    '}',
    'contract c on g {',
    '  ensure y >= 0',
    '}',
    'block b(x) -> y {',
    '  y = relu(x)',
    '}',
  ].join('\n');
  assert.equal(graphForCursor(text, 0), undefined);
  assert.equal(graphForCursor(text, 2), 'g');
  assert.equal(graphForCursor(text, 5), 'g');
  assert.equal(graphForCursor(text, 8), 'b');
  assert.equal(graphForCursor(text, 99), 'b');
});
