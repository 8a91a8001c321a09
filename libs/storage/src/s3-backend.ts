import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import type * as Minio from 'minio';
import type { Client } from 'minio';

/**
 * minio-js takes ~50 ms to load; filesystem-only runs (most CLI calls, the no-change backup)
 * should not pay for it, so it is loaded on first use.
 */
function minio(): typeof Minio {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberate lazy load, see above
  return require('minio') as typeof Minio;
}

import type { ByteRange, Spool, StorageBackend, StoredObject } from './backend';
import { StorageError, assertValidName, assertValidPrefix, errorCode, assertValidRange } from './errors';
import { writeAll } from './fs-backend';

export interface RetryPolicy {
  /** Total tries per request, including the first. */
  attempts: number;
  /** Delay before the first retry; doubles each time. */
  baseDelayMs: number;
  /** Upper bound for one delay. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5000 };

export interface S3Options {
  /** `http(s)://host[:port]`, without path or credentials. */
  endpoint: string;
  bucket: string;
  /** Key prefix without leading or trailing slash (`some/prefix`); empty or absent for the bucket root. */
  prefix?: string;
  accessKey: string;
  secretKey: string;
  /** Defaults to `us-east-1`. */
  region?: string;
  /**
   * Path-style URLs (`host/bucket/key`), which MinIO and most self-hosted S3 servers need.
   * Defaults to true except for `*.amazonaws.com`, where virtual-hosted style is used.
   */
  pathStyle?: boolean;
  /** Overrides for the retry policy (tests use a tiny one). */
  retry?: Partial<RetryPolicy>;
  /** A request whose socket stays idle this long is aborted and retried. Default 60 s. */
  requestTimeoutMs?: number;
  /** Keys per ListObjectsV2 page (S3 caps it at 1000). Tests lower it to exercise paging. */
  listPageSize?: number;
  /**
   * Makes the agent every connection is opened with (the fleet passes its outbound policy's, which
   * checks each address at connect time); given keep-alive options. Default: a plain agent.
   */
  agent?: (secure: boolean, options: http.AgentOptions) => http.Agent;
}

export interface S3OpenOptions {
  /** Create the bucket when it does not exist. */
  create?: boolean;
}

/**
 * Objects above this size are uploaded by the minio client as multipart uploads of this part
 * size (it switches by itself). 64 MiB keeps the part count low for large packs while a failed
 * part costs little to resend. Interrupted multipart uploads leave parts behind on the server;
 * a bucket lifecycle rule "abort incomplete multipart uploads" cleans them up.
 */
export const S3_PART_SIZE = 64 * 1024 * 1024;

const DEFAULT_TIMEOUT_MS = 60_000;

/** Connection-level failures: the request may not have reached the server, so try again. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** S3 error codes meaning "busy or briefly broken, try later". */
const TRANSIENT_S3_CODES = new Set([
  'SlowDown',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'OperationAborted',
  'XMinioServerNotInitialized',
]);

const ACCESS_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidToken',
  'ExpiredToken',
]);

const FULL_CODES = new Set(['XMinioStorageFull', 'XMinioAdminBucketQuotaExceeded', 'QuotaExceeded']);

type Transience = 'network' | 'server';

/**
 * With its own retries disabled, minio-js still turns a 408/429/5xx response into a plain Error
 * "Request failed after 0 retries: Error: Retryable HTTP status: 503" before parsing the body,
 * so the status is recovered from the message.
 */
function retryableHttpStatus(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const m = /Retryable HTTP status: (\d{3})/.exec(err.message);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function transience(err: unknown): Transience | undefined {
  const code = errorCode(err);
  if (code !== undefined && NETWORK_CODES.has(code)) return 'network';
  if (err instanceof Error && /socket hang up/i.test(err.message)) return 'network';
  if (code !== undefined && TRANSIENT_S3_CODES.has(code)) return 'server';
  const status = retryableHttpStatus(err);
  if (status !== undefined && (status === 408 || status === 429 || status >= 500)) return 'server';
  return undefined;
}

/** Exponential backoff with jitter: half fixed, half random, so clients that failed together spread out. */
export function backoffDelay(retry: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function describe(err: unknown): string {
  const status = retryableHttpStatus(err);
  if (status !== undefined) return `HTTP ${status}`;
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === undefined || message.includes(code)) return message || (code ?? 'unknown error');
  return message ? `${code}: ${message}` : code;
}

/** S3 bucket naming rules (general-purpose buckets; MinIO applies the same). */
export function isValidBucketName(name: string): boolean {
  return (
    name.length >= 3 &&
    name.length <= 63 &&
    /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !name.includes('.-') &&
    !name.includes('-.') &&
    !/^\d{1,3}(\.\d{1,3}){3}$/.test(name) &&
    !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) &&
    !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)
  );
}

