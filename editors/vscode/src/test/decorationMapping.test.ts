import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { DECORATION_STYLE, hoverFor, planGutter } from '../decorationMapping';
import { CONTRACT_STATUSES, ContractReport, ContractStatus } from '../protocol';

const media = path.resolve(__dirname, '..', '..', 'media');

function contract(name: string, status: ContractStatus, line: number): ContractReport {
  return { name, status, range: { start: { line, character: 0 }, end: { line: line + 2, character: 1 } } };
}

test('every status has its own icon file, and each is a well-formed SVG', () => {
  const icons = CONTRACT_STATUSES.map((s) => DECORATION_STYLE[s].icon);
  assert.equal(new Set(icons).size, CONTRACT_STATUSES.length);
  for (const icon of icons) {
    const svg = fs.readFileSync(path.join(media, icon), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/, icon);
    assert.match(svg, /viewBox="0 0 16 16"/, icon);
    assert.match(svg.trim(), /<\/svg>$/, icon);
  }
});

test('the plan has an entry for every status so stale icons are cleared', () => {
  const plan = planGutter([]);
  assert.deepEqual(Object.keys(plan).sort(), [...CONTRACT_STATUSES].sort());
  assert.ok(Object.values(plan).every((marks) => marks.length === 0));
});

test('contracts are marked on their first line under their own status', () => {
  const plan = planGutter([contract('a', 'checked', 3), contract('b', 'tested', 10), contract('c', 'checked', 20)]);
  assert.deepEqual(
    plan.checked.map((m) => m.line),
    [3, 20],
  );
  assert.deepEqual(
    plan.tested.map((m) => m.line),
    [10],
  );
  assert.equal(plan.falsified.length, 0);
});

test('on a shared line the worse status wins', () => {
  const plan = planGutter([contract('fine', 'proved', 4), contract('broken', 'falsified', 4)]);
  assert.equal(plan.proved.length, 0);
  assert.deepEqual(
    plan.falsified.map((m) => m.line),
    [4],
  );
  assert.match(plan.falsified[0].hover, /broken/);
});

test('hover says tested is not verified and carries method and message', () => {
  const hover = hoverFor({ ...contract('s', 'tested', 0), method: 'sampling', millis: 40, message: '1000 samples' });
  assert.match(hover, /tested by sampling, not verified/);
  assert.match(hover, /method: sampling, 40 ms/);
  assert.match(hover, /1000 samples/);
});
