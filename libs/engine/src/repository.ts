/**
 * A repository on one storage backend: config, keys, index, snapshots, manifests and locks.
 * Everything here is I/O and format; backup/restore/check/prune build on it.
 */
import { createHmac } from 'node:crypto';
import { StorageError, type StorageBackend } from '@vaultline/storage';
import { BlobIndex, type IndexedPack } from './blob-index';
import { DEFAULT_CHUNKER, validateChunkerParams, type ChunkerParams } from './chunker';
import { constantTimeEqual, contentHash, randomId, sessionKeyFromRepoPrivate } from './crypto';
import { EngineError, corrupt } from './errors';
import {
  assertPassword,
  generateMasterKeys,
  unwrapMasterKeys,
  wrapMasterKeys,
  type KdfParams,
  type KeyFile,
  type MasterKeys,
  type WriterKeys,
} from './keys';
import { contentName, openCompressed, openJson, sealCompressed, verifyContentName } from './meta';
import {
  decodeIndex,
  encodeIndex,
  indexColumns,
  indexColumnsBytes,
  indexPacks,
  type IndexColumns,
} from './index-file';
import {
  SNAPSHOT_VERSIONS,
  type SnapshotBody,
  type SnapshotFile,
  type SnapshotHeader,
  type SnapshotInfo,
} from './snapshot';
import { metaCache } from './meta-cache';
import { mapLimit } from './util';

export const REPO_VERSION = 1;
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;

export interface RepoConfig {
  version: number;
  id: string;
  created: string;
  chunker: ChunkerParams;
  packSize: number;
  compressionLevel: number;
}

interface ConfigFile {
  config: RepoConfig;
  mac: string;
}

export interface InitOptions {
  password: string;
  chunker?: ChunkerParams;
  packSize?: number;
  compressionLevel?: number;
  kdf?: Partial<Omit<KdfParams, 'salt' | 'algorithm'>>;
}

export type Credentials = { password: string } | { writerKey: WriterKeys };

export interface KeyInfo {
  id: string;
  created: string;
  host: string;
  current: boolean;
}

export interface IndexFileBody {
  packs: IndexedPack[];
}

function configMac(metaKey: Buffer, config: RepoConfig): string {
  return createHmac('sha256', metaKey).update(JSON.stringify(config)).digest('base64');
}

async function readJsonObject<T>(backend: StorageBackend, name: string, what: string): Promise<T> {
  const bytes = await backend.get(name);
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw corrupt(`${what} is not valid JSON`, err);
  }
}

