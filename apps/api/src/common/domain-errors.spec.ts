import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { EngineError, type EngineErrorCode } from '@vaultline/engine';
import { StorageError, type StorageErrorCode } from '@vaultline/storage';

import { ApiError, type ApiErrorCode } from './api-error';
import {
  ENGINE_API_CODES,
  isWrongPassword,
  repositoryError,
  STORAGE_API_CODES,
  statusOf,
} from './domain-errors';
import { mapError } from './error.filter';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<_T extends true>(): void {}

describe('engine and storage errors → API codes', () => {
  test('types: every engine and storage code is mapped; a new code does not compile until it is', () => {
    expectType<Equal<keyof typeof ENGINE_API_CODES, EngineErrorCode>>();
    expectType<Equal<keyof typeof STORAGE_API_CODES, StorageErrorCode>>();
    // What the compiler says when the engine gains a code the table lacks:
    // @ts-expect-error NEW_CODE is not in the table
    const _engine: Record<EngineErrorCode | 'NEW_CODE', ApiErrorCode> = ENGINE_API_CODES;
    // @ts-expect-error NEW_CODE is not in the table
    const _storage: Record<StorageErrorCode | 'NEW_CODE', ApiErrorCode> = STORAGE_API_CODES;
    void _engine;
    void _storage;
  });

  test('HTTP statuses of the answered codes (unchanged responses)', () => {
    assert.equal(statusOf(new EngineError('WRONG_PASSWORD', 'x')), 422);
    assert.equal(statusOf(new EngineError('NOT_FOUND', 'x')), 404);
    assert.equal(statusOf(new EngineError('NO_REPOSITORY', 'x')), 503);
    assert.equal(statusOf(new EngineError('ALREADY_INITIALIZED', 'x')), 409);
    assert.equal(statusOf(new EngineError('CORRUPT', 'x')), 500);
    for (const code of Object.keys(STORAGE_API_CODES) as StorageErrorCode[]) {
      assert.equal(statusOf(new StorageError(code, 'x')), 503, code);
    }
  });

  test('repositoryError: the default wording, the caller wording, and what is rethrown', () => {
    const unavailable = repositoryError(
      new StorageError('UNREACHABLE', 'connect ECONNREFUSED'),
      'target "nas"',
    );
    assert.ok(unavailable instanceof ApiError);
    assert.equal(unavailable.code, 'UNAVAILABLE');
    assert.equal(unavailable.message, 'target "nas": connect ECONNREFUSED');
    assert.equal(mapError(unavailable).status, 503);

    const wrong = repositoryError(new EngineError('WRONG_PASSWORD', 'no key file opens'), 'target "nas"', {
      WRONG_PASSWORD: () => new ApiError('WRONG_PASSWORD', 'nope', [{ path: 'password', message: 'nope' }]),
    });
    assert.deepEqual(mapError(wrong).body, {
      error: { code: 'WRONG_PASSWORD', message: 'nope', fields: [{ path: 'password', message: 'nope' }] },
    });

    // INTERNAL in the table, or not an engine/storage error: unchanged, so the filter answers 500.
    const corrupt = new EngineError('CORRUPT', 'bad pack');
    assert.equal(repositoryError(corrupt, 'target "nas"'), corrupt);
    const other = new Error('boom');
    assert.equal(repositoryError(other, 'target "nas"'), other);
    assert.equal(mapError(corrupt).status, 500);
  });

  test('isWrongPassword', () => {
    assert.equal(isWrongPassword(new EngineError('WRONG_PASSWORD', 'x')), true);
    assert.equal(isWrongPassword(new EngineError('NOT_FOUND', 'x')), false);
    assert.equal(isWrongPassword(new StorageError('NOT_FOUND', 'x')), false);
  });
});
