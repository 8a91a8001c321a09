/** Option-argument parsers for commander: each rejects bad input with a message naming the rule. */
import { InvalidArgumentError } from 'commander';

/** A whole number ≥ `min` (and ≤ `max`). */
export function wholeNumber(min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const v = value.trim();
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min || Number(v) > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`Expected a whole number ${range}.`);
    }
    return Number(v);
  };
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A byte count: `65536`, `64KiB`, `16M`, `1GiB` (binary units). */
export function byteSize(min = 0): (value: string) => number {
  return (value: string) => {
    const m = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
    const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    const n = m && unit !== undefined ? Number(m[1]) * unit : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`Expected a whole number of bytes ≥ ${min} (units K, M, G allowed).`);
    }
    return n;
  };
}

/** A fraction in (0, 1]. */
export function fraction(value: string): number {
  const v = value.trim();
  const n = Number(v);
  if (v === '' || !Number.isFinite(n) || !(n > 0 && n <= 1)) {
    throw new InvalidArgumentError('Expected a number greater than 0 and at most 1.');
  }
  return n;
}

/** A percentage in (0, 100], `%` optional. */
export function percentage(value: string): number {
  const v = value.trim().replace(/%$/, '');
  const n = Number(v);
  if (v === '' || !Number.isFinite(n) || !(n > 0 && n <= 100)) {
    throw new InvalidArgumentError('Expected a percentage greater than 0 and at most 100.');
  }
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds: `0`, `0s`, `30m`, `1h`, `1h30m`, `2d`, `500ms`. */
export function duration(value: string): number {
  const v = value.trim();
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (v === '' || end !== v.length || !Number.isFinite(total)) {
    throw new InvalidArgumentError('Expected a duration such as 0s, 30m, 1h or 1h30m.');
  }
  return Math.round(total);
}

/** Repeatable string option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * A retention duration for `--keep-within`, restic's form: `36h`, `7d`, `2w`, `1y2m` (y years,
 * m months, w weeks, d days, h hours). Checked here; the engine (parseKeepWithin) gives it meaning.
 */
export function keepDuration(value: string): string {
  const v = value.trim();
  if (!/^(\d+[ymwdh])+$/.test(v)) {
    throw new InvalidArgumentError('Expected a duration such as 36h, 7d, 2w, 6m or 1y2m (y, m, w, d, h).');
  }
  return v;
}

export const GROUP_FIELDS = ['host', 'service', 'plan', 'tags'] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];

/** `host,service`: the snapshot fields `forget` groups by; `''` puts every snapshot in one group. */
export function groupBy(value: string): GroupField[] {
  const fields = value
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  for (const f of fields) {
    if (!(GROUP_FIELDS as readonly string[]).includes(f)) {
      throw new InvalidArgumentError(
        `Expected a comma-separated list of ${GROUP_FIELDS.join(', ')} (got ${f}).`,
      );
    }
  }
  return [...new Set(fields)] as GroupField[];
}