function isValidName(name: string): boolean {
  try {
    assertValidName(name);
    return true;
  } catch {
    return false;
  }
}

/** Abort requests whose socket goes quiet, so a half-dead connection fails (and is retried) instead of hanging. */
function timeoutTransport(useSSL: boolean, timeoutMs: number): { request: typeof http.request } {
  const request = (
    options: http.RequestOptions,
    callback?: (res: http.IncomingMessage) => void,
  ): http.ClientRequest => {
    const req = useSSL ? https.request(options, callback) : http.request(options, callback);
    req.setTimeout(timeoutMs, () => {
      const err = Object.assign(new Error(`no data from S3 endpoint for ${timeoutMs} ms`), {
        code: 'ETIMEDOUT',
      });
      req.destroy(err);
    });
    return req;
  };
  return { request: request as typeof http.request };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<unknown>) {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  }
  const body = Buffer.concat(chunks);
  // Belt and braces: a body shorter than announced must never pass for the whole object.
  if (stream instanceof http.IncomingMessage) {
    const announced = Number(stream.headers['content-length']);
    if (Number.isFinite(announced) && announced !== body.length) {
      throw Object.assign(new Error(`response body ended after ${body.length} of ${announced} bytes`), {
        code: 'ERR_STREAM_PREMATURE_CLOSE',
      });
    }
  }
  return body;
}

interface ParsedEndpoint {
  useSSL: boolean;
  host: string;
  port: number;
  /** `http://host:port`, safe to show. */
  display: string;
}

function parseEndpoint(endpoint: string): ParsedEndpoint {
  if (endpoint.includes('@')) {
    // Not echoed: it contains credentials (and '@' has no other business in an endpoint).
    throw new StorageError(
      'INVALID_LOCATION',
      'S3 endpoint must not contain credentials; set VAULTLINE_S3_ACCESS_KEY and VAULTLINE_S3_SECRET_KEY',
    );
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new StorageError('INVALID_LOCATION', `invalid S3 endpoint ${JSON.stringify(endpoint)}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StorageError('INVALID_LOCATION', `S3 endpoint ${endpoint} must start with http:// or https://`);
  }
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) {
    throw new StorageError('INVALID_LOCATION', `S3 endpoint ${endpoint} must not have a path or query`);
  }
  const useSSL = url.protocol === 'https:';
  const port = url.port ? Number(url.port) : useSSL ? 443 : 80;
  // minio-js wants IPv6 literals without the URL brackets.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { useSSL, host, port, display: `${url.protocol}//${url.hostname}:${port}` };
}

/** A repository in an S3 bucket (AWS, MinIO, or anything speaking the S3 API), under an optional key prefix. */
export class S3Backend implements StorageBackend {
  readonly location: string;
  readonly bucket: string;
  /** `some/prefix/`, or empty for the bucket root. */
  private readonly keyPrefix: string;
  private readonly client: Client;
  private readonly agent: http.Agent;
  private readonly endpoint: ParsedEndpoint;
  private readonly retry: RetryPolicy;
  private readonly region: string;
  private readonly listPageSize: number;
  private readonly secretKey: string;
  private closed = false;

