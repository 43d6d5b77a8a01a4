// The extension against payloads recorded from the real `tlc lsp` (scripts/record-payloads.js):
// every tl/status parses without problems, statuses map to gutter icons and the status bar, and
// command results are understood.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { interpretResult } from '../commandResults';
import { parseStatusParams } from '../protocol';
import { summarize } from '../statusSummary';

const fixture = path.join(__dirname, '../../src/test/fixtures/server-payloads.json');
const recorded = JSON.parse(fs.readFileSync(fixture, 'utf8'));

test('every recorded tl/status parses, from analysis through running to results', () => {
  const seen: string[][] = [];
  for (const raw of recorded.statuses) {
    const { params, problems } = parseStatusParams(raw);
    assert.deepEqual(problems, []);
    assert.ok(params);
    assert.equal(params.contracts.length, 2);
    seen.push(params.contracts.map((c) => c.status));
  }
  assert.deepEqual(seen[0], ['unknown', 'unknown'], 'before verification nothing is claimed');
  assert.ok(seen.some((s) => s.includes('running')), 'contracts in flight are reported as running');
  assert.deepEqual(seen[seen.length - 1], ['checked', 'tested']);
  const last = parseStatusParams(recorded.statuses[recorded.statuses.length - 1]).params!;
  assert.equal(last.contracts[0].method, 'crown');
  assert.equal(typeof last.contracts[0].millis, 'number');
  assert.match(last.contracts[1].message ?? '', /sampled, not proved/);
  assert.match(summarize(last.contracts).text, /1 tested/);
});

test('recorded command results are understood', () => {
  const verify = interpretResult('tl.verifyFile', recorded.results['tl.verifyFile']);
  assert.equal(verify.kind, 'verified');
  assert.match(verify.kind === 'verified' ? verify.message : '', /^ran 2 contracts: 1 checked, 1 tested/);
  const trust = interpretResult('tl.showTrust', recorded.results['tl.showTrust']);
  assert.equal(trust.kind, 'markdown');
  assert.match(trust.kind === 'markdown' ? trust.markdown : '', /robust_digit_7 on mnist_mlp \(robustness\): checked/);
  assert.equal(interpretResult('tl.showGraph', recorded.results['tl.showGraph']).kind, 'graph');
});

test('progress is begin, reports, end', () => {
  const kinds = recorded.progress.map((p: { value: { kind: string } }) => p.value.kind);
  assert.equal(kinds[0], 'begin');
  assert.equal(kinds[kinds.length - 1], 'end');
  assert.ok(kinds.slice(1, -1).every((k: string) => k === 'report'));
});
