#!/usr/bin/env node
// Copies the grammar's queries to the editor plugins that ship their own copy (Neovim, Helix, Zed)
// and translates capture names to the scopes Helix's and Zed's themes style. The grammar's queries/ is the single source of truth.
//
//   node scripts/sync-queries.js          write the copies
//   node scripts/sync-queries.js --check  exit 1 when a copy is out of date (used by editors/ci.sh)

'use strict';

const fs = require('fs');
const path = require('path');

const grammarDir = path.resolve(__dirname, '..');
const editorsDir = path.resolve(grammarDir, '..');

/** Helix has no `@number`/`@module`/...; these are its closest scopes (themes fall back by prefix). */
const HELIX_CAPTURES = {
  'keyword.import': 'keyword.control.import',
  boolean: 'constant.builtin.boolean',
  module: 'namespace',
  property: 'variable.other.member',
  'function.call': 'function',
  number: 'constant.numeric.integer',
  'number.float': 'constant.numeric.float',
  'string.escape': 'constant.character.escape',
  'comment.documentation': 'comment.line.documentation',
  'indent.begin': 'indent',
  'indent.end': 'outdent',
};

/** Zed's themes style `namespace` and `comment.doc`, not `module` or `comment.documentation`. */
const ZED_CAPTURES = {
  module: 'namespace',
  'comment.documentation': 'comment.doc',
};

const header = (source) =>
  `; Generated from editors/tree-sitter-tl/queries/${source} by scripts/sync-queries.js; do not edit.\n`;

const renameCaptures = (text, names) =>
  text.replace(/@([a-z.]+)/g, (whole, name) => (name in names ? `@${names[name]}` : whole));

function translateForHelix(text) {
  return renameCaptures(text.replace(/ @indent\.branch/g, ''), HELIX_CAPTURES);
}

/** Every generated file: [target path, contents]. */
function targets() {
  const read = (name) => fs.readFileSync(path.join(grammarDir, 'queries', name), 'utf8');
  const out = [];
  for (const name of ['highlights.scm', 'locals.scm', 'folds.scm', 'indents.scm']) {
    out.push([path.join(editorsDir, 'nvim', 'queries', 'tl', name), header(name) + read(name)]);
  }
  for (const name of ['highlights.scm', 'locals.scm', 'indents.scm']) {
    out.push([path.join(editorsDir, 'helix', 'queries', 'tl', name), header(name) + translateForHelix(read(name))]);
  }
  out.push([path.join(editorsDir, 'zed', 'languages', 'tl', 'highlights.scm'), header('highlights.scm') + renameCaptures(read('highlights.scm'), ZED_CAPTURES)]);
  return out;
}

function main() {
  const check = process.argv.includes('--check');
  const stale = [];
  for (const [file, contents] of targets()) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (current === contents) continue;
    if (check) {
      stale.push(path.relative(editorsDir, file));
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, contents);
      console.log(`wrote ${path.relative(editorsDir, file)}`);
    }
  }
  if (stale.length > 0) {
    console.error(`queries out of date (run: node editors/tree-sitter-tl/scripts/sync-queries.js):\n  ${stale.join('\n  ')}`);
    process.exit(1);
  }
}

main();
