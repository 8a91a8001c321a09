/**
 * Check: structure always; contents on request.
 * - structure: config and keys open; every index file authenticates; every indexed pack exists and
 *   is long enough; every snapshot header and manifest authenticates; every referenced blob is
 *   indexed; with the password also every snapshot body and every tree (walked from the roots).
 * - read-data (all packs or a percentage): each pack is downloaded and re-hashed against its name;
 *   with the password its header is decrypted and every blob decrypted and verified against its id
 *   and the index. Without the password only the hash is checked, and the result says so.
 */
import { createHash } from 'node:crypto';
import { type BlobType, openBlob } from './blob';
import { BlobIndex } from './blob-index';
import { contentHash } from './crypto';
import { EngineError } from './errors';
import { withLock, type LockTiming } from './locks';
import { loadManifestChain, manifestRefs, type StoredManifest } from './manifest';
import { packName, readPackHeader } from './pack';
import { collectRefs, readTree } from './reader';
import type { Repository } from './repository';
import { mapLimit } from './util';

export interface CheckOptions {
  /** Percentage (0–100] of packs whose contents are read and verified; undefined reads none. */
  readData?: number;
  /** Seed for choosing the subset (so a schedule can walk through all packs over time). */
  seed?: string;
  /**
   * Read the packs of slice `index` of `count` instead of a random share (a pack is in the slice
   * its id's hash falls in): `count` consecutive slices read every pack exactly once, so a
   * scheduled verify covers the whole repository over time. Implies reading data.
   */
  slice?: { index: number; count: number };
  lockTiming?: LockTiming;
}

/** The slice (0 ≤ result < count) a pack belongs to: stable, and spread evenly by the hash. */
export function packSlice(id: string, count: number): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) % count;
}

export interface CheckResult {
  ok: boolean;
  errors: string[];
  warnings: string[];
  snapshots: number;
  packs: number;
  blobs: number;
  trees: number;
  packsRead: number;
  contentsVerified: boolean;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Checks under a shared lock: a concurrent prune would otherwise look like missing data. */
export async function check(repo: Repository, opts: CheckOptions = {}): Promise<CheckResult> {
  if (opts.readData !== undefined && !(opts.readData > 0 && opts.readData <= 100)) {
    throw new EngineError('INVALID_ARGUMENT', '--read-data percentage must be in (0, 100]');
  }
  const sl = opts.slice;
  if (
    sl &&
    !(
      Number.isInteger(sl.count) &&
      sl.count >= 1 &&
      Number.isInteger(sl.index) &&
      sl.index >= 0 &&
      sl.index < sl.count
    )
  ) {
    throw new EngineError('INVALID_ARGUMENT', 'slice must have an integer count ≥ 1 and 0 ≤ index < count');
  }
  return withLock(repo.backend, 'shared', 'check', () => checkLocked(repo, opts), opts.lockTiming, true);
}

async function checkLocked(repo: Repository, opts: CheckOptions): Promise<CheckResult> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const index = new BlobIndex();
  const indexed = new Map<string, { eph: string; blobs: [BlobType, string, number, number, number][] }>();
  for (const name of await repo.listNames('index/')) {
    try {
      for (const p of (await repo.readIndexFile(name, { fresh: true })).packs) {
        indexed.set(p.id, p);
        index.addPack(p);
      }
    } catch (err) {
      errors.push(`${name}: ${describe(err)}`);
    }
  }
  const stored = new Map<string, number>();
  for await (const o of repo.backend.list('data/'))
    stored.set(o.name.slice(o.name.lastIndexOf('/') + 1), o.size);
  for (const [id, p] of indexed) {
    const size = stored.get(id);
    if (size === undefined) {
      errors.push(`pack ${id} is indexed but missing`);
      continue;
    }
    const end = Math.max(0, ...p.blobs.map(([, , off, len]) => off + len));
    if (size < end + 4) errors.push(`pack ${id} is truncated (${size} bytes, blobs end at ${end})`);
  }
  const unindexed = [...stored.keys()].filter((id) => !indexed.has(id));
  if (unindexed.length)
    warnings.push(
      `${unindexed.length} pack(s) in no index (left by an interrupted backup; prune removes them)`,
    );

