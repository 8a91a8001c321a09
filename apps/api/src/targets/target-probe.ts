import { randomBytes } from 'node:crypto';
import type { ProbeResult } from '@vaultline/contracts';
import { type StorageBackend, StorageError } from '@vaultline/storage';

export type { ProbeResult };

function describe(err: unknown): { code: string; message: string } {
  // StorageError messages never contain credentials (storage's contract); anything else might
  // (a driver's message quoting a URL), so only its class of failure is reported.
  if (err instanceof StorageError) return { code: err.code, message: err.message };
  return { code: 'IO', message: 'unexpected storage failure (see the API log)' };
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
