/**
 * Throwaway PostgreSQL databases for tests: one uniquely named database per test (or suite),
 * dropped afterwards. Only a server at 127.0.0.1:5432 that the `postgres` role can log in to is
 * assumed (trust auth on the CI machines); VAULTLINE_TEST_POSTGRES_URL points elsewhere.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import { withDatabase } from '@vaultline/db';

export const ROOT = path.resolve(__dirname, '../../..');
export const MIGRATIONS_DIR = path.join(ROOT, 'prisma', 'migrations');
export const SCHEMA_PATH = path.join(ROOT, 'prisma', 'schema.prisma');

const SERVER_URL =
  process.env['VAULTLINE_TEST_POSTGRES_URL'] || 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: withDatabase(SERVER_URL, 'postgres') });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${new URL(SERVER_URL).host} (${String(err)}); start it with ` +
        'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A URL for a database that does not exist yet (for code that creates its own). */
export function uniqueDatabaseUrl(label: string): { name: string; url: string } {
  const name = `vl_test_${label}_${process.pid}_${randomBytes(4).toString('hex')}`.toLowerCase();
  return { name, url: withDatabase(SERVER_URL, name) };
}

export async function dropDatabase(name: string): Promise<void> {
  await admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/** A new empty database; `drop()` removes it even if connections are still open. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const { name, url } = uniqueDatabaseUrl(label);
  await admin((client) => client.query(`CREATE DATABASE "${name}"`));
  return { name, url, drop: () => dropDatabase(name) };
}

/** Runs `fn` with a connected client on `url`. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