  const snapshotNames = await repo.listNames('snapshots/');
  const visitedTrees = new Set<string>();
  let snapshots = 0;
  const manifests = new Map<string, StoredManifest>();
  for (const name of snapshotNames) {
    const id = name.slice('snapshots/'.length);
    try {
      const info = await repo.readSnapshotInfo(id, { fresh: true });
      snapshots++;
      const { manifest, bases } = await loadManifestChain(repo, info.manifest, manifests);
      if (bases.join() !== (info.manifestBases ?? []).join())
        errors.push(`snapshot ${id.slice(0, 8)}: its manifest's chain of bases is not the one it records`);
      const listed = new Set(manifestRefs(manifest));
      for (const ref of listed) {
        if (!index.has(Buffer.from(ref, 'hex')))
          errors.push(`snapshot ${id.slice(0, 8)}: blob ${ref} is missing`);
      }
      if (repo.canRead) {
        const { body } = await repo.readSnapshotBody(id);
        const stack = [body.tree];
        while (stack.length) {
          const t = stack.pop()!;
          if (visitedTrees.has(t)) continue;
          visitedTrees.add(t);
          try {
            const tree = await readTree(repo, index, t);
            for (const n of tree.nodes) {
              if (n.type === 'dir') stack.push(n.subtree!);
              else if (n.type === 'file') {
                for (const c of n.content!)
                  if (!index.has(Buffer.from(c, 'hex')))
                    errors.push(`snapshot ${id.slice(0, 8)}: ${n.name}: blob ${c} is missing`);
              }
            }
          } catch (err) {
            errors.push(`snapshot ${id.slice(0, 8)}: tree ${t}: ${describe(err)}`);
          }
        }
        // Prune trusts manifests (they work without the password): a manifest that omits a blob
        // the trees reference would let prune delete live data.
        const reachable = new Set<string>();
        try {
          await collectRefs(repo, index, [body.tree], reachable);
          const omitted = [...reachable].filter((r) => !listed.has(r));
          if (omitted.length > 0) {
            errors.push(
              `snapshot ${id.slice(0, 8)}: its manifest omits ${omitted.length} referenced blob(s), e.g. ${omitted[0]}`,
            );
          }
        } catch {
          // Unreadable trees are reported above.
        }
      }
    } catch (err) {
      errors.push(`snapshot ${id.slice(0, 8)}: ${describe(err)}`);
    }
  }
  if (!repo.canRead)
    warnings.push('opened with the writer key: snapshot bodies and trees were not decrypted');

  let packsRead = 0;
  if (opts.readData !== undefined || opts.slice) {
    const all = [...indexed.keys()].filter((id) => stored.has(id)).sort();
    let chosen = all;
    if (opts.slice) {
      const { index: k, count: n } = opts.slice;
      chosen = all.filter((id) => packSlice(id, n) === k);
    } else if (opts.readData !== undefined && opts.readData < 100) {
      const seed = opts.seed ?? new Date().toISOString();
      const rank = (id: string): string => createHash('sha256').update(seed).update(id).digest('hex');
      chosen = [...all]
        .sort((a, b) => rank(a).localeCompare(rank(b)))
        .slice(0, Math.ceil((all.length * opts.readData) / 100));
    }
    await mapLimit(chosen, 2, async (id) => {
      try {
        const bytes = await repo.backend.get(packName(id));
        packsRead++;
        if (contentHash(bytes).toString('hex') !== id) {
          errors.push(`pack ${id} is corrupted (content does not match its name)`);
          return;
        }
        if (!repo.canRead) return;
        const p = indexed.get(id)!;
        const key = repo.readKey(p.eph, 'check --read-data');
        const entries = readPackHeader(bytes, key, `pack ${id}`);
        const inIndex = new Map(p.blobs.map((b) => [b[1], b]));
        for (const e of entries) {
          const hex = e.id.toString('hex');
          const ix = inIndex.get(hex);
          if (!ix || ix[2] !== e.offset || ix[3] !== e.length || ix[4] !== e.rawLength)
            errors.push(`pack ${id}: blob ${hex} disagrees with the index`);
          openBlob(
            key,
            repo.keys.idKey,
            e.type,
            e.id,
            bytes.subarray(e.offset, e.offset + e.length),
            e.rawLength,
          );
        }
      } catch (err) {
        errors.push(`pack ${id}: ${describe(err)}`);
      }
    });
    if (!repo.canRead)
      warnings.push('opened with the writer key: pack contents were hash-checked, not decrypted');
  }
  return {
    ok: errors.length === 0,
    errors,
    warnings,
    snapshots,
    packs: indexed.size,
    blobs: index.size,
    trees: visitedTrees.size,
    packsRead,
    contentsVerified: (opts.readData !== undefined || opts.slice !== undefined) && repo.canRead,
  };
}
