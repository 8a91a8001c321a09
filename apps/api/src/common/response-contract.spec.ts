import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { responseDrift } from './response-contract';

const health = { status: 'ok', db: 'ok' };

describe('responseDrift', () => {
  test('a body that matches its schema, and no body where none is declared, pass', () => {
    assert.equal(responseDrift({ status: 200, body: 'HealthView' }, health), null);
    assert.equal(responseDrift({ status: 200, body: ['HealthView'] }, [health, health]), null);
    assert.equal(responseDrift({ status: 204, body: null }, undefined), null);
  });

  test('a wrong field, a field the contract does not describe, or a missing body is a drift', () => {
    assert.match(
      responseDrift({ status: 200, body: 'HealthView' }, { ...health, db: 'down' }) ?? '',
      /^db: /,
    );
    assert.match(responseDrift({ status: 200, body: 'HealthView' }, { ...health, extra: 1 }) ?? '', /extra/);
    assert.equal(responseDrift({ status: 200, body: 'HealthView' }, undefined), 'no body');
    assert.equal(responseDrift({ status: 204, body: null }, health), 'a body where none is declared');
  });

  test('a loose object of the contract (the report summary) drops unknown fields: a drift too', () => {
    const summary = {
      version: 1,
      runId: 'r1',
      plan: { id: 'p1', name: 'nightly', color: 'red' },
      trigger: 'manual',
      status: 'success',
      queuedAt: '2026-01-01T00:00:00.000Z',
      startedAt: null,
      finishedAt: '2026-01-01T00:00:00.000Z',
      durationMs: 0,
      counts: { total: 0, succeeded: 0, failed: 0 },
      totals: { totalBytes: 0, bytesAdded: 0, files: 0 },
      backups: [],
    };
    assert.equal(
      responseDrift({ status: 200, body: 'ReportSummary' }, summary),
      'fields the schema does not describe',
    );
  });
});
