import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyPolicy,
  groupKey,
  groupSnapshots,
  parseKeepWithin,
  subtractKeepWithin,
  validatePolicy,
} from './forget';
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

test('parseKeepWithin reads restic durations; bad ones are INVALID_ARGUMENT', () => {
  assert.deepEqual(parseKeepWithin('7d'), { years: 0, months: 0, days: 7, hours: 0 });
  assert.deepEqual(parseKeepWithin('2w'), { years: 0, months: 0, days: 14, hours: 0 });
  assert.deepEqual(parseKeepWithin('1y2m'), { years: 1, months: 2, days: 0, hours: 0 });
  assert.deepEqual(parseKeepWithin('36h'), { years: 0, months: 0, days: 0, hours: 36 });
  assert.deepEqual(parseKeepWithin('1d12h1d'), { years: 0, months: 0, days: 2, hours: 12 });
  for (const bad of ['', '7', 'd', '7x', '1.5d', '-1d', '7 d']) {
    assert.throws(() => parseKeepWithin(bad), { code: 'INVALID_ARGUMENT' }, bad);
  }
});

test('subtractKeepWithin uses calendar months and years, then hours', () => {
  const t = new Date('2026-03-31T12:00:00.000Z');
  assert.equal(subtractKeepWithin(t, parseKeepWithin('1m')).toISOString(), '2026-03-03T12:00:00.000Z');
  assert.equal(subtractKeepWithin(t, parseKeepWithin('1y2m')).toISOString(), '2025-01-31T12:00:00.000Z');
  assert.equal(subtractKeepWithin(t, parseKeepWithin('36h')).toISOString(), '2026-03-30T00:00:00.000Z');
});

test('keep-within keeps everything newer than the latest minus the duration (not the boundary)', () => {
  const d = applyPolicy(series, { keepWithin: '2d' });
  // Latest 2026-02-09T15:00; cutoff 2026-02-07T15:00 is itself not kept (strictly newer, as restic).
  assert.deepEqual(kept(d), [
    '2026-02-09T15:00:00.000Z',
    '2026-02-09T03:00:00.000Z',
    '2026-02-08T15:00:00.000Z',
    '2026-02-08T03:00:00.000Z',
  ]);
  assert.deepEqual(d[0]!.reasons, ['within 2d']);
  // Relative to the latest snapshot, not to now: an old series keeps its recent end.
  assert.equal(kept(applyPolicy(series, { keepWithin: '36h' })).length, 3);
  // Combined with other rules, a snapshot kept by either is kept.
  const both = applyPolicy(series, { keepWithin: '1d', keepMonthly: 2 });
  assert.deepEqual(kept(both), [
    '2026-02-09T15:00:00.000Z',
    '2026-02-09T03:00:00.000Z',
    '2026-01-31T15:00:00.000Z',
  ]);
});

test('validatePolicy: keep-within alone keeps something; zero or malformed does not', () => {
  validatePolicy({ keepWithin: '7d' });
  assert.throws(() => validatePolicy({ keepWithin: '0d' }), /must keep something/);
  assert.throws(() => validatePolicy({ keepWithin: 'soon' }), { code: 'INVALID_ARGUMENT' });
});

test('groupBy: default service+plan; host, tags (as a set) or one group', () => {
  const mk = (id: string, host: string, service: string, plan: string, tags: string[]): SnapshotInfo =>
    ({ id, time: `2026-01-0${id}T00:00:00.000Z`, host, service, plan, tags }) as unknown as SnapshotInfo;
  const list = [
    mk('1', 'a', 'web', 'nightly', ['x', 'y']),
    mk('2', 'b', 'web', 'nightly', ['y', 'x']),
    mk('3', 'a', 'db', 'nightly', []),
    mk('4', 'a', 'web', 'weekly', ['x', 'y']),
  ];
  const ids = (groups: SnapshotInfo[][]): string[][] => groups.map((g) => g.map((s) => s.id));
  assert.deepEqual(ids(groupSnapshots(list)), [['1', '2'], ['3'], ['4']]);
  assert.deepEqual(ids(groupSnapshots(list, ['host'])), [['1', '3', '4'], ['2']]);
  assert.deepEqual(ids(groupSnapshots(list, ['tags'])), [['1', '2', '4'], ['3']]);
  assert.deepEqual(ids(groupSnapshots(list, ['host', 'service'])), [['1', '4'], ['2'], ['3']]);
  assert.deepEqual(ids(groupSnapshots(list, [])), [['1', '2', '3', '4']]);
  assert.equal(groupKey(list[0]!, ['tags']), groupKey(list[1]!, ['tags']));
});
