/**
 * @vaultline/contracts mirrors some engine types instead of importing them (a `type:util` library
 * may not depend on the engine, and the API must not pull the engine in through its contracts).
 * This file is where the two meet: the type assertions fail the build, and the runtime checks fail
 * the tests, as soon as the engine and the contracts disagree.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  ContractError,
  MIN_PASSWORD_LENGTH,
  parseInput,
  retentionPolicySchema,
  tagSchema,
  type Architecture,
  type JobResult,
  type Progress,
  type RetentionPolicy,
  type SnapshotStats,
  type SourceError,
} from '@vaultline/contracts';
import * as engine from '@vaultline/engine';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<_T extends true>(): void {}

type BackupSuccess = Extract<JobResult<'backup.run'>, { status: 'success' }>;
type RestoreSuccess = Extract<JobResult<'restore.run'>, { status: 'success' }>;

describe('contracts mirror the engine', () => {
  test('types', () => {
    expectType<Equal<Progress, engine.Progress>>();
    expectType<Equal<SnapshotStats, engine.SnapshotStats>>();
    expectType<Equal<SourceError, engine.SourceError>>();
    expectType<Equal<RetentionPolicy, engine.RetentionPolicy>>();
    expectType<Equal<Architecture, Exclude<engine.Arch, 'other'>>>();
    expectType<
      Equal<BackupSuccess['snapshot'], Pick<engine.SnapshotInfo, 'id' | 'time' | 'arch' | 'parent'>>
    >();
    expectType<Equal<BackupSuccess['stats'], engine.SnapshotStats>>();
    expectType<
      Equal<
        JobResult<'maintenance.retention'>['prune'],
        Pick<engine.PruneResult, 'packsDeleted' | 'packsRepacked' | 'packsNeedingPassword' | 'bytesFreed'>
      >
    >();
    expectType<
      Equal<
        Pick<RestoreSuccess, 'files' | 'dirs' | 'symlinks' | 'bytes' | 'verified'>,
        Pick<engine.RestoreResult, 'files' | 'dirs' | 'symlinks' | 'bytes' | 'verified'>
      >
    >();
  });

  test('password length rule', () => {
    assert.equal(MIN_PASSWORD_LENGTH, engine.MIN_PASSWORD_LENGTH);
  });

  test('retention policies: the contract accepts exactly what the engine accepts', () => {
    const policies: engine.RetentionPolicy[] = [
      {},
      { keepLast: 0 },
      { keepLast: 1 },
      { keepDaily: 7, keepWeekly: 0 },
      { keepHourly: -1, keepDaily: 1 },
      { keepMonthly: 1.5 },
      { keepTags: [] },
      { keepTags: ['keep'] },
      { keepYearly: 0, keepTags: ['release:1.0'] },
    ];
    for (const p of policies) {
      const engineOk = (() => {
        try {
          engine.validatePolicy(p);
          return true;
        } catch (err) {
          assert.ok(err instanceof engine.EngineError);
          return false;
        }
      })();
      const contractOk = retentionPolicySchema.safeParse(p).success;
      assert.equal(contractOk, engineOk, JSON.stringify(p));
    }
  });

  test('tags: the contract accepts exactly what the engine accepts', () => {
    for (const tag of [
      'nightly',
      'release:1.0',
      'a@b',
      'x'.repeat(64),
      'x'.repeat(65),
      '',
      'two words',
      'é',
      'a/b',
    ]) {
      const engineOk = (() => {
        try {
          engine.assertValidTags([tag]);
          return true;
        } catch {
          return false;
        }
      })();
      let contractOk = true;
      try {
        parseInput(tagSchema, tag);
      } catch (err) {
        assert.ok(err instanceof ContractError);
        contractOk = false;
      }
      assert.equal(contractOk, engineOk, JSON.stringify(tag));
    }
  });
});
