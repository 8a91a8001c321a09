/** Test factories: source folders with every kind of entry, and a tree comparison that sees them all. */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import {
  chownSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { FsBackend } from '@vaultline/storage';
import { Repository, type InitOptions } from '@vaultline/engine';

/** Cheap Argon2 for tests; production defaults are in keys.ts. */
export const TEST_KDF = { memory: 1024, passes: 1, parallelism: 1 };
export const PASSWORD = 'correct horse battery';

export function tempDir(label: string): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), `vaultline-${label}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export async function initFsRepo(dir: string, opts: Partial<InitOptions> = {}): Promise<Repository> {
  const backend = await FsBackend.open(dir, { create: true });
  return Repository.init(backend, { password: PASSWORD, kdf: TEST_KDF, ...opts });
}

/** Deterministic pseudo-random bytes (fast, seedable) for content that must not compress. */
export function pseudoRandom(seed: number, length: number): Buffer {
  // AES-CTR keystream: deterministic per seed and ~1 GB/s.
  const key = createHash('sha256').update(`seed ${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/**
 * A source folder with: nested dirs, an empty dir, unicode names, an empty file, a large file
 * spanning several chunks, compressible text, a symlink (relative) and a dangling symlink, odd
 * modes and fixed mtimes.
 */
export function makeSource(root: string, opts: { largeBytes?: number } = {}): void {
  mkdirSync(join(root, 'docs/deep/deeper'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'));
  mkdirSync(join(root, 'cache'));
  writeFileSync(join(root, 'docs/readme.txt'), 'Vaultline test\n'.repeat(5000));
  writeFileSync(join(root, 'docs/deep/deeper/notes.md'), '# notes\n');
  writeFileSync(join(root, 'Ünïcødé – 日本語.txt'), 'unicode name\n');
  writeFileSync(join(root, 'empty.bin'), '');
  writeFileSync(join(root, 'large.bin'), pseudoRandom(1, opts.largeBytes ?? 3 * 1024 * 1024 + 12345));
  writeFileSync(join(root, 'cache/tmp.dat'), randomBytes(1000));
  writeFileSync(join(root, 'script.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'script.sh'), 0o750);
  chmodSync(join(root, 'docs/deep/deeper/notes.md'), 0o600);
  symlinkSync('docs/readme.txt', join(root, 'link-to-readme'));
  symlinkSync('does/not/exist', join(root, 'dangling'));
  // Ownership is stored always and restored when running as root (as here in CI).
  if (process.getuid?.() === 0) {
    chownSync(join(root, 'script.sh'), 1234, 5678);
    lchownSync(join(root, 'link-to-readme'), 4321, 8765);
    chownSync(join(root, 'docs/deep'), 1111, 2222);
  }
  const t = new Date('2021-03-04T05:06:07.123Z');
  for (const p of ['docs/readme.txt', 'large.bin', 'empty.bin', 'script.sh', 'docs/deep/deeper', 'empty-dir'])
    utimesSync(join(root, p), t, t);
}

export interface Entry {
  type: 'file' | 'dir' | 'symlink';
  uid: number;
  gid: number;
  mode: number;
  mtimeMs: number;
  size: number;
  hash?: string;
  target?: string;
}

/** Every entry below `root` (relative path → what a restore must reproduce). */
export function snapshotOf(
  root: string,
  opts: { exclude?: (rel: string) => boolean } = {},
): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (opts.exclude?.(r)) continue;
      const p = join(dir, name);
      const st = lstatSync(p);
      const base = {
        uid: st.uid,
        gid: st.gid,
        mode: st.mode & 0o7777,
        mtimeMs: Math.floor(st.mtimeMs),
        size: st.size,
      };
      if (st.isSymbolicLink()) out.set(r, { type: 'symlink', ...base, size: 0, target: readlinkSync(p) });
      else if (st.isDirectory()) {
        out.set(r, { type: 'dir', ...base, size: 0 });
        walk(p, r);
      } else
        out.set(r, {
          type: 'file',
          ...base,
          hash: createHash('sha256').update(readFileSync(p)).digest('hex'),
        });
    }
  };
  walk(root, '');
  return out;
}

export function assertSameTree(actual: Map<string, Entry>, expected: Map<string, Entry>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), 'same set of paths');
  for (const [path, e] of expected) {
    const a = actual.get(path)!;
    // Symlink modes and mtimes are not portable (Linux has no lchmod); compare their targets.
    if (e.type === 'symlink') {
      assert.deepEqual(
        { type: a.type, target: a.target, mtimeMs: a.mtimeMs, uid: a.uid, gid: a.gid },
        { type: e.type, target: e.target, mtimeMs: e.mtimeMs, uid: e.uid, gid: e.gid },
        path,
      );
    } else assert.deepEqual(a, e, path);
  }
}
