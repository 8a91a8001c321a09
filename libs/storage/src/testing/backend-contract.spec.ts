import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import type { StorageBackend, StoredObject } from '../backend';
import { StorageError } from '../errors';
import type { StorageErrorCode } from '../errors';

export interface BackendUnderTest {
  backend: StorageBackend;
  /** Remove whatever the backend created (temp dir, key prefix). */
  cleanup: () => Promise<void>;
}

/** Makes a fresh, empty backend for each test, so listings never see another test's objects. */
export type BackendFactory = () => Promise<BackendUnderTest>;

/** Assert that `promise` rejects with a StorageError of `code`, and return it for further checks. */
export async function rejectsWithCode(
  promise: Promise<unknown>,
  code: StorageErrorCode,
): Promise<StorageError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof StorageError, `expected a StorageError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected a StorageError ${code}, but the call succeeded`);
}

export async function collect(objects: AsyncIterable<StoredObject>): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of objects) out.push(o);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

async function collect2(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const n of it) out.push(n);
  return out;
}

export async function names(objects: AsyncIterable<StoredObject>): Promise<string[]> {
  return (await collect(objects)).map((o) => o.name);
}

/**
 * Test-only (imports node:test; not exported from the package index). Named `.spec.ts` so lint and
 * nx treat it as test code, but it defines no tests until a spec file calls it.
 *
 * The behaviour every StorageBackend must share, run against any implementation: call it inside a
 * test file with a factory for that backend.
 */
