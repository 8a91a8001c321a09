/**
 * The real API in-process for integration tests: a fresh migrated database, the Nest app on an
 * ephemeral port of 127.0.0.1, and a token created straight in the database.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import { createApp } from '../../apps/api/src/app';
import { createApiToken } from '../../apps/api/src/auth/api-tokens';
import { hashPassword } from '../../apps/api/src/auth/passwords';
import { createLogger } from '../../apps/api/src/common/logger';
import { type ApiConfig, loadConfig } from '@vaultline/config';
import { Catalog } from '@vaultline/catalog';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';
import { type Arch, backup, parseWriterKey, Repository } from '@vaultline/engine';
import { openWithServerKey, parseSealed, recordIds, serverKeys } from '@vaultline/secrets';
import { FsBackend } from '@vaultline/storage';
import { CatalogFactories } from './factories';
import { TEST_KDF } from './fixtures';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from './postgres';
import { REDIS_URL } from './worker-fleet';

export interface TestApi {
  baseUrl: string;
  /** The test database's URL (for processes started by the test). */
  databaseUrl: string;
  token: string;
  /** The API's config: its Redis URL, its own queue prefix and its server secret. */
  config: ApiConfig;
  /** The variables it was loaded from (a worker of the same fleet loads its config from them). */
  env: Record<string, string>;
  /** A client on the same database, to look at what the API stored. */
  prisma: PrismaClient;
  /** The catalog's repositories on that client. */
  catalog: Catalog;
  /** Row factories on that client (`api.factories.newPlan()`), the one way tests make rows. */
  factories: CatalogFactories;
  /** The Nest app itself, to look at its in-memory state (e.g. `app.get(LiveProgress)`). */
  app: INestApplication;
  /** `fetch` with the token and a JSON body; returns status and parsed JSON (null when empty). */
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; json: unknown }>;
  close(): Promise<void>;
}

export interface TestApiOptions {
  /** The URL the API is given for its database, from the test database's (e.g. through a proxy). */
  appDatabaseUrl?: (url: string) => string;
  /** Where the API's log lines go (default stdout); set LOG_LEVEL in the overrides to get any. */
  logDestination?: DestinationStream;
}

export async function startTestApi(
  label: string,
  overrides: Record<string, string> = {},
  options: TestApiOptions = {},
): Promise<TestApi> {
  const db: TestDatabase = await createTestDatabase(label);
  await applyMigrations(db.url, MIGRATIONS_DIR);
  const env: Record<string, string> = {
    DATABASE_URL: options.appDatabaseUrl ? options.appDatabaseUrl(db.url) : db.url,
    VAULTLINE_SERVER_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: process.env['VAULTLINE_TEST_LOG_LEVEL'] ?? 'silent',
    REDIS_URL,
    // Each test app has its own BullMQ keys, so parallel test files never see each other's jobs.
    QUEUE_PREFIX: `vltest-api-${process.pid}-${randomBytes(4).toString('hex')}`,
    // The decoy hash of unknown names at sign-in: cheap, like TEST_KDF.
    VAULTLINE_USER_KDF_MEMORY_KIB: '1024',
    ...overrides,
  };
  const config = loadConfig(env, 'api');
  let app: INestApplication | undefined;
  const prisma = createPrismaClient(db.url, { pool: { max: 2 } });
  try {
    app = await createApp(config, createLogger(config.logLevel, options.logDestination), {
      repoKdf: TEST_KDF,
      // Every response of every API test is checked against its route's schema (libs/contracts).
      checkResponses: true,
    });
    await app.listen(0, '127.0.0.1');
    const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
    const baseUrl = `http://127.0.0.1:${port}`;
    const catalog = new Catalog(prisma);
    const { token } = await createApiToken(catalog, 'test');
    const started = app;
    return {
      baseUrl,
      databaseUrl: db.url,
      token,
      config,
      env,
      prisma,
      catalog,
      factories: new CatalogFactories(prisma),
      app: started,
      async call(method, path, body, withToken = token) {
        const headers: Record<string, string> = {};
        if (withToken !== null) headers['authorization'] = `Bearer ${withToken}`;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const res = await fetch(baseUrl + path, {
          method,
          headers,
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        });
        const text = await res.text();
        return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
      },
      async close() {
        await started.close();
        await prisma.$disconnect();
        await db.drop();
      },
    };
  } catch (err) {
    await app?.close();
    await prisma.$disconnect();
    await db.drop();
    throw err;
  }
}

