import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as native from '@vaultline/native';
import { pathFingerprint } from './manifest';
import {
  PACKED_FIELDS,
  scanNative,
  scanNode,
  scannedFingerprint,
  scannedNames,
  type ScanDirResult,
} from './scan';

/** A listing as plain values, fingerprints only where the walk reads them (regular files). */
function plain(r: ScanDirResult): unknown {
  const names = scannedNames(r);
  return {
    error: r.error,
    entries: names.map((name, i) => {
      const stats = [...r.stats.subarray(i * PACKED_FIELDS, (i + 1) * PACKED_FIELDS)];
      const isFile = (stats[0]! & 0o170000n) === 0o100000n;
      return {
        name: name.toString('hex'),
        stats,
        statError: r.statErrors[i],
        xattrs: r.xattrs[i],
        xattrError: r.xattrErrors[i],
        fp: isFile ? scannedFingerprint(r, i) : null,
      };
    }),
  };
}

describe('folder listing (scan)', () => {
  let dir: string;
  const key = Buffer.alloc(32, 7);
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vaultline-scan-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the native listing and Node's agree entry for entry", () => {
    assert.equal(PACKED_FIELDS, native.SCAN_FIELDS, 'the same fields per entry');
    const root = path.join(dir, 'tree');
    mkdirSync(root);
    const raw = Buffer.concat([Buffer.from(root + '/'), Buffer.from([0x66, 0xfe, 0x01])]);
    writeFileSync(raw, 'not UTF-8, a control character');
    writeFileSync(path.join(root, 'back\\slash'), 'b');
    writeFileSync(path.join(root, 'a.txt'), 'a');
    linkSync(path.join(root, 'a.txt'), path.join(root, 'a-link.txt'));
    symlinkSync('a.txt', path.join(root, 'sym'));
    mkdirSync(path.join(root, 'sub'));
    writeFileSync(path.join(root, 'secret'), 's');
    chmodSync(path.join(root, 'secret'), 0o000);
    try {
      native.lsetxattr(path.join(root, 'a.txt'), 'user.k', Buffer.from('v'));
    } catch {
      // a file system without user xattrs: the listings must still agree
    }
    const rel = Buffer.from('top/dir');
    const viaNative = scanNative(Buffer.from(root), rel, key);
    assert.deepEqual(plain(viaNative), plain(scanNode(Buffer.from(root), rel, key)));
    const names = scannedNames(viaNative).map((n) => n.toString('latin1'));
    const i = names.indexOf('back\\slash');
    assert.equal(
      scannedFingerprint(viaNative, i),
      pathFingerprint(key, Buffer.from('top/dir/back\\slash')),
      "a file's fingerprint is that of its path relative to the source",
    );
    // At the root (no relative folder) the fingerprint is of the bare name.
    const atRoot = scanNative(Buffer.from(root), null, key);
    assert.equal(scannedFingerprint(atRoot, i), pathFingerprint(key, Buffer.from('back\\slash')));
  });

  test('an entry whose full path is longer than PATH_MAX is unreadable in both, not half-read', () => {
    // Built with relative cds: the kernel refuses such paths whole, so the deepest folder lists
    // (by the relative walk) an entry no path-based call can reach.
    const seg = 'd'.repeat(200);
    execFileSync('bash', [
      '-c',
      `cd "$1" && for i in $(seq 24); do mkdir ${seg} && cd ${seg} || exit 1; done`,
      'bash',
      dir,
    ]);
    let folder = Buffer.from(dir);
    while (folder.length + 1 + seg.length < 4096) folder = Buffer.concat([folder, Buffer.from('/' + seg)]);
    const parent = folder; // listable by path; its one entry's path is too long
    const viaNative = scanNative(parent, null, key);
    assert.deepEqual(plain(viaNative), plain(scanNode(parent, null, key)));
    assert.match(viaNative.statErrors[0] ?? '', /^ENAMETOOLONG/);
    execFileSync('rm', ['-rf', path.join(dir, seg)]); // GNU rm walks by fd; Node's rmSync can't
  });

  test('a folder that cannot be listed is an error of the listing, as with Node', () => {
    const missing = Buffer.from(path.join(dir, 'missing'));
    const a = scanNative(missing, null, key);
    const b = scanNode(missing, null, key);
    assert.match(a.error ?? '', /^ENOENT: no such file or directory, scandir '.*missing'$/);
    assert.deepEqual(plain(a), plain(b));
  });
});
