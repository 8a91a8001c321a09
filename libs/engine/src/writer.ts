/**
 * A writer session: collects sealed blobs (file content sealed by worker threads, trees and
 * repacked blobs sealed here) into packs, uploads packs, and writes index files as it goes, so
 * that a killed backup's uploads are indexed and reused next time. The session key comes from an
 * ephemeral X25519 key whose private half is dropped at once; the key itself lives only in this
 * process's memory (main thread and its workers) for the session.
 */
import { BlobType } from './blob';
import { SEAL_OVERHEAD_MAX, sealBlobInto } from './codec';
import type { BlobIndex } from './blob-index';
import { contentHash, generateX25519, keyedHash, sessionKeyFromEphemeral } from './crypto';
import {
  MAX_MANIFEST_CHAIN,
  manifestDelta,
  sameManifests,
  encodeManifest,
  type LoadedManifest,
  type Manifest,
} from './manifest';
import { contentName, sealCompressed, sealJson } from './meta';
import { PackBuilder, packName } from './pack';
import type { IndexFileBody, Repository } from './repository';
import type { Spool } from '@vaultline/storage';
import { SNAPSHOT_VERSION, type SnapshotBody, type SnapshotHeader, type SnapshotInfo } from './snapshot';
import type { ChunkerParams } from './chunker';
import { ArenaRecycler, BufferPool, Budget } from './util';
import { ARENA_SIZES } from './workers/protocol';
import { buildKnownSet, type KnownSet } from './known-set';
import type { WorkerPool } from './workers/pool';
import type { SessionConfig } from './workers/protocol';

/** Packs per incremental index file: bounds what a killed backup leaves unindexed. */
const PACKS_PER_INDEX = 4;
/** Plaintext bytes handed to workers but not yet packed: bounds memory. */
const IN_FLIGHT_BYTES = 16 * 1024 * 1024;
const CONCURRENT_UPLOADS = 2;
/** Finished packs waiting for an upload slot; beyond this, reading pauses (backpressure). */
const MAX_QUEUED_PACKS = 0;
/** A pack's bytes go to its spool in writes of about this size, freeing their arenas. */
const SPOOL_WRITE_BYTES = 1024 * 1024;
/** Bytes handed to spools but not yet written; beyond this, reading pauses. */
const SPOOL_PENDING_MAX = 8 * 1024 * 1024;

/** A pack being built, with the spool its bytes go to as they arrive. */
interface OpenPack {
  builder: PackBuilder;
  /** Null when the pack is held in memory (dry run, a backend without spools). */
  spool: Promise<Spool> | null;
  /** Its writes so far, one after another. */
  written: Promise<void>;
}

export interface WriterStats {
  blobsAdded: number;
  bytesAdded: number;
  packs: number;
}

export class WriterSession {
  readonly eph: string;
  private readonly sessionKey: Buffer;
  private readonly fresh = new Set<string>();
  private readonly packers: Record<BlobType, OpenPack | null> = {
    [BlobType.Data]: null,
    [BlobType.Tree]: null,
  };
  private readonly inFlight = new Budget(IN_FLIGHT_BYTES);
  private readonly buffers = new BufferPool(IN_FLIGHT_BYTES);
  /**
   * Sealing arenas of the worker threads, back to them once their packs are stored. Two step
   * arenas' worth: with the rest freed at once (not left to the GC) this bounds the pipeline's
   * memory, and a larger pool bought no speed on `scale` (it only raised the peak RSS).
   */
  readonly arenas = new ArenaRecycler(ARENA_SIZES, 20 * 1024 * 1024);
  private readonly uploads = new Budget(CONCURRENT_UPLOADS);
  private readonly pending = new Set<Promise<void>>();
  private unindexed: IndexFileBody['packs'] = [];
  private knownSet: KnownSet | undefined;
  /** Packs finished but not yet stored; `packDone` wakes writers waiting on backpressure. */
  private queuedPacks = 0;
  /** Bytes handed to spools, not yet written. */
  private spooling = 0;
  private packDone: (() => void)[] = [];
  private failure: Error | null = null;
  readonly indexFiles: string[] = [];
  readonly stats: WriterStats = { blobsAdded: 0, bytesAdded: 0, packs: 0 };

  /** Store nothing (`backup --dry-run`): packs are built and measured, never written. */
  private readonly dryRun: boolean;

  constructor(
    private readonly repo: Repository,
    private readonly index: BlobIndex,
    private readonly pool: WorkerPool,
    options: { dryRun?: boolean } = {},
  ) {
    this.dryRun = options.dryRun === true;
    const ephemeral = generateX25519();
    this.sessionKey = sessionKeyFromEphemeral(ephemeral, repo.keys.publicKey);
    this.eph = ephemeral.publicKey.toString('base64');
    ephemeral.privateKey.fill(0);
  }

  /** Seals a small object (snapshot body) with this session's key. */
  get key(): Buffer {
    return this.sessionKey;
  }

  get chunkerParams(): ChunkerParams {
    return this.repo.config.chunker;
  }

  get chunkerSeed(): Buffer {
    return this.repo.keys.chunkerSeed;
  }

