import { strict as assert } from 'assert';
import { test } from 'node:test';
import { ContractReport, ContractStatus, parseStatusParams } from '../protocol';
import { formatMillis, severityOf, summarize } from '../statusSummary';

function contract(name: string, status: ContractStatus, line = 0, extra: Partial<ContractReport> = {}): ContractReport {
  return { name, status, range: { start: { line, character: 0 }, end: { line: line + 3, character: 1 } }, ...extra };
}

test('no contracts gives a neutral summary', () => {
  const s = summarize([]);
  assert.equal(s.text, 'tl: no contracts');
  assert.equal(s.severity, 'none');
});

test('counts appear worst first and sum to the number of contracts', () => {
  const s = summarize([
    contract('a', 'checked', 1),
    contract('b', 'tested', 5),
    contract('c', 'checked', 9),
    contract('d', 'falsified', 13),
  ]);
  assert.equal(s.text, 'tl $(error) 1 falsified $(pass) 2 checked $(beaker) 1 tested');
  assert.deepEqual(s.counts, { checked: 2, tested: 1, falsified: 1 });
  assert.equal(s.severity, 'error');
});

test('a sampled (tested) contract is a warning, never ok', () => {
  assert.equal(severityOf({ checked: 3, tested: 1 }), 'warning');
  assert.equal(severityOf({ proved: 1, checked: 3 }), 'ok');
  assert.equal(severityOf({ assumed: 1 }), 'warning');
  assert.equal(severityOf({ uncovered: 1, proved: 2 }), 'warning');
});

test('errors outrank running, running outranks warnings', () => {
  assert.equal(severityOf({ error: 1, running: 2 }), 'error');
  assert.equal(severityOf({ running: 1, tested: 2 }), 'busy');
});

test('tooltip lists contracts in source order with method, time and message', () => {
  const s = summarize([
    contract('late', 'tested', 20, { method: 'sampling', millis: 1500 }),
    contract('early', 'falsified', 2, { method: 'crown', message: 'counterexample at x=[0.1]' }),
  ]);
  const lines = s.tooltip.split('\n\n');
  assert.equal(lines.length, 2);
  assert.equal(lines[0], '$(error) `early`: falsified (by crown) — counterexample at x=[0.1]');
  assert.equal(lines[1], '$(beaker) `late`: tested (by sampling, 1.5 s)');
});

test('durations are readable', () => {
  assert.equal(formatMillis(12.4), '12 ms');
  assert.equal(formatMillis(2500), '2.5 s');
  assert.equal(formatMillis(125_000), '2 min 5 s');
});

test('tl/status payloads are validated entry by entry', () => {
  const { params, problems } = parseStatusParams({
    uri: 'file:///a.tl',
    contracts: [
      { name: 'ok', status: 'checked', range: { start: { line: 1, character: 0 }, end: { line: 2, character: 1 } }, millis: 5 },
      { name: 'bad_status', status: 'verified', range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } } },
      { name: 'bad_range', status: 'tested', range: { start: { line: -1, character: 0 }, end: { line: 1, character: 0 } } },
      { status: 'tested' },
      { name: 'nan_millis', status: 'running', range: { start: { line: 4, character: 0 }, end: { line: 4, character: 2 } }, millis: NaN },
    ],
  });
  assert.ok(params);
  assert.deepEqual(
    params.contracts.map((c) => [c.name, c.status, c.millis]),
    [
      ['ok', 'checked', 5],
      ['nan_millis', 'running', undefined],
    ],
  );
  assert.equal(problems.length, 3);
  assert.match(problems[0], /bad_status: unknown status "verified"/);
});

test('a tl/status without uri or contracts is rejected', () => {
  assert.equal(parseStatusParams(null).params, null);
  assert.equal(parseStatusParams({ uri: 'x' }).params, null);
  assert.equal(parseStatusParams({ contracts: [] }).params, null);
});