  /** Prefer `S3Backend.open`, which also checks that the bucket exists. */
  constructor(opts: S3Options) {
    this.endpoint = parseEndpoint(opts.endpoint);
    if (!isValidBucketName(opts.bucket)) {
      throw new StorageError('INVALID_LOCATION', `invalid S3 bucket name ${JSON.stringify(opts.bucket)}`);
    }
    this.bucket = opts.bucket;
    const prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix !== '' && !isValidName(prefix)) {
      throw new StorageError('INVALID_LOCATION', `invalid S3 key prefix ${JSON.stringify(prefix)}`);
    }
    this.keyPrefix = prefix === '' ? '' : `${prefix}/`;
    this.location = prefix === '' ? `s3://${opts.bucket}` : `s3://${opts.bucket}/${prefix}`;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.retry.attempts = Math.max(1, Math.floor(this.retry.attempts));
    this.region = opts.region || 'us-east-1';
    this.listPageSize = Math.min(1000, Math.max(1, opts.listPageSize ?? 1000));
    this.secretKey = opts.secretKey;
    const { useSSL, host, port } = this.endpoint;
    // Our own agent, so close() can release exactly our sockets and nobody else's.
    this.agent = opts.agent
      ? opts.agent(useSSL, { keepAlive: true })
      : useSSL
        ? new https.Agent({ keepAlive: true })
        : new http.Agent({ keepAlive: true });
    try {
      this.client = new (minio().Client)({
        endPoint: host,
        port,
        useSSL,
        accessKey: opts.accessKey,
        secretKey: opts.secretKey,
        region: this.region,
        pathStyle: opts.pathStyle ?? !/(^|\.)amazonaws\.com$/i.test(host),
        partSize: S3_PART_SIZE,
        transport: timeoutTransport(useSSL, opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS),
        transportAgent: this.agent,
        // Retries happen in attempt() below, for network errors too; two layers would multiply.
        retryOptions: { disableRetry: true },
      });
    } catch (err) {
      this.agent.destroy();
      throw new StorageError('INVALID_LOCATION', this.redact(`invalid S3 configuration: ${describe(err)}`), {
        cause: err,
      });
    }
  }

  static async open(opts: S3Options, { create = false }: S3OpenOptions = {}): Promise<S3Backend> {
    const backend = new S3Backend(opts);
    try {
      const exists = await backend.attempt('checking bucket', undefined, () =>
        backend.client.bucketExists(backend.bucket),
      );
      if (!exists) {
        if (!create) {
          throw new StorageError(
            'NOT_FOUND',
            `bucket ${backend.bucket} does not exist at ${backend.endpoint.display}`,
          );
        }
        await backend.attempt('creating bucket', undefined, async () => {
          try {
            await backend.client.makeBucket(backend.bucket, backend.region);
          } catch (err) {
            // A concurrent creator (or our own earlier, retried attempt) got there first.
            if (errorCode(err) !== 'BucketAlreadyOwnedByYou') throw err;
          }
        });
      }
    } catch (err) {
      await backend.close();
      throw err;
    }
    return backend;
  }

  private keyOf(name: string): string {
    assertValidName(name);
    return this.keyPrefix + name;
  }

  private redact(message: string): string {
    return this.secretKey ? message.split(this.secretKey).join('***') : message;
  }

  /** Run one S3 request, retrying transient failures; every failure leaves as a StorageError. */
  private async attempt<T>(op: string, name: string | undefined, fn: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof StorageError) throw err;
        if (transience(err) === undefined || tries >= this.retry.attempts || this.closed) {
          throw this.mapError(err, op, name, tries);
        }
        await sleep(backoffDelay(tries, this.retry));
      }
    }
  }

  private mapError(err: unknown, op: string, name: string | undefined, tries: number): StorageError {
    const code = errorCode(err);
    const what = name === undefined ? this.location : `${name} in ${this.location}`;
    const detail = describe(err);
    const after = tries > 1 ? ` (after ${tries} attempts)` : '';
    const make = (c: StorageError['code'], message: string): StorageError =>
      new StorageError(c, this.redact(message), { cause: err });
    const kind = transience(err);
    if (code === 'OUTBOUND_DENIED') {
      // Permanent (the policy will not change on a retry); what the name resolved to is logged by
      // the policy, not told to whoever reads this message.
      return make(
        'PERMISSION_DENIED',
        `S3 endpoint ${this.endpoint.display} is refused by the outbound policy`,
      );
    }
    if (kind === 'network') {
      return make('UNREACHABLE', `S3 endpoint ${this.endpoint.display} unreachable: ${detail}${after}`);
    }
    if (kind === 'server') {
      return make('IO', `S3 endpoint ${this.endpoint.display} kept failing ${op} ${what}: ${detail}${after}`);
    }
    if (code === 'NoSuchBucket') {
      return make('NOT_FOUND', `bucket ${this.bucket} does not exist at ${this.endpoint.display}`);
    }
    if (code === 'NoSuchKey' || code === 'NotFound') {
      return make('NOT_FOUND', `object ${what} not found`);
    }
    if (code !== undefined && ACCESS_CODES.has(code)) {
      return make('PERMISSION_DENIED', `access denied ${op} ${what}: ${detail}`);
    }
    if (code !== undefined && FULL_CODES.has(code)) {
      return make('FULL', `target ${this.location} is full: ${detail}`);
    }
    if (code === 'InvalidRange') {
      return make('IO', `truncated object ${what}: requested range is past its end`);
    }
    return make('IO', `S3 error ${op} ${what}: ${detail}`);
  }

  async put(name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const key = this.keyOf(name);
    // A view, not a copy, for one buffer; parts are joined once (the request signature needs the
    // whole body anyway).
    const body =
      data instanceof Uint8Array
        ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
        : Buffer.concat(data);
    // S3 PUTs are atomic by themselves: the object appears whole or not at all.
    await this.attempt('writing', name, () => this.client.putObject(this.bucket, key, body, body.length));
  }

  /**
   * A local temporary file (TMPDIR), unlinked as soon as it is open: the bytes live as long as the
   * handle, so a killed process leaves nothing behind. `commit` reads it back and PUTs it.
   */
  async spool(): Promise<Spool> {
    const tmp = path.join(os.tmpdir(), `vaultline-spool-${randomBytes(8).toString('hex')}`);
    const local = (err: unknown): StorageError =>
      new StorageError('IO', `local spool file ${tmp}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    let open: fsp.FileHandle | undefined;
    let linked = true;
    try {
      open = await fsp.open(tmp, 'wx+', 0o600);
      await fsp.unlink(tmp);
      linked = false;
    } catch (err) {
      // Where an open file cannot be unlinked, it is removed on commit or discard instead.
      if (!open) throw local(err);
    }
    let size = 0;
    const discard = async (): Promise<void> => {
      const closing = open;
      open = undefined;
      await closing?.close().catch(() => undefined);
      if (linked) await fsp.rm(tmp, { force: true }).catch(() => undefined);
    };
    return {
      get size() {
        return size;
      },
      write: async (parts) => {
        if (!open) throw local(new Error('already committed or discarded'));
        try {
          await writeAll(open, parts);
        } catch (err) {
          throw local(err);
        }
        for (const p of parts) size += p.length;
      },
      commit: async (name) => {
        const fh = open;
        if (!fh) throw local(new Error('already committed or discarded'));
        let body: Buffer;
        try {
          body = Buffer.allocUnsafe(size);
          let done = 0;
          while (done < size) {
            const { bytesRead } = await fh.read(body, done, size - done, done);
            if (bytesRead === 0) throw new Error(`ended after ${done} of ${size} bytes`);
            done += bytesRead;
          }
        } catch (err) {
          await discard();
          throw local(err);
        }
        await discard();
        await this.put(name, body);
      },
      discard,
    };
  }

  async get(name: string, range?: ByteRange): Promise<Buffer> {
    const key = this.keyOf(name);
    if (range === undefined) {
      return this.attempt('reading', name, async () =>
        readAll(await this.client.getObject(this.bucket, key)),
      );
    }
    assertValidRange(range);
    if (range.length === 0) {
      // minio-js reads to the end when length is 0, so answer from a HEAD instead.
      const st = await this.stat(name);
      if (st === null) throw new StorageError('NOT_FOUND', `object ${name} in ${this.location} not found`);
      if (range.offset > st.size) throw this.truncated(name, range, 0);
      return Buffer.alloc(0);
    }
    const buf = await this.attempt('reading', name, async () =>
      readAll(await this.client.getPartialObject(this.bucket, key, range.offset, range.length)),
    );
    if (buf.length !== range.length) throw this.truncated(name, range, buf.length);
    if (!range.into) return buf;
    const view = Buffer.from(range.into.buffer, range.into.byteOffset, range.length);
    buf.copy(view);
    return view;
  }

  private truncated(name: string, range: ByteRange, got: number): StorageError {
    return new StorageError(
      'IO',
      `truncated object ${name} in ${this.location}: wanted ${range.length} bytes at offset ${range.offset}, ` +
        `got ${got}`,
    );
  }

  async stat(name: string): Promise<StoredObject | null> {
    const key = this.keyOf(name);
    try {
      const st = await this.attempt('reading', name, () => this.client.statObject(this.bucket, key));
      return { name, size: st.size, mtime: st.lastModified };
    } catch (err) {
      // A HEAD has no body, so a missing object only shows as a bare 404.
      if (
        err instanceof StorageError &&
        err.code === 'NOT_FOUND' &&
        errorCode(err.cause) !== 'NoSuchBucket'
      ) {
        return null;
      }
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    assertValidPrefix(prefix);
    const full = this.keyPrefix + prefix;
    let token = '';
    do {
      // Page by page, so a failure retries one page instead of restarting the whole listing.
      const page = await this.attempt('listing', prefix || '(all)', () =>
        this.client.listObjectsV2Query(this.bucket, full, token, '', this.listPageSize, ''),
      );
      for (const item of page.objects) {
        if (item.name === undefined || !item.name.startsWith(this.keyPrefix)) continue;
        yield { name: item.name.slice(this.keyPrefix.length), size: item.size, mtime: item.lastModified };
      }
      token = page.isTruncated ? page.nextContinuationToken : '';
    } while (token);
  }

  /** The listing already carries the sizes at no cost; names only, for the interface. */
  async *listNames(prefix: string): AsyncIterable<string> {
    for await (const o of this.list(prefix)) yield o.name;
  }

  async delete(name: string): Promise<void> {
    const key = this.keyOf(name);
    try {
      await this.attempt('deleting', name, () => this.client.removeObject(this.bucket, key));
    } catch (err) {
      // S3 answers 204 for absent keys already; some compatible servers say NoSuchKey.
      if (err instanceof StorageError && errorCode(err.cause) === 'NoSuchKey') return;
      throw err;
    }
  }

  freeSpace(): Promise<number | null> {
    // S3 has no notion of free space; quotas surface as FULL errors on put.
    return Promise.resolve(null);
  }

  close(): Promise<void> {
    this.closed = true;
    this.agent.destroy();
    return Promise.resolve();
  }
}
