import { isUtf8 } from 'node:buffer';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { Inject, Injectable } from '@nestjs/common';
import { Catalog, type Snapshot, type Target } from '@vaultline/catalog';
import type { SnapshotEntryView, SnapshotTreeView } from '@vaultline/contracts';
import {
  type BlobIndex,
  nodeNameBytes,
  readFileContent,
  readTree,
  type Repository,
  type TreeNode,
} from '@vaultline/engine';
import type { ServerKeys } from '@vaultline/secrets';
import { closeRepository, planRepoLocation } from '@vaultline/targets';
import type { Logger } from 'pino';

import { ApiError, invalidField } from '../common/api-error';
import { LOGGER, SERVER_KEYS } from '../common/tokens';
import { openSnapshotRepository, snapshotRepositoryError } from '../restores/restore-repository';
import type { BrowseSnapshot } from './snapshot.schemas';
import { contentPadding, END_OF_ARCHIVE, entryHeader } from './tar';

const SNAPSHOT_ID_RE = /^[0-9a-f]{64}$/;
const SLASH = 0x2f;

/** An opened snapshot, walked down to the node the request names. */
interface Located {
  repo: Repository;
  index: BlobIndex;
  node: TreeNode;
  /** The node's path inside the snapshot as bytes, segment by segment (empty for the root). */
  segments: Buffer[];
  snapshot: Snapshot & { target: Target };
}

/**
 * Nanoseconds since the epoch (a decimal string) as a Date, to the nearest millisecond: times
 * read through a double (stat's mtimeMs) are a few hundred ns off, and should not show 1 ms early.
 */
const dateOfNs = (ns: string): Date => new Date(Number((BigInt(ns) + 500_000n) / 1_000_000n));

function segmentsOf(input: BrowseSnapshot): Buffer[] {
  const bytes =
    input.pathB64 !== undefined
      ? Buffer.from(input.pathB64, 'base64')
      : Buffer.from(input.path ?? '/', 'utf8');
  const field = input.pathB64 !== undefined ? 'pathB64' : 'path';
  const segments: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== SLASH) continue;
    const segment = bytes.subarray(start, i);
    start = i + 1;
    if (segment.length === 0) continue;
    if (segment.equals(Buffer.from('.')) || segment.equals(Buffer.from('..'))) {
      throw invalidField(field, "must not contain '.' or '..' segments");
    }
    if (segment.includes(0)) throw invalidField(field, 'must not contain NUL');
    segments.push(segment);
  }
  return segments;
}

const joinBytes = (segments: readonly Buffer[]): Buffer =>
  Buffer.concat(segments.flatMap((s) => [Buffer.from('/'), s]));

function pathFields(segments: readonly Buffer[]): { path: string; pathB64?: string } {
  const bytes = segments.length === 0 ? Buffer.from('/') : joinBytes(segments);
  return isUtf8(bytes)
    ? { path: bytes.toString('utf8') }
    : { path: bytes.toString('utf8'), pathB64: bytes.toString('base64') };
}

function entryOf(node: TreeNode): SnapshotEntryView {
  return {
    name: node.name,
    ...(node.nameRaw !== undefined ? { nameB64: node.nameRaw } : {}),
    type: node.type === 'file' || node.type === 'dir' || node.type === 'symlink' ? node.type : 'other',
    size: node.type === 'file' ? (node.size ?? 0) : 0,
    mtime: dateOfNs(node.mtime).toISOString(),
    mode: node.mode,
  };
}

/** `attachment` with an ASCII fallback and the exact name (RFC 6266 / 5987). */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_') || 'download';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * The snapshot browser: a snapshot's folders listed and its files or folders downloaded, straight
 * from the repository with the owner's password (the restore's path, restore-repository.ts).
 * Nothing is written to disk: file content streams from the packs to the response, a folder as a
 * tar made on the fly.
 */
