/**
 * A streaming tar writer (POSIX pax, readable by GNU tar, bsdtar and every unpacking library):
 * ustar headers, with a pax extended header in front of any entry whose name or link target does
 * not fit ustar's 100 ASCII bytes, or whose size, uid or gid do not fit its octal fields. Names
 * are bytes: one that is not valid UTF-8 is written as-is with `hdrcharset=BINARY` (POSIX), so a
 * folder downloads with the names it was backed up with. Written here rather than with a package
 * because that is the one thing the common packages cannot do (their names are JS strings).
 */
import { isUtf8 } from 'node:buffer';

export const BLOCK = 512;

export interface TarEntry {
  /** The path inside the archive, relative (no leading `/`); a folder's ends without `/` here. */
  name: Buffer;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content that follow (files only). */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** A symlink's target. */
  linkname?: Buffer;
}

const OCTAL_MAX = { 8: 0o7777777, 12: 0o77777777777 } as const;

function fitsUstar(b: Buffer): boolean {
  return b.length <= 100 && b.every((c) => c >= 0x20 && c < 0x7f);
}

/** One pax record: `<length> <key>=<value>\n`, the length counting itself. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = rest.length + 1;
  while (String(length).length + rest.length !== length) length = String(length).length + rest.length;
  return Buffer.concat([Buffer.from(String(length)), rest]);
}

function writeOctal(block: Buffer, offset: number, width: 8 | 12, value: number): void {
  const n = Math.max(0, Math.min(Math.floor(value), OCTAL_MAX[width]));
  block.write(`${n.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'ascii');
}

function writeBytes(block: Buffer, offset: number, width: number, value: Buffer): void {
  value.copy(block, offset, 0, Math.min(value.length, width));
}

function ustarHeader(
  name: Buffer,
  typeflag: string,
  e: Pick<TarEntry, 'mode' | 'uid' | 'gid' | 'size' | 'mtime'>,
  linkname?: Buffer,
): Buffer {
  const h = Buffer.alloc(BLOCK);
  writeBytes(h, 0, 100, name);
  writeOctal(h, 100, 8, e.mode & 0o7777);
  writeOctal(h, 108, 8, e.uid);
  writeOctal(h, 116, 8, e.gid);
  writeOctal(h, 124, 12, e.size);
  writeOctal(h, 136, 12, e.mtime);
  h.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  h.write(typeflag, 156, 1, 'ascii');
  if (linkname) writeBytes(h, 157, 100, linkname);
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** The header block(s) of one entry: a pax header first when ustar cannot hold it. */
export function entryHeader(e: TarEntry): Buffer {
  const name = e.type === 'dir' ? Buffer.concat([e.name, Buffer.from('/')]) : e.name;
  const records: Buffer[] = [];
  let binary = false;
  if (!fitsUstar(name)) {
    records.push(paxRecord('path', name));
    binary ||= !isUtf8(name);
  }
  if (e.linkname && !fitsUstar(e.linkname)) {
    records.push(paxRecord('linkpath', e.linkname));
    binary ||= !isUtf8(e.linkname);
  }
  if (e.size > OCTAL_MAX[12]) records.push(paxRecord('size', Buffer.from(String(e.size))));
  if (e.uid > OCTAL_MAX[8]) records.push(paxRecord('uid', Buffer.from(String(e.uid))));
  if (e.gid > OCTAL_MAX[8]) records.push(paxRecord('gid', Buffer.from(String(e.gid))));
  if (binary) records.unshift(paxRecord('hdrcharset', Buffer.from('BINARY')));
  const typeflag = e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0';
  const header = ustarHeader(name, typeflag, e, e.linkname);
  if (records.length === 0) return header;
  const pax = Buffer.concat(records);
  // The pax header's own name is informational; readers take the entry's from its records.
  const paxName = Buffer.from(
    `PaxHeaders/${name
      .subarray(-80)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '_')}`,
  );
  return Buffer.concat([
    ustarHeader(paxName, 'x', { mode: 0o644, uid: 0, gid: 0, size: pax.length, mtime: e.mtime }),
    pax,
    padding(pax.length),
    header,
  ]);
}

/** What follows a file's content: zeros up to the next block. */
export const contentPadding = padding;

/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
