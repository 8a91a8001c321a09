/**
 * Repository locks: `locks/<random>` objects, refreshed while held and stale when not refreshed.
 *
 * Writers (backup, forget) take shared locks; prune takes an exclusive one. Each side writes its
 * own lock first and then lists the others, so of two racing parties at least one sees the other
 * and backs off — never both proceed. A killed holder's lock goes stale and is ignored (and
 * removed by the next exclusive locker); prune additionally keeps unindexed packs younger than a
 * safety margin, so a slow writer's in-flight uploads are never deleted.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError, type StorageBackend } from '@vaultline/storage';
import { randomId } from './crypto';
import { EngineError, throwIfAborted } from './errors';

export type LockKind = 'shared' | 'exclusive';

export interface LockFile {
  kind: LockKind;
  host: string;
  pid: number;
  created: number;
  refreshed: number;
  operation: string;
}

export interface LockTiming {
  /** How often a held lock is rewritten. */
  refreshMs: number;
  /** A lock not refreshed for this long is stale. */
  staleMs: number;
  /**
   * How long to keep trying while another party's live lock is in the way (restic's
   * `--retry-lock`); 0 or absent: refuse at once with LOCKED.
   */
  retryMs?: number;
}

/** The first wait between tries for a lock, and the longest; each wait is jittered. */
const LOCK_RETRY_FIRST_MS = 250;
const LOCK_RETRY_MAX_MS = 10_000;

export const DEFAULT_LOCK_TIMING: LockTiming = { refreshMs: 60_000, staleMs: 5 * 60_000 };

export class Lock {
  private timer: NodeJS.Timeout | null = null;
  private released = false;

  private constructor(
    private readonly backend: StorageBackend,
    readonly name: string,
    private readonly file: LockFile,
  ) {}

  /**
   * Takes the lock, or throws LOCKED when another party's live lock conflicts with it — after
   * `timing.retryMs` of trying again. Two parties that saw each other both back off (see the top
   * of this file); the jittered waits make one of them win the next round. `signal` ends the
   * waiting (ABORTED).
   */
  static async acquire(
    backend: StorageBackend,
    kind: LockKind,
    operation: string,
    timing = DEFAULT_LOCK_TIMING,
    signal?: AbortSignal,
  ): Promise<Lock> {
    const started = Date.now();
    const deadline = started + Math.max(0, timing.retryMs ?? 0);
    for (let attempt = 0; ; attempt++) {
      const taken = await Lock.tryAcquire(backend, kind, operation, timing);
      if (taken instanceof Lock) return taken;
      const left = deadline - Date.now();
      if (left <= 0) {
        const waited = attempt
          ? `; still locked after ${Math.round((Date.now() - started) / 1000)} s of retrying`
          : '';
        throw new EngineError(
          'LOCKED',
          `repository is locked by ${taken.operation} on ${taken.host} (pid ${taken.pid}) since ${new Date(taken.created).toISOString()}${waited}; try again later`,
        );
      }
      const wait = Math.min(LOCK_RETRY_MAX_MS, LOCK_RETRY_FIRST_MS * 2 ** attempt) * (0.5 + Math.random());
      await sleep(Math.min(left, wait), undefined, signal ? { signal } : {}).catch(() => undefined);
      throwIfAborted(signal, operation);
    }
  }

  /** The lock, or the live lock of another party that conflicts with it (ours is removed then). */
  private static async tryAcquire(
    backend: StorageBackend,
    kind: LockKind,
    operation: string,
    timing: LockTiming,
  ): Promise<Lock | LockFile> {
    const now = Date.now();
    const file: LockFile = {
      kind,
      host: hostname(),
      pid: process.pid,
      created: now,
      refreshed: now,
      operation,
    };
    const name = `locks/${randomId(16)}`;
    await backend.put(name, Buffer.from(JSON.stringify(file)));
    const lock = new Lock(backend, name, file);
    try {
      for await (const o of backend.list('locks/')) {
        if (o.name === name) continue;
        const other = await readLock(backend, o.name);
        if (!other) continue;
        if (Date.now() - other.refreshed > timing.staleMs) {
          if (kind === 'exclusive') await backend.delete(o.name);
          continue;
        }
        if (kind === 'exclusive' || other.kind === 'exclusive') {
          await backend.delete(name);
          return other;
        }
      }
    } catch (err) {
      await backend.delete(name);
      throw err;
    }
    lock.timer = setInterval(() => void lock.refresh(), timing.refreshMs);
    lock.timer.unref();
    return lock;
  }

  private async refresh(): Promise<void> {
    if (this.released) return;
    this.file.refreshed = Date.now();
    try {
      await this.backend.put(this.name, Buffer.from(JSON.stringify(this.file)));
    } catch {
      // A missed refresh is retried on the next tick; staleness allows several misses.
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.backend.delete(this.name);
  }
}

async function readLock(backend: StorageBackend, name: string): Promise<LockFile | null> {
  try {
    return JSON.parse((await backend.get(name)).toString('utf8')) as LockFile;
  } catch (err) {
    // Released between list and get, or half-visible garbage: not a live lock.
    if (err instanceof StorageError || err instanceof SyntaxError) return null;
    throw err;
  }
}

/**
 * Runs `fn` under a lock. Readers (`readOnlyOk`) run unlocked when the storage refuses writes — a
 * read-only backup drive cannot be pruned under them either.
 */
export async function withLock<T>(
  backend: StorageBackend,
  kind: LockKind,
  operation: string,
  fn: () => Promise<T>,
  timing?: LockTiming,
  readOnlyOk = false,
  signal?: AbortSignal,
): Promise<T> {
  let lock: Lock;
  try {
    lock = await Lock.acquire(backend, kind, operation, timing, signal);
  } catch (err) {
    if (
      readOnlyOk &&
      err instanceof StorageError &&
      (err.code === 'READ_ONLY' || err.code === 'PERMISSION_DENIED')
    ) {
      return fn();
    }
    throw err;
  }
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

export interface LockInfo extends LockFile {
  name: string;
  /** Not refreshed within `staleMs`: its holder is gone. */
  stale: boolean;
}

/** Every lock in the repository (unreadable ones are skipped), stale or not. */
export async function listLocks(backend: StorageBackend, timing = DEFAULT_LOCK_TIMING): Promise<LockInfo[]> {
  const out: LockInfo[] = [];
  const now = Date.now();
  for await (const o of backend.list('locks/')) {
    const file = await readLock(backend, o.name);
    if (file) out.push({ ...file, name: o.name, stale: now - file.refreshed > timing.staleMs });
  }
  return out;
}

/**
 * `unlock`: removes stale locks, or every lock with `all` (for when the operator knows no other
 * process runs: removing a live lock lets prune delete data a running backup still needs).
 */
export async function removeLocks(
  backend: StorageBackend,
  opts: { all?: boolean; timing?: LockTiming } = {},
): Promise<{ removed: LockInfo[]; kept: LockInfo[] }> {
  const locks = await listLocks(backend, opts.timing);
  const removed: LockInfo[] = [];
  const kept: LockInfo[] = [];
  for (const l of locks) {
    if (l.stale || opts.all) {
      await backend.delete(l.name);
      removed.push(l);
    } else kept.push(l);
  }
  return { removed, kept };
}
