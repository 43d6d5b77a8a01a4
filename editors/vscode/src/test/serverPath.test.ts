import { strict as assert } from 'assert';
import { test } from 'node:test';
import { resolveServerPath, ResolveInput } from '../serverPath';

function input(overrides: Partial<ResolveInput>, executables: string[]): ResolveInput {
  return {
    configured: '',
    env: { PATH: '/usr/local/bin:/usr/bin', HOME: '/home/u' },
    platform: 'linux',
    isExecutable: (f) => executables.includes(f),
    ...overrides,
  };
}

test('an absolute setting wins over PATH', () => {
  const r = resolveServerPath(input({ configured: '/opt/tl/tlc' }, ['/opt/tl/tlc', '/usr/bin/tlc']));
  assert.deepEqual(r, { ok: true, path: '/opt/tl/tlc' });
});

test('a setting that points nowhere is an error naming the path, not a silent PATH fallback', () => {
  const r = resolveServerPath(input({ configured: '/opt/missing/tlc' }, ['/usr/bin/tlc']));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.message : '', /tl\.server\.path is set to "\/opt\/missing\/tlc"/);
});

test('~ expands to the home directory', () => {
  const r = resolveServerPath(input({ configured: '~/.cargo/bin/tlc' }, ['/home/u/.cargo/bin/tlc']));
  assert.deepEqual(r, { ok: true, path: '/home/u/.cargo/bin/tlc' });
});

test('a relative setting resolves against the workspace folder', () => {
  const r = resolveServerPath(
    input({ configured: 'target/debug/tlc', workspaceFolder: '/w/tl' }, ['/w/tl/target/debug/tlc']),
  );
  assert.deepEqual(r, { ok: true, path: '/w/tl/target/debug/tlc' });
  const noFolder = resolveServerPath(input({ configured: 'target/debug/tlc' }, []));
  assert.equal(noFolder.ok, false);
});

test('PATH is searched in order and empty entries are skipped', () => {
  const r = resolveServerPath(
    input({ env: { PATH: ':/a:/b' } }, ['/b/tlc', '/a/tlc']),
  );
  assert.deepEqual(r, { ok: true, path: '/a/tlc' });
});

test('missing everywhere gives a message that says how to fix it', () => {
  const r = resolveServerPath(input({}, []));
  assert.equal(r.ok, false);
  const message = !r.ok ? r.message : '';
  assert.match(message, /Could not find `tlc` on PATH/);
  assert.match(message, /tl\.server\.path/);
});

test('on Windows PATHEXT extensions are tried', () => {
  const r = resolveServerPath(
    input({ platform: 'win32', env: { Path: 'C:\\tools;C:\\bin', PATHEXT: '.COM;.EXE' } }, ['C:\\bin\\tlc.exe']),
  );
  assert.deepEqual(r, { ok: true, path: 'C:\\bin\\tlc.exe' });
});
