/**
 * The real API in-process for integration tests: a fresh migrated database, the Nest app on an
 * ephemeral port of 127.0.0.1, and a token created straight in the database.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { createApp } from '../../apps/api/src/app';
import { createApiToken } from '../../apps/api/src/auth/api-tokens';
import { createLogger } from '../../apps/api/src/common/logger';
import { type ApiConfig, loadConfig } from '@vaultline/config';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';
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
  /** `fetch` with the token and a JSON body; returns status and parsed JSON (null when empty). */
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; json: unknown }>;
  close(): Promise<void>;
}

export async function startTestApi(label: string, overrides: Record<string, string> = {}): Promise<TestApi> {
  const db: TestDatabase = await createTestDatabase(label);
  await applyMigrations(db.url, MIGRATIONS_DIR);
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    VAULTLINE_SERVER_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: process.env['VAULTLINE_TEST_LOG_LEVEL'] ?? 'silent',
    REDIS_URL,
    // Each test app has its own BullMQ keys, so parallel test files never see each other's jobs.
    QUEUE_PREFIX: `vltest-api-${process.pid}-${randomBytes(4).toString('hex')}`,
    ...overrides,
  };
  const config = loadConfig(env, 'api');
  let app: INestApplication | undefined;
  const prisma = createPrismaClient(db.url, { pool: { max: 2 } });
  try {
    app = await createApp(config, createLogger(config.logLevel), { repoKdf: TEST_KDF });
    await app.listen(0, '127.0.0.1');
    const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
    const baseUrl = `http://127.0.0.1:${port}`;
    const { token } = await createApiToken(prisma, 'test');
    const started = app;
    return {
      baseUrl,
      databaseUrl: db.url,
      token,
      config,
      env,
      prisma,
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
