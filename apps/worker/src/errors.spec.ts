import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ContractError } from '@vaultline/contracts';
import { EngineError, type EngineErrorCode } from '@vaultline/engine';
import { SecretsError, type SecretsErrorCode } from '@vaultline/secrets';
import { StorageError, type StorageErrorCode } from '@vaultline/storage';

import {
  classify,
  ENGINE_RETRY,
  envelopeFailure,
  isCancellation,
  localOpenFailure,
  RESTORE_ENGINE_RETRY,
  SECRETS_RETRY,
  snapshotNotFound,
  STORAGE_RETRY,
  targetUnreachable,
  WorkerError,
  type Retry,
} from './errors';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<_T extends true>(): void {}

describe('worker: retry or permanent, per code', () => {
  test('types: every engine, storage and secrets code is decided; a new one does not compile until it is', () => {
    expectType<Equal<keyof typeof ENGINE_RETRY, EngineErrorCode>>();
    expectType<Equal<keyof typeof RESTORE_ENGINE_RETRY, EngineErrorCode>>();
    expectType<Equal<keyof typeof STORAGE_RETRY, StorageErrorCode>>();
    expectType<Equal<keyof typeof SECRETS_RETRY, SecretsErrorCode>>();
    // @ts-expect-error NEW_CODE is not in the table
    const _engine: Record<EngineErrorCode | 'NEW_CODE', Retry> = ENGINE_RETRY;
    // @ts-expect-error NEW_CODE is not in the table
    const _storage: Record<StorageErrorCode | 'NEW_CODE', Retry> = STORAGE_RETRY;
    void _engine;
    void _storage;
  });

  test('the classes of failure the processors relied on', () => {
    const permanentEngine = Object.entries(ENGINE_RETRY)
      .filter(([, r]) => r === 'permanent')
      .map(([c]) => c)
      .sort();
    assert.deepEqual(permanentEngine, [
      'CORRUPT',
      'FOREIGN_REPOSITORY',
      'INVALID_ARGUMENT',
      'NEEDS_PASSWORD',
      'NO_REPOSITORY',
      'SOURCE_UNREADABLE',
      'UNSAFE_PATH',
      'UNSUPPORTED_VERSION',
      'WRONG_PASSWORD',
    ]);
    assert.equal(classify(new EngineError('LOCKED', 'x')).retry, 'transient');
    assert.equal(classify(new EngineError('NOT_FOUND', 'x')).retry, 'transient');
    assert.equal(classify(new EngineError('NOT_FOUND', 'x'), RESTORE_ENGINE_RETRY).retry, 'permanent');
    assert.equal(classify(new StorageError('UNREACHABLE', 'x')).retry, 'transient');
    assert.equal(classify(new StorageError('IO', 'x')).retry, 'transient');
    assert.equal(classify(new StorageError('FULL', 'x')).retry, 'permanent');
    assert.equal(classify(new SecretsError('OPEN_FAILED', 'x')).retry, 'permanent');
    assert.ok(Object.values(SECRETS_RETRY).every((r) => r === 'permanent'));
    assert.equal(classify(new ContractError('INVALID_JOB_PAYLOAD', 'job', [])).retry, 'permanent');
    assert.deepEqual(classify(new Error('pg down')), {
      info: { code: 'INTERNAL', message: 'pg down' },
      retry: 'transient',
    });
    assert.deepEqual(classify(new WorkerError('HOOK_FAILED', 'pre-hook exited 1', 'permanent')), {
      info: { code: 'HOOK_FAILED', message: 'pre-hook exited 1' },
      retry: 'permanent',
    });
  });

  test('the translations of one operation each', () => {
    assert.equal(isCancellation(new EngineError('ABORTED', 'x')), true);
    assert.equal(isCancellation(new EngineError('LOCKED', 'x')), false);
    assert.equal(targetUnreachable(classify(new StorageError('UNREACHABLE', 'x')).info), true);
    assert.equal(targetUnreachable(classify(new StorageError('FULL', 'x')).info), false);

    const gone = localOpenFailure(new StorageError('NOT_FOUND', 'no folder /mnt/nas'));
    assert.ok(gone instanceof WorkerError);
    assert.deepEqual(
      [gone.code, gone.retry, gone.message],
      ['UNREACHABLE', 'transient', 'no folder /mnt/nas'],
    );
    const denied = new StorageError('PERMISSION_DENIED', 'x');
    assert.equal(localOpenFailure(denied), denied);

    const missing = snapshotNotFound(new EngineError('NOT_FOUND', 'x'), 'no snapshot abc');
    assert.ok(missing instanceof WorkerError);
    assert.deepEqual(
      [missing.code, missing.retry, missing.message],
      ['NOT_FOUND', 'permanent', 'no snapshot abc'],
    );
    const corrupt = new EngineError('CORRUPT', 'x');
    assert.equal(snapshotNotFound(corrupt, 'no snapshot abc'), corrupt);

    const expired = envelopeFailure(new SecretsError('EXPIRED', 'the envelope expired'));
    assert.ok(expired instanceof WorkerError);
    assert.deepEqual([expired.code, expired.message], ['PASSWORD_EXPIRED', 'the envelope expired']);
    const invalid = envelopeFailure(new SecretsError('OPEN_FAILED', 'x'));
    assert.ok(invalid instanceof WorkerError);
    assert.equal(invalid.code, 'PASSWORD_ENVELOPE_INVALID');
  });
});
