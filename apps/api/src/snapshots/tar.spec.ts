import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BLOCK, END_OF_ARCHIVE, entryHeader, paxRecord } from './tar';

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_600_000_000 };

/** The checksum a reader computes: the header's bytes with its checksum field read as spaces. */
function checksumOk(header: Buffer): boolean {
  const copy = Buffer.from(header);
  copy.fill(0x20, 148, 156);
  const sum = copy.reduce((a, b) => a + b, 0);
  return parseInt(header.subarray(148, 154).toString('ascii'), 8) === sum;
}

describe('tar writer', () => {
  test('a pax record counts its own length, across a change of digits', () => {
    for (let n = 80; n < 1100; n++) {
      const record = paxRecord('path', Buffer.alloc(n, 0x61));
      assert.equal(parseInt(record.toString('ascii'), 10), record.length, `value of ${n} bytes`);
      assert.equal(record[record.length - 1], 0x0a);
    }
  });

  test('a short ASCII name: one ustar block with a valid checksum', () => {
    const h = entryHeader({ ...base, name: Buffer.from('docs/readme.txt'), type: 'file', size: 12 });
    assert.equal(h.length, BLOCK);
    assert.equal(h.subarray(0, 15).toString(), 'docs/readme.txt');
    assert.equal(h.subarray(124, 135).toString(), '00000000014');
    assert.equal(h.subarray(257, 263).toString(), 'ustar\0');
    assert.ok(checksumOk(h));
  });

  test('a folder ends in /; a long or non-UTF-8 name gets a pax header first', () => {
    const dir = entryHeader({ ...base, name: Buffer.from('docs'), type: 'dir' });
    assert.equal(dir.subarray(0, 5).toString(), 'docs/');
    assert.equal(String.fromCharCode(dir[156]!), '5');

    const long = entryHeader({ ...base, name: Buffer.from('x'.repeat(150)), type: 'file' });
    assert.equal(long.length, 3 * BLOCK);
    assert.equal(String.fromCharCode(long[156]!), 'x');
    assert.match(
      long.subarray(BLOCK, 2 * BLOCK).toString('latin1'),
      new RegExp(`path=${'x'.repeat(150)}\\n`),
    );
    assert.ok(checksumOk(long.subarray(0, BLOCK)) && checksumOk(long.subarray(2 * BLOCK)));

    const raw = entryHeader({ ...base, name: Buffer.from([0x63, 0x61, 0x66, 0xe9]), type: 'file' });
    const pax = raw.subarray(BLOCK, 2 * BLOCK);
    assert.ok(pax.includes(Buffer.from('hdrcharset=BINARY\n')));
    assert.ok(pax.includes(Buffer.from([0x70, 0x61, 0x74, 0x68, 0x3d, 0x63, 0x61, 0x66, 0xe9, 0x0a])));
  });

  test('the archive ends with two zero blocks', () => {
    assert.equal(END_OF_ARCHIVE.length, 2 * BLOCK);
    assert.ok(END_OF_ARCHIVE.every((b) => b === 0));
  });
});
