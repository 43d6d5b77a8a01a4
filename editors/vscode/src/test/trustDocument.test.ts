import { strict as assert } from 'assert';
import { test } from 'node:test';
import { trustDocumentAddress } from '../trustDocument';

test("the report document is titled after the spec's file name", () => {
  const address = trustDocumentAddress('file:///home/me/specs/mnist_mlp.tl');
  assert.equal(address.path, '/mnist_mlp.tl trust report.md');
  assert.equal(address.query, 'file:///home/me/specs/mnist_mlp.tl');
});

test('percent-encoded names are decoded for the title, never into extra path segments', () => {
  assert.equal(trustDocumentAddress('file:///tmp/my%20model.tl').path, '/my model.tl trust report.md');
  assert.equal(trustDocumentAddress('file:///tmp/a%2Fb.tl').path, '/a_b.tl trust report.md');
  assert.equal(trustDocumentAddress('file:///tmp/bad%E0%A4.tl').path, '/bad%E0%A4.tl trust report.md');
});

test('two specs with the same file name get different documents', () => {
  const a = trustDocumentAddress('file:///one/model.tl');
  const b = trustDocumentAddress('file:///two/model.tl');
  assert.equal(a.path, b.path);
  assert.notEqual(a.query, b.query);
});

test('a URI without a file name still gives a usable title', () => {
  assert.equal(trustDocumentAddress('untitled:').path, '/untitled: trust report.md');
  assert.equal(trustDocumentAddress('file:///dir/').path, '/spec trust report.md');
});