export function describeBackendContract(label: string, factory: BackendFactory): void {
  async function withBackend(fn: (backend: StorageBackend) => Promise<void>): Promise<void> {
    const { backend, cleanup } = await factory();
    try {
      await fn(backend);
    } finally {
      await backend.close();
      await cleanup();
    }
  }

  describe(`${label}: StorageBackend contract`, () => {
    test('put then get returns the same bytes, including an empty object', () =>
      withBackend(async (b) => {
        const data = randomBytes(1000);
        await b.put('data/ab/ab12', data);
        assert.deepEqual(await b.get('data/ab/ab12'), data);
        await b.put('keys/empty', new Uint8Array(0));
        assert.equal((await b.get('keys/empty')).length, 0);
      }));

    test('put stores exactly the bytes of a Uint8Array view, not its whole buffer', () =>
      withBackend(async (b) => {
        const whole = Buffer.from('0123456789abcdef');
        const view = new Uint8Array(whole.buffer, whole.byteOffset + 4, 6);
        await b.put('config', view);
        assert.equal((await b.get('config')).toString(), '456789');
      }));

    test('put overwrites an existing object', () =>
      withBackend(async (b) => {
        await b.put('index/1', Buffer.from('first version, longer'));
        await b.put('index/1', Buffer.from('second'));
        assert.equal((await b.get('index/1')).toString(), 'second');
        assert.equal((await b.stat('index/1'))?.size, 6);
      }));

    test('a 1 MiB object round-trips', () =>
      withBackend(async (b) => {
        const data = randomBytes(1024 * 1024);
        await b.put('data/ff/big', data);
        assert.ok((await b.get('data/ff/big')).equals(data));
        const slice = await b.get('data/ff/big', { offset: 700_000, length: 300_000 });
        assert.ok(slice.equals(data.subarray(700_000, 1_000_000)));
      }));

    test('get with a range returns exactly that range', () =>
      withBackend(async (b) => {
        await b.put('data/00/pack', Buffer.from('0123456789'));
        assert.equal((await b.get('data/00/pack', { offset: 0, length: 3 })).toString(), '012');
        assert.equal((await b.get('data/00/pack', { offset: 4, length: 2 })).toString(), '45');
        assert.equal((await b.get('data/00/pack', { offset: 7, length: 3 })).toString(), '789');
        assert.equal((await b.get('data/00/pack', { offset: 5, length: 0 })).length, 0);
      }));

    test('a range past the end of the object is a truncation error (IO)', () =>
      withBackend(async (b) => {
        await b.put('data/00/short', Buffer.from('0123456789'));
        const err = await rejectsWithCode(b.get('data/00/short', { offset: 8, length: 5 }), 'IO');
        assert.match(err.message, /truncated object data\/00\/short/);
        const past = await rejectsWithCode(b.get('data/00/short', { offset: 20, length: 5 }), 'IO');
        assert.match(past.message, /truncated object data\/00\/short/);
      }));

    test('get of a missing object is NOT_FOUND, with or without a range', () =>
      withBackend(async (b) => {
        await rejectsWithCode(b.get('data/00/missing'), 'NOT_FOUND');
        await rejectsWithCode(b.get('data/00/missing', { offset: 0, length: 4 }), 'NOT_FOUND');
        await rejectsWithCode(b.get('data/00/missing', { offset: 0, length: 0 }), 'NOT_FOUND');
      }));

    test('stat reports size and mtime, or null when absent', () =>
      withBackend(async (b) => {
        const before = Date.now();
        await b.put('snapshots/s1', Buffer.from('12345'));
        const st = await b.stat('snapshots/s1');
        assert.ok(st);
        assert.equal(st.name, 'snapshots/s1');
        assert.equal(st.size, 5);
        assert.ok(st.mtime instanceof Date);
        // Servers may round to whole seconds.
        assert.ok(st.mtime.getTime() >= before - 2000, `mtime ${st.mtime.toISOString()} is too old`);
        assert.equal(await b.stat('snapshots/nope'), null);
        assert.equal(await b.stat('nothing/here/at/all'), null);
      }));

    test('list yields every object under a prefix, recursively, with sizes', () =>
      withBackend(async (b) => {
        await b.put('config', Buffer.from('c'));
        await b.put('data/ab/ab01', Buffer.from('1'));
        await b.put('data/ab/ab02', Buffer.from('22'));
        await b.put('data/cd/cd01', Buffer.from('333'));
        await b.put('snapshots/s1', Buffer.from('4444'));
        const data = await collect(b.list('data/'));
        assert.deepEqual(
          data.map((o) => [o.name, o.size]),
          [
            ['data/ab/ab01', 1],
            ['data/ab/ab02', 2],
            ['data/cd/cd01', 3],
          ],
        );
        assert.deepEqual(await names(b.list('snapshots/')), ['snapshots/s1']);
        assert.deepEqual(await names(b.list('data/ab/')), ['data/ab/ab01', 'data/ab/ab02']);
        assert.deepEqual(await names(b.list('data/c')), ['data/cd/cd01']);
        assert.deepEqual(await names(b.list('')), [
          'config',
          'data/ab/ab01',
          'data/ab/ab02',
          'data/cd/cd01',
          'snapshots/s1',
        ]);
      }));

    test('listNames yields the same names as list, for every kind of prefix', () =>
      withBackend(async (b) => {
        for (const n of ['config', 'data/ab/ab01', 'data/ab/ab02', 'data/cd/cd01', 'snapshots/s1']) {
          await b.put(n, Buffer.from(n));
        }
        for (const prefix of ['', 'data/', 'data/ab/', 'data/c', 'snapshots/', 'locks/', 'conf']) {
          const fromNames: string[] = [];
          for await (const n of b.listNames(prefix)) fromNames.push(n);
          assert.deepEqual(fromNames.sort(), await names(b.list(prefix)), `prefix ${JSON.stringify(prefix)}`);
        }
      }));

    test('list of a prefix with no objects yields nothing', () =>
      withBackend(async (b) => {
        assert.deepEqual(await names(b.list('locks/')), []);
        await b.put('keys/k1', Buffer.from('k'));
        assert.deepEqual(await names(b.list('locks/')), []);
        assert.deepEqual(await names(b.list('keys/k2')), []);
      }));

    test('delete removes an object; deleting an absent object is not an error', () =>
      withBackend(async (b) => {
        await b.put('locks/l1', Buffer.from('lock'));
        await b.delete('locks/l1');
        assert.equal(await b.stat('locks/l1'), null);
        assert.deepEqual(await names(b.list('locks/')), []);
        await b.delete('locks/l1');
        await b.delete('never/existed');
      }));

    test('concurrent puts of different objects all land', () =>
      withBackend(async (b) => {
        const items = Array.from({ length: 20 }, (_, i) => ({
          name: `data/${i % 4}0/obj${i}`,
          body: randomBytes(100 + i),
        }));
        await Promise.all(items.map((it) => b.put(it.name, it.body)));
        for (const it of items) assert.ok((await b.get(it.name)).equals(it.body));
        assert.equal((await names(b.list('data/'))).length, 20);
      }));

    test('a spool is invisible until committed, then is the object; a discarded one leaves nothing', () =>
      withBackend(async (b) => {
        if (!b.spool) return;
        const one = randomBytes(300_000);
        const two = randomBytes(70_000);
        const s = await b.spool('data');
        await s.write([one.subarray(0, 1000), one.subarray(1000)]);
        await s.write([two]);
        assert.equal(s.size, one.length + two.length);
        assert.deepEqual(await names(b.list('')), []);
        assert.deepEqual(await collect2(b.listNames('')), []);
        await s.commit('data/cd/cd34');
        assert.ok((await b.get('data/cd/cd34')).equals(Buffer.concat([one, two])));
        assert.deepEqual(await names(b.list('')), ['data/cd/cd34']);
        await rejectsWithCode(s.write([one]), 'IO');
        await s.discard();
        assert.ok((await b.get('data/cd/cd34')).equals(Buffer.concat([one, two])));

        const dropped = await b.spool('data');
        await dropped.write([one]);
        await dropped.discard();
        await dropped.discard();
        await rejectsWithCode(dropped.commit('data/ef/ef56'), 'IO');
        assert.equal(await b.stat('data/ef/ef56'), null);
        assert.deepEqual(await names(b.list('')), ['data/cd/cd34']);
      }));

    test('invalid names and prefixes are rejected before touching the target', () =>
      withBackend(async (b) => {
        for (const bad of ['../escape', '/abs', 'a//b', 'a/./b', 'a/../b', '', 'trailing/', 'sp ace']) {
          await rejectsWithCode(b.put(bad, Buffer.from('x')), 'INVALID_NAME');
          await rejectsWithCode(b.get(bad), 'INVALID_NAME');
        }
        await rejectsWithCode(collect(b.list('../')), 'INVALID_NAME');
        await rejectsWithCode(collect(b.list('/etc/')), 'INVALID_NAME');
      }));
  });
}
