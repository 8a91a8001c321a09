import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import {
  type ArgumentsHost,
  BadRequestException,
  NotFoundException,
  PayloadTooLargeException,
} from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import type { Logger } from 'pino';
import { parseInput } from '@vaultline/contracts';
import { CatalogError } from '@vaultline/catalog';
import { z } from 'zod';
import { ApiError, type ApiErrorCode, notFound } from './api-error';
import { ErrorFilter, mapError, STATUS_OF } from './error.filter';
import { requestContext } from './request-context';

const CID = 'corr-1';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('mapError', () => {
  test('every domain code has its status and keeps its message and fields', () => {
    const expected: Record<Exclude<ApiErrorCode, 'INTERNAL'>, number> = {
      VALIDATION_FAILED: 400,
      UNAUTHORIZED: 401,
      NOT_FOUND: 404,
      CONFLICT: 409,
      WRONG_PASSWORD: 422,
      CROSS_ARCH: 409,
      CSRF: 403,
      RATE_LIMITED: 429,
      UNAVAILABLE: 503,
    };
    for (const [code, status] of Object.entries(expected) as [ApiErrorCode, number][]) {
      const m = mapError(new ApiError(code, `msg ${code}`), CID);
      assert.equal(m.status, status);
      assert.deepEqual(m.body, { error: { code, message: `msg ${code}` } });
      assert.equal(m.unexpected, false);
      assert.equal(STATUS_OF[code], status);
    }
    const conflict = mapError(new ApiError('CONFLICT', 'dup', [{ path: 'name', message: 'taken' }]), CID);
    assert.deepEqual(conflict.body.error.fields, [{ path: 'name', message: 'taken' }]);
    assert.equal(mapError(notFound('service', 'x'), CID).status, 404);
  });

  test('a contracts ContractError (INVALID_INPUT) is a 400 VALIDATION_FAILED with the fields', () => {
    const err = thrown(() => parseInput(z.object({ dataPath: z.string(), n: z.number() }), { n: 'x' }));
    const m = mapError(err, CID);
    assert.equal(m.status, 400);
    assert.equal(m.body.error.code, 'VALIDATION_FAILED');
    assert.deepEqual(
      m.body.error.fields?.map((f) => f.path),
      ['dataPath', 'n'],
    );
    assert.equal(m.body.error.fields?.[0]?.message, 'is required');
  });

  test("Nest's own HTTP exceptions keep their 4xx status with the nearest code", () => {
    assert.deepEqual(mapError(new NotFoundException('Cannot GET /x'), CID), {
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'Cannot GET /x' } },
      unexpected: false,
    });
    assert.equal(mapError(new PayloadTooLargeException(), CID).status, 413);
    assert.equal(mapError(new BadRequestException(), CID).body.error.code, 'VALIDATION_FAILED');
  });

  test('a malformed JSON body (body-parser error) is a 400', () => {
    const err = Object.assign(new SyntaxError('Unexpected end of JSON input at "{\\"password\\":"'), {
      type: 'entity.parse.failed',
      status: 400,
    });
    const m = mapError(err, CID);
    assert.equal(m.status, 400);
    assert.equal(
      m.body.error.message,
      'request body is not valid JSON',
      'the parser message may quote the body',
    );
  });

  test('a database that is down or unreachable is a 503 UNAVAILABLE, whatever wraps it', () => {
    // Prisma's own error classes are recognised in the catalog (libs/catalog errors.spec.ts); what
    // reaches the API is the catalog's UNAVAILABLE, or a driver error that escaped unwrapped.
    const socket = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), {
      code: 'ECONNREFUSED',
    });
    for (const err of [
      new CatalogError('UNAVAILABLE', 'the database is unavailable; retry later', { cause: socket }),
      new Error('wrapped', { cause: new CatalogError('UNAVAILABLE', 'down') }),
      new Error('wrapped', { cause: socket }),
      new Error('Connection terminated unexpectedly'),
    ]) {
      const m = mapError(err, CID);
      assert.equal(m.status, 503, String(err));
      assert.equal(m.body.error.code, 'UNAVAILABLE');
      assert.doesNotMatch(m.body.error.message, /10\.0\.0\.5/);
    }
    // A catalog error a service did not translate is not an outage: the same 500 as before.
    for (const code of ['CONFLICT', 'NOT_FOUND', 'FOREIGN_KEY'] as const) {
      assert.equal(mapError(new CatalogError(code, 'x'), CID).status, 500);
    }
  });

  test('anything else is a 500 INTERNAL with only a correlation id: no message, no stack', () => {
    for (const err of [
      new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'),
      new TypeError('x is undefined'),
      'a string',
      null,
      new ApiError('INTERNAL', 'target 1 has missing settings'),
    ]) {
      const m = mapError(err, CID);
      assert.deepEqual(m, {
        status: 500,
        body: { error: { code: 'INTERNAL', message: 'internal error', correlationId: CID } },
        unexpected: true,
      });
    }
    assert.match(mapError(new Error('x')).body.error.correlationId ?? '', /^[0-9a-f-]{36}$/);
  });

  test("a 500's correlation id is the request's id, the one its log lines carry", () => {
    const req = { headers: { 'x-request-id': 'client-7' } } as unknown as IncomingMessage;
    const res = { setHeader: () => undefined } as unknown as ServerResponse;
    requestContext()(req, res, () => undefined);
    const replies: unknown[] = [];
    const logged: unknown[] = [];
    const filter = new ErrorFilter(
      {
        httpAdapter: { reply: (_res: unknown, body: unknown) => replies.push(body) },
      } as unknown as HttpAdapterHost,
      { error: (obj: unknown) => logged.push(obj), warn: () => undefined } as unknown as Logger,
    );
    const host = {
      switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
    } as unknown as ArgumentsHost;
    filter.catch(new Error('boom'), host);
    assert.deepEqual(replies, [
      { error: { code: 'INTERNAL', message: 'internal error', correlationId: 'client-7' } },
    ]);
    assert.equal((logged[0] as { correlationId?: string }).correlationId, 'client-7');
  });
});
