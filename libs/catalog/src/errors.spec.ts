import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Prisma } from '@vaultline/db';
import { CatalogError, isDatabaseUnavailable, toCatalogError, translating } from './errors';

const known = (code: string, meta?: Record<string, unknown>) =>
  new Prisma.PrismaClientKnownRequestError('x', { code, clientVersion: '7', meta });

describe('toCatalogError', () => {
  test('a database that is down or unreachable is UNAVAILABLE, whatever wraps it', () => {
    const socket = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), {
      code: 'ECONNREFUSED',
    });
    for (const err of [
      known('P1001'),
      known('P1017'),
      known('P2010', {
        driverAdapterError: { name: 'DriverAdapterError', cause: { kind: 'DatabaseNotReachable' } },
      }),
      known('P2010', {
        driverAdapterError: { name: 'DriverAdapterError', cause: { kind: 'ConnectionClosed' } },
      }),
      known('P2010', { driverAdapterError: { cause: { kind: 'postgres', code: '57P01' } } }),
      new Prisma.PrismaClientInitializationError('x', '7', 'P1001'),
      new Error('wrapped', { cause: socket }),
      new Error('Connection terminated unexpectedly'),
    ]) {
      const translated = toCatalogError(err);
      assert.ok(translated instanceof CatalogError, String(err));
      assert.equal(translated.code, 'UNAVAILABLE');
      assert.equal(translated.cause, err, 'the driver error stays for the log');
      assert.doesNotMatch(translated.message, /10\.0\.0\.5/);
      assert.ok(isDatabaseUnavailable(translated));
    }
  });

  test("Prisma's request codes become the catalog's", () => {
    assert.equal((toCatalogError(known('P2002')) as CatalogError).code, 'CONFLICT');
    assert.equal((toCatalogError(known('P2025')) as CatalogError).code, 'NOT_FOUND');
    assert.equal((toCatalogError(known('P2003')) as CatalogError).code, 'FOREIGN_KEY');
  });

  test('a query that is wrong, or a bug, passes through unchanged (not an outage)', () => {
    const wrong = known('P2010', { driverAdapterError: { cause: { kind: 'postgres', code: '42P01' } } });
    assert.equal(toCatalogError(wrong), wrong);
    assert.equal(isDatabaseUnavailable(wrong), false);
    const bug = new TypeError('x is undefined');
    assert.equal(toCatalogError(bug), bug);
  });

  test('a translating repository rejects with CatalogError, sync or async', async () => {
    const repo = translating({
      async fails(): Promise<void> {
        await Promise.resolve();
        throw known('P2002');
      },
      throws(): number {
        throw known('P1001');
      },
      // What a non-async method returns: Prisma's lazy promise, a thenable but not a Promise.
      lazy(): PromiseLike<never> {
        return { then: (_ok, fail) => Promise.reject(known('P2025')).then(_ok, fail) };
      },
      value: 3,
    });
    await assert.rejects(
      Promise.resolve(repo.lazy()),
      (err) => err instanceof CatalogError && err.code === 'NOT_FOUND',
    );
    await assert.rejects(repo.fails(), (err) => err instanceof CatalogError && err.code === 'CONFLICT');
    assert.throws(
      () => repo.throws(),
      (err) => err instanceof CatalogError && err.code === 'UNAVAILABLE',
    );
    assert.equal(repo.value, 3);
  });
});
