import { randomBytes } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import type { ProbeResult } from '@vaultline/contracts';
import { type StorageBackend, StorageError } from '@vaultline/storage';

export type { ProbeResult };

function describe(err: unknown): { code: string; message: string } {
  // StorageError messages never contain credentials (storage's contract); anything else might
  // (a driver's message quoting a URL), so only its class of failure is reported.
  if (err instanceof StorageError) return { code: err.code, message: err.message };
  return { code: 'IO', message: 'unexpected storage failure (see the API log)' };
}

/** statfs magic numbers (linux/magic.h) of the file systems a backup target is likely to be on. */
const FS_TYPES: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'], // ext2/3/4 share it
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x4d44, 'vfat'], // FAT12/16/32
  [0x2011bab0, 'exfat'],
  [0x5346544e, 'ntfs'],
  [0x7366746e, 'ntfs3'],
  [0x6969, 'nfs'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x65735546, 'fuseblk'], // FUSE (exFAT and NTFS through FUSE show as this)
  [0x01021994, 'tmpfs'],
  [0x2fc12fc1, 'zfs'],
  [0x794c7630, 'overlay'],
  [0xf15f, 'ecryptfs'],
  [0x73717368, 'squashfs'],
]);

/** The file system of `path` by name (`0x…` for an unknown one), or undefined if statfs fails. */
export async function fileSystemType(path: string): Promise<string | undefined> {
  try {
    const { type } = await statfs(path);
    // statfs reports the magic as a signed number on some platforms.
    const magic = type >>> 0;
    return FS_TYPES.get(magic) ?? `0x${magic.toString(16)}`;
  } catch {
    return undefined;
  }
}

/**
 * Checks a target the way a backup would use it: open it (the folder or bucket must exist: a
 * missing mount must not be silently created on the root filesystem), then write and delete a
 * small object. Never throws: every outcome is a result the user reads.
 */
export async function probeTarget(
  open: () => Promise<StorageBackend>,
  onUnexpected: (err: unknown) => void,
): Promise<ProbeResult> {
  let backend: StorageBackend;
  try {
    backend = await open();
  } catch (err) {
    if (!(err instanceof StorageError)) onUnexpected(err);
    return { reachable: false, writable: false, freeBytes: null, error: describe(err) };
  }
  try {
    const freeBytes = await backend.freeSpace().catch(() => null);
    const name = `vaultline-probe-${randomBytes(8).toString('hex')}`;
    try {
      await backend.put(name, Buffer.from('vaultline target probe\n'));
      await backend.delete(name);
    } catch (err) {
      if (!(err instanceof StorageError)) onUnexpected(err);
      return { reachable: true, writable: false, freeBytes, error: describe(err) };
    }
    return { reachable: true, writable: true, freeBytes };
  } finally {
    await backend.close().catch(onUnexpected);
  }
}
