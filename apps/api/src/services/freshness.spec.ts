import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assessFreshness } from './freshness';

const H = 60 * 60 * 1000;
const now = new Date('2026-11-20T12:00:00Z');
const ago = (hours: number): Date => new Date(now.getTime() - hours * H);

describe('assessFreshness', () => {
  test('daily: fresh up to 24 h + 6 h after the last success, overdue after', () => {
    const base = { frequency: 'daily' as const, paused: false, since: ago(1000), now };
    assert.equal(assessFreshness({ ...base, lastSuccessAt: ago(29) }).overdue, false);
    assert.equal(assessFreshness({ ...base, lastSuccessAt: ago(31) }).overdue, true);
    assert.equal(assessFreshness({ ...base, lastSuccessAt: ago(29) }).expectedIntervalHours, 24);
    assert.deepEqual(
      assessFreshness({ ...base, lastSuccessAt: ago(10) }).dueBy,
      new Date(now.getTime() + 20 * H),
    );
  });

  test('weekly: 7 days + 42 h', () => {
    const base = { frequency: 'weekly' as const, paused: false, since: ago(1000), now };
    assert.equal(assessFreshness({ ...base, lastSuccessAt: ago(7 * 24 + 41) }).overdue, false);
    assert.equal(assessFreshness({ ...base, lastSuccessAt: ago(7 * 24 + 43) }).overdue, true);
  });

  test('never backed up: counted from when the target joined the plan', () => {
    const base = { frequency: 'daily' as const, paused: false, lastSuccessAt: null, now };
    assert.equal(assessFreshness({ ...base, since: ago(2) }).overdue, false);
    assert.equal(assessFreshness({ ...base, since: ago(48) }).overdue, true);
  });

  test('a paused plan is never overdue', () => {
    const r = assessFreshness({
      frequency: 'daily',
      paused: true,
      lastSuccessAt: ago(500),
      since: ago(600),
      now,
    });
    assert.equal(r.overdue, false);
  });
});
