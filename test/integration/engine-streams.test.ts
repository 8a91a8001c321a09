/**
 * The engine's `streams` (database dumps stored beside a folder's content): the files land at
 * their paths with the folder's own entries, are deduplicated across backups, come back through
 * openSnapshotPath byte for byte, and are left out of a restore by `excludeTop`. A clash with the
 * folder, an unsafe path and a stream that throws all fail the backup; nothing is written then.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { backup, openSnapshotPath, restore } from '@vaultline/engine';

import { initFsRepo, pseudoRandom, tempDir } from '../support/fixtures';

/** `data` in pieces, as a command's output arrives. */
function chunks(data: Buffer, size = 100_000): AsyncIterable<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) pieces.push(data.subarray(i, i + size));
  return (async function* () {
    for (const p of pieces) yield await Promise.resolve(p);
  })();
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

describe('engine: streams beside a folder', () => {
  test('stored at their paths, deduplicated, read back, excluded from a restore on request', async () => {
    const tmp = tempDir('streams');
    try {
      const src = join(tmp.path, 'src');
      mkdirSync(join(src, 'app'), { recursive: true });
      writeFileSync(join(src, 'app', 'config.yml'), 'a: 1\n');
      writeFileSync(join(src, 'zzz.txt'), 'last\n');
      const repo = await initFsRepo(join(tmp.path, 'repo'));
      const dumpA = pseudoRandom(1, 3 << 20);
      const dumpB = Buffer.from('-- sql\n'.repeat(1000));
      const streams = (a: Buffer) => [
        { path: '.dumps/pg/app.dump', open: () => chunks(a) },
        { path: '.dumps/mysql/app.sql', open: () => chunks(dumpB) },
      ];
      const first = await backup(repo, { source: src, streams: streams(dumpA) });
      assert.equal(first.snapshot.stats.files, 4);
      // The same dump again adds (almost) nothing: its chunks are already stored.
      const second = await backup(repo, { source: src, streams: streams(dumpA) });
      assert.ok(
        second.snapshot.stats.bytesAdded < 64 * 1024,
        `bytes added ${second.snapshot.stats.bytesAdded}`,
      );

      const root = await openSnapshotPath(repo, second.snapshot.id, '');
      assert.deepEqual(
        root.children.map((n) => n.name),
        ['.dumps', 'app', 'zzz.txt'],
        'in byte order, beside the folder',
      );
      const pg = await openSnapshotPath(repo, second.snapshot.id, '.dumps/pg/app.dump');
      assert.equal(pg.node?.type, 'file');
      assert.ok((await collect(pg.read(pg.node, 'dump'))).equals(dumpA));
      const none = await openSnapshotPath(repo, second.snapshot.id, '.dumps/none');
      assert.equal(none.node, null);

      const out = join(tmp.path, 'out');
      await restore(repo, { snapshot: second.snapshot.id, target: out, excludeTop: ['.dumps'] });
      assert.equal(existsSync(join(out, '.dumps')), false);
      assert.equal(readFileSync(join(out, 'app', 'config.yml'), 'utf8'), 'a: 1\n');
      const all = join(tmp.path, 'all');
      await restore(repo, { snapshot: second.snapshot.id, target: all });
      assert.ok(readFileSync(join(all, '.dumps', 'mysql', 'app.sql')).equals(dumpB));
    } finally {
      tmp.cleanup();
    }
  });

  test('a clash with the folder, an unsafe path or a failing stream fails the backup; nothing is written', async () => {
    const tmp = tempDir('streams-bad');
    try {
      const src = join(tmp.path, 'src');
      mkdirSync(join(src, '.dumps'), { recursive: true });
      const repo = await initFsRepo(join(tmp.path, 'repo'));
      const one = (path: string, open = () => chunks(Buffer.from('x'))) => [{ path, open }];
      await assert.rejects(
        backup(repo, { source: src, streams: one('.dumps/a') }),
        /exists in the source folder/,
      );
      for (const bad of ['../x', 'a//b', 'a/./b', '', '/abs']) {
        await assert.rejects(
          backup(repo, { source: src, streams: one(`d/${bad}`) }),
          /INVALID|unsafe|empty part/i,
          bad,
        );
      }
      await assert.rejects(
        backup(repo, {
          source: src,
          streams: one('d/x', async function* () {
            yield await Promise.resolve(Buffer.from('partial'));
            throw new Error('pg_dump exited with code 1');
          }),
        }),
        /pg_dump exited with code 1/,
      );
      assert.deepEqual(await repo.listSnapshots(), []);
    } finally {
      tmp.cleanup();
    }
  });
});
