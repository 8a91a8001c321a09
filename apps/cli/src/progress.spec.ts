import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Progress } from '@vaultline/engine';
import {
  ProgressLine,
  RateMeter,
  clock,
  formatProgress,
  rateText,
  truncateLeft,
  type ProgressView,
} from './progress';

const MiB = 1024 * 1024;
const view = (over: Partial<ProgressView> = {}): ProgressView => ({
  label: 'backup',
  phase: 'backup',
  filesDone: 120,
  filesTotal: 480,
  bytesDone: 256 * MiB,
  bytesTotal: 1024 * MiB,
  rate: 32 * MiB,
  ...over,
});

test('clock and rate', () => {
  assert.equal(clock(7), '0:07');
  assert.equal(clock(754), '12:34');
  assert.equal(clock(3723), '1:02:03');
  assert.equal(rateText(12.34 * MiB), '12.3 MiB/s');
});

test('the line: percent, bytes, rate, ETA, files and the current file', () => {
  const line = formatProgress(view({ current: 'docs/report.pdf' }), 120);
  assert.equal(
    line,
    'backup  25%  256.0 MiB / 1.0 GiB  32.0 MiB/s  ETA 0:24  120/480 files  docs/report.pdf',
  );
});

test('no rate yet: placeholders instead of a made-up ETA', () => {
  const line = formatProgress(view({ rate: undefined }), 120);
  assert.match(line, /- MiB\/s {2}ETA -:-- {2}120\/480 files$/);
});

test('scan phase shows what was found so far', () => {
  assert.equal(
    formatProgress(view({ phase: 'scan', filesTotal: 5000, bytesTotal: 3 * 1024 * MiB, current: 'x' }), 100),
    'backup: scanning… 5000 files, 3.0 GiB',
  );
});

test('fits the terminal: the current file is cut from the left, the head from the right', () => {
  const long = 'very/deep/folder/structure/with/a/rather-long-file-name.tar.zst';
  const line = formatProgress(view({ current: long }), 90);
  assert.ok([...line].length <= 89, `${[...line].length}: ${line}`);
  assert.match(line, /…[^ ]*name\.tar\.zst$/);
  const narrow = formatProgress(view({ current: long }), 40);
  assert.equal([...narrow].length, 39);
  assert.ok(narrow.endsWith('…'));
  assert.ok(!narrow.includes('zst'));
  // Wide characters count as characters, never split in the middle of a code point.
  assert.equal(truncateLeft('日本語のファイル名.txt', 6), '…名.txt');
});

test('100 % at most, and no division by zero for empty backups', () => {
  assert.match(formatProgress(view({ bytesDone: 2 * MiB, bytesTotal: MiB }), 120), /^backup 100%/);
  assert.match(formatProgress(view({ bytesDone: 0, bytesTotal: 0 }), 120), /^backup {3}0%/);
});

test('RateMeter smooths: a burst moves the rate towards it, not onto it', () => {
  const m = new RateMeter(3000);
  assert.equal(m.sample(0, 0), undefined);
  assert.equal(m.sample(10 * MiB, 1000), 10 * MiB); // first interval: taken as is
  const after = m.sample(10 * MiB + 100 * MiB, 2000)!; // a 100 MiB/s second
  assert.ok(after > 10 * MiB && after < 50 * MiB, String(after / MiB));
});

test('ProgressLine throttles to ~4 writes a second and clears at the end', () => {
  let now = 0;
  const writes: string[] = [];
  let cleared = 0;
  const line = new ProgressLine(
    'restore',
    (s) => writes.push(s),
    () => cleared++,
    () => 100,
    () => now,
  );
  const p = (bytesDone: number, extra: Partial<Progress> & { current?: string } = {}): Progress => ({
    phase: 'restore',
    filesDone: 1,
    filesTotal: 2,
    bytesDone,
    bytesTotal: 100 * MiB,
    ...extra,
  });
  for (let t = 0; t <= 1000; t += 50) {
    now = t;
    line.update(p(t * 1024, { current: `file-${t}` }));
  }
  assert.equal(writes.length, 5); // t = 0, 250, 500, 750, 1000
  assert.match(writes[4]!, /file-1000$/);
  assert.match(writes[4]!, /MiB\/s {2}ETA \d/);
  line.update(p(0, { phase: 'done' }));
  assert.equal(cleared, 1);
});