async function readConfig(backend: StorageBackend): Promise<ConfigFile> {
  let file: ConfigFile;
  try {
    file = await readJsonObject<ConfigFile>(backend, 'config', 'config');
  } catch (err) {
    if (err instanceof StorageError && err.code === 'NOT_FOUND') {
      throw new EngineError(
        'NO_REPOSITORY',
        `no Vaultline repository at ${backend.location} (run init first)`,
      );
    }
    throw err;
  }
  if (!file?.config || typeof file.config.id !== 'string') {
    throw new EngineError(
      'FOREIGN_REPOSITORY',
      `${backend.location} holds something that is not a Vaultline repository`,
    );
  }
  if (file.config.version !== REPO_VERSION) {
    throw new EngineError(
      'UNSUPPORTED_VERSION',
      `repository format version ${file.config.version} is not supported`,
    );
  }
  return file;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export class Repository {
  private readonly readKeys = new Map<string, Buffer>();

  private constructor(
    readonly backend: StorageBackend,
    readonly config: RepoConfig,
    readonly keys: WriterKeys,
    private readonly privateKey: Buffer | null,
    readonly keyId: string | null,
  ) {}

  get location(): string {
    return this.backend.location;
  }

  get canRead(): boolean {
    return this.privateKey !== null;
  }

  static async init(backend: StorageBackend, opts: InitOptions): Promise<Repository> {
    assertPassword(opts.password);
    if (await backend.stat('config')) {
      throw new EngineError('ALREADY_INITIALIZED', `a repository already exists at ${backend.location}`);
    }
    const chunker = opts.chunker ?? DEFAULT_CHUNKER;
    validateChunkerParams(chunker);
    const packSize = opts.packSize ?? DEFAULT_PACK_SIZE;
    if (!Number.isInteger(packSize) || packSize < 64 * 1024 || packSize > 512 * 1024 * 1024) {
      throw new EngineError('INVALID_ARGUMENT', 'pack size must be between 64 KiB and 512 MiB');
    }
    const level = opts.compressionLevel ?? 3;
    if (!Number.isInteger(level) || level < 0 || level > 19) {
      throw new EngineError('INVALID_ARGUMENT', 'compression level must be 0 (off) to 19');
    }
    const config: RepoConfig = {
      version: REPO_VERSION,
      id: randomId(16),
      created: new Date().toISOString(),
      chunker,
      packSize,
      compressionLevel: level,
    };
    const keys = generateMasterKeys(config.id);
    const keyFile = await wrapMasterKeys(keys, opts.password, opts.kdf);
    const keyId = randomId(16);
    // Key first, config last: a repository is visible only once it can be opened.
    await backend.put(`keys/${keyId}`, Buffer.from(JSON.stringify(keyFile)));
    await backend.put(
      'config',
      Buffer.from(JSON.stringify({ config, mac: configMac(keys.metaKey, config) })),
    );
    return new Repository(backend, config, keys, keys.privateKey, keyId);
  }

  static async open(backend: StorageBackend, creds: Credentials): Promise<Repository> {
    const file = await readConfig(backend);
    let keys: WriterKeys;
    let privateKey: Buffer | null = null;
    let keyId: string | null = null;
    if ('password' in creds) {
      const found = await Repository.unlock(backend, file.config.id, creds.password);
      keys = found.keys;
      privateKey = found.keys.privateKey;
      keyId = found.keyId;
    } else {
      keys = creds.writerKey;
      if (keys.repoId !== file.config.id) {
        throw new EngineError(
          'FOREIGN_REPOSITORY',
          `the writer key belongs to another repository (${keys.repoId})`,
        );
      }
    }
    if (
      !constantTimeEqual(
        Buffer.from(configMac(keys.metaKey, file.config), 'base64'),
        Buffer.from(file.mac, 'base64'),
      )
    ) {
      throw corrupt('config failed authentication');
    }
    validateChunkerParams(file.config.chunker);
    return new Repository(backend, file.config, keys, privateKey, keyId);
  }

  private static async unlock(
    backend: StorageBackend,
    repoId: string,
    password: string,
  ): Promise<{ keys: MasterKeys; keyId: string }> {
    const names: string[] = [];
    for await (const o of backend.list('keys/')) names.push(o.name);
    if (names.length === 0) throw corrupt('repository has no key files');
    for (const name of names.sort()) {
      const file = await readJsonObject<KeyFile>(backend, name, name);
      if (file.repo !== repoId) continue;
      const keys = await unwrapMasterKeys(file, password);
      if (keys) return { keys, keyId: name.slice('keys/'.length) };
    }
    throw new EngineError('WRONG_PASSWORD', 'wrong password: no key in this repository opens with it');
  }

  requirePrivateKey(operation: string): Buffer {
    if (!this.privateKey) {
      throw new EngineError(
        'NEEDS_PASSWORD',
        `${operation} needs the repository password; the writer key cannot decrypt`,
      );
    }
    return this.privateKey;
  }

  /** Session key of a pack or snapshot body, from its ephemeral public key (needs the password). */
  readKey(eph: string, operation = 'reading data'): Buffer {
    let key = this.readKeys.get(eph);
    if (!key) {
      key = sessionKeyFromRepoPrivate(
        Buffer.from(eph, 'base64'),
        this.requirePrivateKey(operation),
        this.keys.publicKey,
      );
      this.readKeys.set(eph, key);
    }
    return key;
  }

  // ── keys ────────────────────────────────────────────────────────────────────────────────────

  async listKeys(): Promise<KeyInfo[]> {
    const out: KeyInfo[] = [];
    for await (const o of this.backend.list('keys/')) {
      const f = await readJsonObject<KeyFile>(this.backend, o.name, o.name);
      const id = o.name.slice('keys/'.length);
      out.push({ id, created: f.created, host: f.host, current: id === this.keyId });
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  async addKey(password: string, kdf?: Partial<Omit<KdfParams, 'salt' | 'algorithm'>>): Promise<string> {
    const privateKey = this.requirePrivateKey('adding a key');
    const file = await wrapMasterKeys({ ...this.keys, privateKey }, password, kdf);
    const id = randomId(16);
    await this.backend.put(`keys/${id}`, Buffer.from(JSON.stringify(file)));
    return id;
  }

  async removeKey(id: string): Promise<void> {
    this.requirePrivateKey('removing a key');
    const keys = await this.listKeys();
    if (!keys.some((k) => k.id === id)) throw new EngineError('NOT_FOUND', `no key ${id}`);
    if (keys.length === 1)
      throw new EngineError(
        'LAST_KEY',
        'refusing to remove the last key: the repository would be unreadable',
      );
    await this.backend.delete(`keys/${id}`);
  }

  /** Adds a key for the new password, then removes the one used to open: no data is re-encrypted. */
  async changePassword(
    newPassword: string,
    kdf?: Partial<Omit<KdfParams, 'salt' | 'algorithm'>>,
  ): Promise<string> {
    assertPassword(newPassword);
    const id = await this.addKey(newPassword, kdf);
    if (this.keyId) await this.backend.delete(`keys/${this.keyId}`);
    return id;
  }

  // ── index ───────────────────────────────────────────────────────────────────────────────────

  async listNames(prefix: string): Promise<string[]> {
    const names: string[] = [];
    for await (const name of this.backend.listNames(prefix)) names.push(name);
    return names;
  }

  /**
   * An index file, decoded: from the metadata cache when this process has read or written it,
   * unless `fresh` (check reads the bytes to verify them).
   */
  async readIndex(name: string, opts: { fresh?: boolean } = {}): Promise<IndexColumns> {
    const key = `${this.config.id}/${name}`;
    const cached = opts.fresh ? undefined : metaCache.get<IndexColumns>(key);
    if (cached) return cached;
    const bytes = await this.backend.get(name);
    verifyContentName(name.slice('index/'.length), bytes, name);
    const cols = decodeIndex(openCompressed(this.keys.metaKey, 'index', bytes, name), name);
    metaCache.set(key, cols, indexColumnsBytes(cols));
    return cols;
  }

  /** An index file's packs, one array per blob (check and prune walk them pack by pack). */
  async readIndexFile(name: string, opts: { fresh?: boolean } = {}): Promise<IndexFileBody> {
    return { packs: indexPacks(await this.readIndex(name, opts)) };
  }

  /** Loads and merges every index file (in parallel; entries go straight into the compact index). */
  async loadIndex(): Promise<{ index: BlobIndex; files: string[] }> {
    const index = new BlobIndex();
    const files = await this.listNames('index/');
    // Fetched in parallel, merged in listing order: which copy of a duplicated blob wins must not
    // depend on which download finished first.
    const decoded = await mapLimit(files, 8, (name) => this.readIndex(name));
    for (const cols of decoded) index.addColumns(cols);
    return { index, files };
  }

  /** Writes an index file (format 2) of `body`'s packs; returns its id. */
  async writeIndexFile(body: IndexFileBody): Promise<string> {
    const cols = indexColumns(body.packs);
    const bytes = await sealCompressed(this.keys.metaKey, 'index', encodeIndex(cols));
    const { id, name } = contentName('index', bytes);
    await this.backend.put(name, bytes);
    metaCache.set(`${this.config.id}/${name}`, cols, indexColumnsBytes(cols));
    return id;
  }

  // ── snapshots ───────────────────────────────────────────────────────────────────────────────

  async readSnapshotFile(id: string): Promise<SnapshotFile> {
    const name = `snapshots/${id}`;
    let bytes: Buffer;
    try {
      bytes = await this.backend.get(name);
    } catch (err) {
      if (err instanceof StorageError && err.code === 'NOT_FOUND')
        throw new EngineError('NOT_FOUND', `no snapshot ${id}`);
      throw err;
    }
    verifyContentName(id, bytes, name);
    let file: SnapshotFile;
    try {
      file = JSON.parse(bytes.toString('utf8')) as SnapshotFile;
    } catch (err) {
      throw corrupt(`${name} is not valid`, err);
    }
    if (!SNAPSHOT_VERSIONS.includes(file?.v)) {
      throw new EngineError(
        'UNSUPPORTED_VERSION',
        `snapshot ${id.slice(0, 8)} has format version ${String(file?.v)}, which this version of Vaultline cannot read`,
      );
    }
    return file;
  }

  /** A snapshot's header: from the metadata cache when this process has read it, unless `fresh`. */
  async readSnapshotInfo(id: string, opts: { fresh?: boolean } = {}): Promise<SnapshotInfo> {
    const key = `${this.config.id}/snapshots/${id}`;
    const cached = opts.fresh ? undefined : metaCache.get<SnapshotInfo>(key);
    // Shared, not copied (a repository of N snapshots is listed on every backup): deep-frozen, so
    // a caller that tried to change one would throw instead of corrupting the cache.
    if (cached) return cached;
    const file = await this.readSnapshotFile(id);
    const header = openJson<SnapshotHeader>(
      this.keys.metaKey,
      'snapshot header',
      Buffer.from(file.header, 'base64'),
      `snapshot ${id} header`,
    );
    const info: SnapshotInfo = { id, ...header };
    this.cacheSnapshotInfo(info, file.header.length);
    return info;
  }

  async readSnapshotBody(id: string): Promise<{ info: SnapshotInfo; body: SnapshotBody }> {
    const file = await this.readSnapshotFile(id);
    const info = await this.readSnapshotInfo(id);
    const sealedBody = Buffer.from(file.body, 'base64');
    if (contentHash(sealedBody).toString('hex') !== info.bodyHash)
      throw corrupt(`snapshot ${id} body does not match its header`);
    const body = openJson<SnapshotBody>(
      this.readKey(file.eph, 'reading a snapshot'),
      'snapshot body',
      sealedBody,
      `snapshot ${id} body`,
    );
    return { info, body };
  }

  /** Remembers the header of a snapshot this process just wrote (see meta-cache.ts). */
  cacheSnapshotInfo(info: SnapshotInfo, bytes: number): void {
    metaCache.set(`${this.config.id}/snapshots/${info.id}`, deepFreeze(structuredClone(info)), bytes);
  }

  /** Every snapshot's header, newest first. */
  async listSnapshots(): Promise<SnapshotInfo[]> {
    const names = await this.listNames('snapshots/');
    const infos = await mapLimit(names, 8, (n) => this.readSnapshotInfo(n.slice('snapshots/'.length)));
    return infos.sort((a, b) => b.time.localeCompare(a.time) || a.id.localeCompare(b.id));
  }

  /** Resolves `latest`, a full id or a unique prefix (≥ 4 hex characters). */
  async resolveSnapshot(
    ref: string,
    filter: { service?: string; plan?: string } = {},
  ): Promise<SnapshotInfo> {
    const all = (await this.listSnapshots()).filter(
      (s) => (!filter.service || s.service === filter.service) && (!filter.plan || s.plan === filter.plan),
    );
    if (ref === 'latest') {
      const s = all[0];
      if (!s)
        throw new EngineError(
          'NOT_FOUND',
          'the repository has no snapshot yet' + (filter.service ? ` of service ${filter.service}` : ''),
        );
      return s;
    }
    if (!/^[0-9a-f]{4,64}$/.test(ref))
      throw new EngineError('INVALID_ARGUMENT', `not a snapshot id: ${JSON.stringify(ref)}`);
    const matches = all.filter((s) => s.id.startsWith(ref));
    if (matches.length === 0) throw new EngineError('NOT_FOUND', `no snapshot ${ref}`);
    if (matches.length > 1) throw new EngineError('INVALID_ARGUMENT', `snapshot prefix ${ref} is ambiguous`);
    return matches[0]!;
  }
}
