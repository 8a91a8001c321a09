import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPolicy, validatePolicy } from './forget';
import type { SnapshotInfo } from './snapshot';

function snap(time: string, tags: string[] = []): SnapshotInfo {
  return { id: time, time, tags } as unknown as SnapshotInfo;
}

const kept = (d: ReturnType<typeof applyPolicy>): string[] =>
  d.filter((x) => x.keep).map((x) => x.snapshot.time);

// Two snapshots a day (03:00 and 15:00) over 40 days ending 2026-02-09.
const series = Array.from({ length: 80 }, (_, i) => {
  const t = new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 2) * 86_400_000 + (i % 2 ? 15 : 3) * 3_600_000);
  return snap(t.toISOString());
});

test('keep-last keeps exactly the N newest', () => {
  assert.deepEqual(kept(applyPolicy(series, { keepLast: 3 })), [
    '2026-02-09T15:00:00.000Z',
    '2026-02-09T03:00:00.000Z',
    '2026-02-08T15:00:00.000Z',
  ]);
});

test('keep-daily keeps the newest of each of the N latest days', () => {
  assert.deepEqual(kept(applyPolicy(series, { keepDaily: 3 })), [
    '2026-02-09T15:00:00.000Z',
    '2026-02-08T15:00:00.000Z',
    '2026-02-07T15:00:00.000Z',
  ]);
});

test('keep-weekly uses ISO weeks and keep-monthly calendar months; rules combine', () => {
  const d = applyPolicy(series, { keepWeekly: 2, keepMonthly: 2 });
  assert.deepEqual(kept(d), [
    '2026-02-09T15:00:00.000Z', // week 7 and February
    '2026-02-08T15:00:00.000Z', // Sunday: end of ISO week 6
    '2026-01-31T15:00:00.000Z', // January
  ]);
  assert.deepEqual(d.find((x) => x.snapshot.time === '2026-02-09T15:00:00.000Z')!.reasons, [
    'weekly',
    'monthly',
  ]);
});

test('keep-tag keeps tagged snapshots regardless of age', () => {
  const withTag = [...series, snap('2020-01-01T00:00:00.000Z', ['pinned'])];
  const d = applyPolicy(withTag, { keepLast: 1, keepTags: ['pinned'] });
  assert.deepEqual(kept(d), ['2026-02-09T15:00:00.000Z', '2020-01-01T00:00:00.000Z']);
});

test('keep-yearly and keep-hourly', () => {
  const s = [
    snap('2024-05-01T10:00:00.000Z'),
    snap('2025-05-01T10:00:00.000Z'),
    snap('2025-05-01T10:30:00.000Z'),
  ];
  assert.deepEqual(kept(applyPolicy(s, { keepYearly: 5 })), [
    '2025-05-01T10:30:00.000Z',
    '2024-05-01T10:00:00.000Z',
  ]);
  assert.deepEqual(kept(applyPolicy(s, { keepHourly: 1 })), ['2025-05-01T10:30:00.000Z']);
});

test('a policy that keeps nothing, or negative counts, is refused', () => {
  assert.throws(() => validatePolicy({}), /must keep something/);
  assert.throws(() => validatePolicy({ keepLast: 0 }), /must keep something/);
  assert.throws(() => validatePolicy({ keepDaily: -1 }), /whole number/);
});
