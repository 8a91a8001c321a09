/**
 * File metadata Node has no API for — nanosecond times, extended attributes (POSIX ACLs and
 * capabilities are xattrs too), FIFOs and device nodes — through our native helper
 * (`@vaultline/native`). Without it (not built) times fall back to Node's microsecond-ish `utimes`
 * and the rest is reported as a warning, never silently dropped.
 */
import { execFileSync } from 'node:child_process';
import { futimesSync, lutimesSync } from 'node:fs';
import * as native from '@vaultline/native';
import type { NodeType } from './tree';

export const nativeMeta: boolean = native.nativeAvailable();

function seconds(ns: string): number {
  const v = BigInt(ns);
  return Number(v / 1_000_000_000n) + Number(v % 1_000_000_000n) / 1e9;
}

/** Sets atime and mtime to `mtimeNs` on an open file. */
export function setFileTimes(fd: number, mtimeNs: string): void {
  if (nativeMeta) {
    const t = BigInt(mtimeNs);
    native.futimesNs(fd, t, t);
  } else futimesSync(fd, seconds(mtimeNs), seconds(mtimeNs));
}

/** Sets atime and mtime of `path` itself (a symlink is not followed). */
export function setPathTimes(path: Buffer, mtimeNs: string): void {
  if (nativeMeta) {
    const t = BigInt(mtimeNs);
    native.lutimesNs(path, t, t);
  } else lutimesSync(path, seconds(mtimeNs), seconds(mtimeNs));
}

/** Errors that mean "this file system (or this user) cannot store that attribute". */
const UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EACCES', 'EINVAL', 'ENOSPC', 'E2BIG']);

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The xattrs of `path` (not following a symlink), base64; undefined when there are none or no helper. */
export function readXattrs(path: Buffer, onError: (message: string) => void): [string, string][] | undefined {
  if (!nativeMeta) return undefined;
  let list: { name: Buffer; value: Buffer }[];
  try {
    list = native.lgetxattrs(path);
  } catch (err) {
    onError(`extended attributes not read: ${describe(err)}`);
    return undefined;
  }
  if (list.length === 0) return undefined;
  return list.map((x) => [x.name.toString('base64'), x.value.toString('base64')]);
}

/**
 * Applies xattrs to an open file or a path; what the target refuses (no xattr support, not root
 * for `security.*`/`trusted.*`) is a warning: the data is restored all the same.
 */
export function writeXattrs(
  target: { fd: number } | { path: Buffer },
  xattrs: readonly [string, string][] | undefined,
  where: string,
  warn: (message: string) => void,
): void {
  if (!xattrs || xattrs.length === 0) return;
  if (!nativeMeta) {
    warn(`${where}: ${xattrs.length} extended attribute(s) not restored (native helper not built)`);
    return;
  }
  for (const [n, v] of xattrs) {
    const name = Buffer.from(n, 'base64');
    const value = Buffer.from(v, 'base64');
    try {
      if ('fd' in target) native.fsetxattr(target.fd, name, value);
      else native.lsetxattr(target.path, name, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!UNSUPPORTED.has(code)) throw err;
      warn(`${where}: extended attribute ${JSON.stringify(name.toString('latin1'))} not restored (${code})`);
    }
  }
}

const TYPE_BITS: Partial<Record<NodeType, number>> = {
  fifo: 0o010000,
  chardev: 0o020000,
  blockdev: 0o060000,
  socket: 0o140000,
};

/** Creates a FIFO, device node or socket node at `path` (devices need root). */
export function makeSpecial(path: Buffer, type: NodeType, mode: number, rdev: string | undefined): void {
  const bits = TYPE_BITS[type];
  if (bits === undefined) throw new Error(`not a special file type: ${type}`);
  if (nativeMeta) {
    native.mknod(path, bits | (mode & 0o7777), BigInt(rdev ?? '0'));
    return;
  }
  if (type === 'fifo') {
    // mkfifo(1) takes a string path; names that are not UTF-8 need the helper.
    execFileSync('mkfifo', ['-m', (mode & 0o7777).toString(8), path.toString()], { stdio: 'ignore' });
    return;
  }
  throw Object.assign(new Error(`cannot create a ${type} without the native helper`), { code: 'ENOTSUP' });
}