  id(data: Uint8Array): Buffer {
    return keyedHash(this.repo.keys.idKey, data);
  }

  known(id: Buffer): boolean {
    return this.index.has(id) || this.fresh.has(id.toString('hex'));
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  /** What worker threads need to chunk, identify and seal file content for this session. */
  workerConfig(): SessionConfig {
    this.knownSet ??= buildKnownSet(this.index);
    return {
      idKey: this.repo.keys.idKey,
      chunkerSeed: this.repo.keys.chunkerSeed,
      chunker: this.repo.config.chunker,
      key: this.sessionKey,
      level: this.repo.config.compressionLevel,
      known: this.knownSet.table,
      knownMask: this.knownSet.mask,
    };
  }

  /** Resolves when the pipeline has room for more data (backpressure on pack uploads). */
  async ready(): Promise<void> {
    this.check();
    while (this.queuedPacks > MAX_QUEUED_PACKS + CONCURRENT_UPLOADS || this.spooling > SPOOL_PENDING_MAX) {
      await new Promise<void>((resolve) => this.packDone.push(resolve));
      this.check();
    }
  }

  /**
   * Takes a blob a worker already sealed with this session's key. Dropped if another file of this
   * session stored the same content meanwhile (workers only know what was indexed at the start).
   */
  addSealed(id: Buffer, parts: readonly Uint8Array[], rawLength: number): void {
    this.check();
    const hex = id.toString('hex');
    if (this.index.has(id) || this.fresh.has(hex)) return;
    this.fresh.add(hex);
    this.pack(BlobType.Data, id, parts, rawLength);
  }

  /** A buffer for the next chunk's bytes; `addData` takes it over (and recycles it). */
  borrow(n: number): Uint8Array {
    return this.buffers.borrow(n);
  }

  /**
   * Stores a data blob unless known. `data` must come from `borrow` (its memory is transferred to
   * a worker thread and recycled). Resolves once the blob is accepted, not once uploaded.
   */
  async addData(id: Buffer, data: Uint8Array): Promise<void> {
    this.check();
    const hex = id.toString('hex');
    if (this.index.has(id) || this.fresh.has(hex)) {
      this.buffers.release(data);
      return;
    }
    this.fresh.add(hex);
    const size = data.length;
    await this.ready();
    await this.inFlight.take(size);
    const job = this.pool
      .run({
        op: 'seal',
        key: this.sessionKey,
        type: BlobType.Data,
        id,
        data,
        level: this.repo.config.compressionLevel,
      })
      .then(({ parts, input }) => {
        this.buffers.release(input);
        this.pack(BlobType.Data, id, parts, size);
      })
      .catch((err: unknown) => {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => this.inFlight.give(size));
    this.track(job);
  }

  /** Stores a tree blob (small; sealed on this thread). Returns its id. */
  addTree(data: Buffer): Buffer {
    this.check();
    const id = this.id(data);
    const hex = id.toString('hex');
    if (!this.index.has(id) && !this.fresh.has(hex)) {
      this.fresh.add(hex);
      const out = Buffer.allocUnsafeSlow(data.length + SEAL_OVERHEAD_MAX);
      const n = sealBlobInto(
        this.sessionKey,
        BlobType.Tree,
        id,
        data,
        this.repo.config.compressionLevel,
        out,
        0,
      );
      this.pack(BlobType.Tree, id, [out.subarray(0, n)], data.length);
    }
    return id;
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private fail(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error(String(err));
  }

  private wake(): void {
    for (const wake of this.packDone.splice(0)) wake();
  }

  private openPack(): OpenPack {
    const spool = !this.dryRun && this.repo.backend.spool ? this.repo.backend.spool('data') : null;
    // Its failure surfaces in the pack's first write or commit.
    spool?.catch(() => undefined);
    return { builder: new PackBuilder(Buffer.from(this.eph, 'base64')), spool, written: Promise.resolve() };
  }

  private pack(type: BlobType, id: Buffer, sealed: readonly Uint8Array[], rawLength: number): void {
    const p = (this.packers[type] ??= this.openPack());
    const b = p.builder;
    // The pack holds each buffer once, however many of its blobs live there.
    const fresh = new Set(sealed.map((p) => p.buffer).filter((buf) => !b.buffers.has(buf)));
    b.add(type, id, sealed, rawLength);
    for (const buf of fresh) this.arenas.hold(buf);
    this.stats.blobsAdded++;
    if (b.size >= this.repo.config.packSize) this.flushPack(type);
    else if (p.spool && b.pending >= Math.min(SPOOL_WRITE_BYTES, this.repo.config.packSize / 4))
      this.spoolWrite(p, b.drain());
  }

  /** Queues bytes of a pack for its spool; their buffers go back to the recycler once written. */
  private spoolWrite(
    p: OpenPack,
    { parts, buffers }: { parts: Uint8Array[]; buffers: Set<ArrayBufferLike> },
  ): void {
    const spool = p.spool!;
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    this.spooling += bytes;
    p.written = p.written
      .then(async () => (await spool).write(parts))
      .finally(() => {
        for (const buf of buffers) this.arenas.release(buf);
        this.spooling -= bytes;
        this.wake();
      });
    p.written.catch((err: unknown) => this.fail(err));
  }

  private flushPack(type: BlobType): void {
    const p = this.packers[type];
    this.packers[type] = null;
    if (!p) return;
    const b = p.builder;
    this.queuedPacks++;
    const upload = (async () => {
      await this.uploads.take(1);
      try {
        const { id, parts, size } = b.finish(this.sessionKey);
        if (p.spool) {
          this.spoolWrite(p, { parts, buffers: b.buffers });
          await p.written;
          await (await p.spool).commit(packName(id));
        } else {
          if (!this.dryRun) await this.repo.backend.put(packName(id), parts);
          for (const buf of b.buffers) this.arenas.release(buf);
        }
        this.stats.packs++;
        this.stats.bytesAdded += size;
        this.unindexed.push({
          id,
          eph: this.eph,
          blobs: b.entries.map((e) => [e.type, e.id.toString('hex'), e.offset, e.length, e.rawLength]),
        });
      } catch (err) {
        await discardSpool(p);
        throw err;
      } finally {
        this.uploads.give(1);
        this.queuedPacks--;
        this.wake();
      }
      if (this.unindexed.length >= PACKS_PER_INDEX) await this.writeIndex();
    })().catch((err: unknown) => this.fail(err));
    this.track(upload);
  }

  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0 || this.dryRun) return;
    const packs = this.unindexed;
    this.unindexed = [];
    const body: IndexFileBody = { packs };
    const id = await this.repo.writeIndexFile(body);
    this.indexFiles.push(id);
    for (const p of packs) this.index.addPack(p);
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.check();
  }

  /**
   * After a failure: waits for what is in flight and drops the packs still being built, so their
   * spool files do not outlive the session. Nothing to do after `finish()`.
   */
  async discard(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    const open = [this.packers[BlobType.Data], this.packers[BlobType.Tree]];
    this.packers[BlobType.Data] = this.packers[BlobType.Tree] = null;
    for (const p of open) if (p) await discardSpool(p);
  }

  /** Seals the last packs, waits for every upload and writes the final index. */
  async finish(): Promise<void> {
    await this.drain();
    this.flushPack(BlobType.Data);
    this.flushPack(BlobType.Tree);
    await this.drain();
    await this.writeIndex();
  }

  /**
   * Makes the backup visible: manifest first, snapshot last. Call after `finish()`. Until the
   * snapshot object lands, readers see nothing of this session but unreferenced packs.
   */
  async commitSnapshot(
    manifest: Manifest,
    body: SnapshotBody,
    header: Omit<SnapshotHeader, 'manifest' | 'manifestBases' | 'bodyHash'>,
    /** The parent's manifest, resolved: shared when identical, else the base of a delta. */
    parent?: LoadedManifest & { id: string },
  ): Promise<SnapshotInfo> {
    let m: { id: string; name: string };
    let bases: string[] = [];
    let manifestBytes: Buffer = Buffer.alloc(0);
    if (parent && sameManifests(parent.manifest, manifest)) {
      // Nothing changed at all: share the parent's manifest instead of storing an identical one.
      m = { id: parent.id, name: `manifests/${parent.id}` };
      bases = parent.bases;
    } else {
      let stored: Parameters<typeof encodeManifest>[0] = manifest;
      const delta =
        parent && parent.bases.length < MAX_MANIFEST_CHAIN ? manifestDelta(parent.manifest, manifest) : null;
      if (parent && delta) {
        stored = { base: parent.id, files: manifest.files, ...delta, trees: manifest.trees };
        bases = [parent.id, ...parent.bases];
      }
      manifestBytes = await sealCompressed(this.repo.keys.metaKey, 'manifest', encodeManifest(stored));
      m = contentName('manifests', manifestBytes);
      if (!this.dryRun) await this.repo.backend.put(m.name, manifestBytes);
    }
    const sealedBody = sealJson(this.sessionKey, 'snapshot body', body);
    const full: SnapshotHeader = {
      ...header,
      manifest: m.id,
      ...(bases.length ? { manifestBases: bases } : {}),
      stats: { ...header.stats, bytesAdded: header.stats.bytesAdded + manifestBytes.length },
      bodyHash: contentHash(sealedBody).toString('hex'),
    };
    const file = Buffer.from(
      JSON.stringify({
        v: SNAPSHOT_VERSION,
        header: sealJson(this.repo.keys.metaKey, 'snapshot header', full).toString('base64'),
        eph: this.eph,
        body: sealedBody.toString('base64'),
      }),
    );
    const snap = contentName('snapshots', file);
    const info: SnapshotInfo = { id: snap.id, ...full };
    if (this.dryRun) return info;
    await this.repo.backend.put(snap.name, file);
    this.repo.cacheSnapshotInfo(info, file.length);
    return info;
  }
}

async function discardSpool(p: OpenPack): Promise<void> {
  if (!p.spool) return;
  await p.written.catch(() => undefined);
  const spool = await p.spool.catch(() => null);
  await spool?.discard();
}