@Injectable()
export class SnapshotsService {
  constructor(
    private readonly catalog: Catalog,
    @Inject(SERVER_KEYS) private readonly keys: ServerKeys,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async tree(id: string, input: BrowseSnapshot): Promise<SnapshotTreeView> {
    const at = await this.locate(id, input);
    try {
      if (at.node.type !== 'dir') throw invalidField(input.pathB64 ? 'pathB64' : 'path', 'is not a folder');
      const subtree = at.node.subtree;
      const tree = subtree ? await this.read(at.snapshot, () => readTree(at.repo, at.index, subtree)) : null;
      return { ...pathFields(at.segments), entries: (tree?.nodes ?? []).map(entryOf) };
    } finally {
      await closeRepository(at.repo);
    }
  }

  /**
   * Streams a file (octet-stream) or a folder (tar) to `res`. Every check is done before the first
   * byte: after it, a failure (a pack gone bad) can only cut the response short, which the client
   * sees as a failed download (the length, or the tar's end, is missing).
   */
  async download(id: string, input: BrowseSnapshot, res: ServerResponse): Promise<void> {
    const at = await this.locate(id, input);
    let body: Readable;
    try {
      const name = at.segments.length
        ? at.segments[at.segments.length - 1]!.toString('utf8')
        : `snapshot-${id.slice(0, 12)}`;
      if (at.node.type === 'file') {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(at.node.size ?? 0),
          'content-disposition': contentDisposition(name),
          'x-content-type-options': 'nosniff',
        });
        body = Readable.from(readFileContent(at.repo, at.index, at.node));
      } else if (at.node.type === 'dir') {
        res.writeHead(200, {
          'content-type': 'application/x-tar',
          'content-disposition': contentDisposition(`${name}.tar`),
          'x-content-type-options': 'nosniff',
        });
        const top = at.segments.length ? at.segments[at.segments.length - 1]! : Buffer.from(name);
        body = Readable.from(this.tar(at, at.node, top));
      } else {
        throw invalidField(input.pathB64 ? 'pathB64' : 'path', 'is not a file or a folder');
      }
    } catch (err) {
      await closeRepository(at.repo);
      throw err;
    }
    try {
      await pipeline(body, res);
    } catch (err) {
      // The status is sent: the cut connection is the client's only sign. The log says why.
      this.logger.warn({ err, snapshotId: id }, 'snapshot download cut short');
    } finally {
      await closeRepository(at.repo);
    }
  }

  /** The tar of `dir` (named `name` in the archive) and everything below it. */
  private async *tar(at: Located, dir: TreeNode, name: Buffer): AsyncGenerator<Buffer> {
    const stack: { node: TreeNode; name: Buffer }[] = [{ node: dir, name }];
    while (stack.length > 0) {
      const { node, name: path } = stack.pop()!;
      const common = {
        name: path,
        mode: node.mode,
        uid: node.uid,
        gid: node.gid,
        mtime: Number(BigInt(node.mtime) / 1_000_000_000n),
      };
      if (node.type === 'dir') {
        yield entryHeader({ ...common, type: 'dir', size: 0 });
        const children = node.subtree ? (await readTree(at.repo, at.index, node.subtree)).nodes : [];
        // Reversed onto the stack, so the archive lists each folder in the snapshot's order.
        for (const child of [...children].reverse()) {
          stack.push({ node: child, name: Buffer.concat([path, Buffer.from('/'), nodeNameBytes(child)]) });
        }
      } else if (node.type === 'file') {
        const size = node.size ?? 0;
        yield entryHeader({ ...common, type: 'file', size });
        yield* readFileContent(at.repo, at.index, node);
        yield contentPadding(size);
      } else if (node.type === 'symlink') {
        const target =
          node.targetRaw !== undefined
            ? Buffer.from(node.targetRaw, 'base64')
            : Buffer.from(node.target ?? '');
        yield entryHeader({ ...common, type: 'symlink', size: 0, linkname: target });
      }
      // FIFOs, sockets and device nodes are left out: a download is data, not a system image.
    }
    yield END_OF_ARCHIVE;
  }

  /** Runs a repository read, answering its failures as the restore does. */
  private async read<T>(snapshot: Located['snapshot'], fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw snapshotRepositoryError(err, snapshot.target, snapshot.id);
    }
  }

  /** The catalogued snapshot, opened with the password, walked down to the path. */
  private async locate(id: string, input: BrowseSnapshot): Promise<Located> {
    const segments = segmentsOf(input);
    const snapshot = SNAPSHOT_ID_RE.test(id)
      ? await this.catalog.snapshots.findOnTarget(id, input.targetId)
      : null;
    if (!snapshot) {
      throw new ApiError('NOT_FOUND', `snapshot ${JSON.stringify(id)} not found on target ${input.targetId}`);
    }
    const target = snapshot.target;
    // A target detached from the plan keeps its repository where the plan put it (as for restores).
    const planTarget = await this.catalog.plans.findRepository(snapshot.planId, target.id);
    const location = planTarget?.repoLocation ?? planRepoLocation(target, snapshot.planId);
    const repo = await openSnapshotRepository(this.keys, target, location, input.password, snapshot.id);
    try {
      const { body } = await this.read(snapshot, () => repo.readSnapshotBody(snapshot.id));
      const { index } = await this.read(snapshot, () => repo.loadIndex());
      let node: TreeNode = { ...body.root, type: 'dir', subtree: body.tree };
      for (let i = 0; i < segments.length; i++) {
        const subtree = node.type === 'dir' ? node.subtree : undefined;
        const children = subtree
          ? (await this.read(snapshot, () => readTree(repo, index, subtree))).nodes
          : [];
        const child = children.find((n) => nodeNameBytes(n).equals(segments[i]!));
        if (!child) {
          const where = pathFields(segments.slice(0, i + 1)).path;
          throw new ApiError('NOT_FOUND', `no ${where} in snapshot ${snapshot.id.slice(0, 12)}`);
        }
        node = child;
      }
      return { repo, index, node, segments, snapshot };
    } catch (err) {
      await closeRepository(repo);
      throw err;
    }
  }
}