/**
 * Backs `source` up into the plan's repository on a filesystem target with the plan's sealed
 * writer key (as a worker does) and catalogues the snapshot; its id.
 */
export async function backUpAsWorker(
  api: TestApi,
  ref: { planId: string; targetId: string; serviceId: string },
  source: string,
  arch: Arch = 'x86_64',
): Promise<string> {
  const row = await api.prisma.planTarget.findUniqueOrThrow({
    where: { planId_targetId: { planId: ref.planId, targetId: ref.targetId } },
  });
  const writerKey = parseWriterKey(
    openWithServerKey(
      serverKeys(api.config),
      'writer-key',
      recordIds.writerKey(ref.planId, ref.targetId),
      parseSealed(row.writerKeyEnc),
    ).toString('utf8'),
  );
  const repo = await Repository.open(await FsBackend.open(row.repoLocation), { writerKey });
  try {
    const { snapshot } = await backup(repo, { source, service: ref.serviceId, plan: ref.planId, arch });
    await api.factories.newSnapshot(ref, {
      id: snapshot.id,
      time: new Date(snapshot.time),
      arch: snapshot.arch,
      totalBytes: BigInt(snapshot.stats.totalBytes),
      bytesAdded: BigInt(snapshot.stats.bytesAdded),
      files: snapshot.stats.files,
    });
    return snapshot.id;
  } finally {
    await repo.backend.close();
  }
}

/** A web UI user, stored as create-user stores one but with a test-sized Argon2id cost. */
export async function createTestUser(api: TestApi, name: string, password: string): Promise<void> {
  await api.catalog.users.create(name, await hashPassword(password, TEST_KDF));
}

export interface SignedIn {
  /** The `Cookie` header value to send (`vaultline_session=…`). */
  cookie: string;
  csrfToken: string;
  /** The raw Set-Cookie header of the sign-in. */
  setCookie: string;
}

/** POST /v1/session as a browser would; throws unless it answered 201 with a cookie. */
export async function signIn(api: TestApi, name: string, password: string): Promise<SignedIn> {
  const res = await fetch(`${api.baseUrl}/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password }),
  });
  const body = (await res.json()) as { csrfToken?: string };
  const setCookie = res.headers.get('set-cookie') ?? '';
  if (res.status !== 201 || !body.csrfToken || !setCookie) {
    throw new Error(`sign-in of ${name} answered ${res.status}: ${JSON.stringify(body)}`);
  }
  return { cookie: setCookie.split(';', 1)[0]!, csrfToken: body.csrfToken, setCookie };
}

/** One Server-Sent Event as the client sees it; `comment` for a `: …` line (heartbeats). */
export interface SseFrame {
  type?: string;
  data?: string;
  comment?: string;
}

export interface EventStream {
  status: number;
  /** The next frame, or null once the server has ended the stream. */
  next(): Promise<SseFrame | null>;
  /** Every frame until the server ends the stream. */
  rest(): Promise<SseFrame[]>;
  close(): Promise<void>;
}

/**
 * GET `path` as an SSE client (fetch streaming) with the API's token, or with `credentials`
 * (e.g. a session cookie) instead; frames are parsed as they come.
 */
export async function openEventStream(
  api: TestApi,
  path: string,
  credentials: Record<string, string> = { authorization: `Bearer ${api.token}` },
): Promise<EventStream> {
  const res = await fetch(api.baseUrl + path, {
    headers: { ...credentials, accept: 'text/event-stream' },
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const frames: SseFrame[] = [];
  const parse = (block: string): SseFrame => {
    const frame: SseFrame = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) frame.comment = line.slice(1).trim();
      else if (line.startsWith('event: ')) frame.type = line.slice('event: '.length);
      else if (line.startsWith('data: '))
        frame.data = frame.data === undefined ? line.slice(6) : `${frame.data}\n${line.slice(6)}`;
    }
    return frame;
  };
  const next = async (): Promise<SseFrame | null> => {
    for (;;) {
      const ready = frames.shift();
      if (ready) return ready;
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        frames.push(parse(buffer.slice(0, end)));
        buffer = buffer.slice(end + 2);
        continue;
      }
      const { done, value } = await reader.read();
      if (done) return null;
      buffer += value;
    }
  };
  return {
    status: res.status,
    next,
    async rest() {
      const out: SseFrame[] = [];
      for (let f = await next(); f; f = await next()) out.push(f);
      return out;
    },
    async close() {
      await reader.cancel().catch(() => undefined);
    },
  };
}
