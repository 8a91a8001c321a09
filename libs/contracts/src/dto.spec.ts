import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { architectureSchema } from './common';
import {
  newPasswordSchema,
  passwordChangeSchema,
  planNameSchema,
  retentionPolicySchema,
  scheduleSchema,
  scheduleToCron,
  timezoneSchema,
} from './dto';
import { ContractError, parseInput, type ContractIssue } from './errors';

function issues(fn: () => unknown): ContractIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ContractError, `expected a ContractError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_INPUT');
    return [...err.issues];
  }
  assert.fail('expected a ContractError');
}

describe('schedule', () => {
  test('daily and weekly', () => {
    assert.deepEqual(
      parseInput(scheduleSchema, { frequency: 'daily', time: '02:30', timezone: 'Europe/Paris' }),
      {
        frequency: 'daily',
        time: '02:30',
        timezone: 'Europe/Paris',
      },
    );
    assert.deepEqual(
      parseInput(scheduleSchema, { frequency: 'weekly', time: '23:59', dayOfWeek: 0, timezone: 'UTC' }),
      { frequency: 'weekly', time: '23:59', dayOfWeek: 0, timezone: 'UTC' },
    );
  });

  test('dayOfWeek is required iff weekly', () => {
    assert.deepEqual(
      issues(() => parseInput(scheduleSchema, { frequency: 'weekly', time: '02:00', timezone: 'UTC' })),
      [{ path: 'dayOfWeek', message: 'is required when weekly' }],
    );
    assert.deepEqual(
      issues(() =>
        parseInput(scheduleSchema, { frequency: 'daily', time: '02:00', dayOfWeek: 3, timezone: 'UTC' }),
      ),
      [{ path: 'dayOfWeek', message: 'is only allowed when weekly' }],
    );
    for (const dayOfWeek of [7, -1, 1.5, '1']) {
      const found = issues(() =>
        parseInput(scheduleSchema, { frequency: 'weekly', time: '02:00', dayOfWeek, timezone: 'UTC' }),
      );
      assert.deepEqual(
        found.map((i) => i.path),
        ['dayOfWeek'],
        String(dayOfWeek),
      );
    }
  });

  test('time is HH:MM on a 24-hour clock', () => {
    for (const time of ['2:00', '24:00', '12:60', '12:00:00', 'noon', '']) {
      assert.deepEqual(
        issues(() => parseInput(scheduleSchema, { frequency: 'daily', time, timezone: 'UTC' })),
        [{ path: 'time', message: 'must be a time HH:MM between 00:00 and 23:59' }],
        time,
      );
    }
  });

  test('every invalid field at once', () => {
    assert.deepEqual(
      issues(() =>
        parseInput(scheduleSchema, { frequency: 'monthly', time: '25:00', timezone: 'Mars/Olympus' }),
      ).map((i) => i.path),
      ['frequency', 'time', 'timezone'],
    );
  });

  test('timezones: IANA names known to Intl, kept as given; no offsets', () => {
    const tz = (v: unknown): string => parseInput(timezoneSchema, v, 'timezone');
    assert.equal(tz('Europe/Paris'), 'Europe/Paris');
    assert.equal(tz('America/Argentina/Buenos_Aires'), 'America/Argentina/Buenos_Aires');
    assert.equal(tz('UTC'), 'UTC');
    assert.equal(tz('Asia/Calcutta'), 'Asia/Calcutta');
    for (const bad of ['Mars/Olympus', '+01:00', 'GMT+1', '', 'Europe/Paris ', '../etc/passwd']) {
      assert.deepEqual(
        issues(() => tz(bad)),
        [{ path: '', message: "must be an IANA time zone name such as 'Europe/Paris' or 'UTC'" }],
        bad,
      );
    }
  });

  test('as a cron pattern for the plan job scheduler', () => {
    assert.deepEqual(scheduleToCron({ frequency: 'daily', time: '02:05', timezone: 'Europe/Paris' }), {
      pattern: '5 2 * * *',
      tz: 'Europe/Paris',
    });
    assert.deepEqual(scheduleToCron({ frequency: 'weekly', time: '23:30', dayOfWeek: 6, timezone: 'UTC' }), {
      pattern: '30 23 * * 6',
      tz: 'UTC',
    });
  });
});

describe('retention policy', () => {
  test('mirrors the engine policy', () => {
    const p = { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 6, keepYearly: 1, keepTags: ['keep'] };
    assert.deepEqual(parseInput(retentionPolicySchema, p), p);
    assert.deepEqual(parseInput(retentionPolicySchema, { keepTags: ['release:1.0'] }), {
      keepTags: ['release:1.0'],
    });
  });

  test('must keep something', () => {
    const nothing = [
      { path: '', message: 'must keep something: set at least one keep rule above 0 or a tag to keep' },
    ];
    assert.deepEqual(
      issues(() => parseInput(retentionPolicySchema, {})),
      nothing,
    );
    assert.deepEqual(
      issues(() => parseInput(retentionPolicySchema, { keepDaily: 0, keepTags: [] })),
      nothing,
    );
  });

  test('keep rules are whole numbers ≥ 0, tags follow the engine rule', () => {
    assert.deepEqual(
      issues(() =>
        parseInput(retentionPolicySchema, {
          keepLast: 1,
          keepDaily: -1,
          keepWeekly: 1.5,
          keepTags: ['ok', 'not ok'],
        }),
      ),
      [
        { path: 'keepDaily', message: 'must be a whole number ≥ 0' },
        { path: 'keepWeekly', message: 'must be a whole number ≥ 0' },
        { path: 'keepTags[1]', message: 'must be 1-64 letters, digits and . : @ _ -' },
      ],
    );
  });
});

describe('passwords', () => {
  test('at least 4 characters, counted as the engine counts them (code points)', () => {
    assert.deepEqual(parseInput(newPasswordSchema, { password: 'abcd', passwordConfirmation: 'abcd' }), {
      password: 'abcd',
      passwordConfirmation: 'abcd',
    });
    // Four emoji are 8 UTF-16 units but 4 characters: accepted; three are refused.
    const four = '🔑🔑🔑🔑';
    assert.equal(
      parseInput(newPasswordSchema, { password: four, passwordConfirmation: four }).password,
      four,
    );
    assert.deepEqual(
      issues(() => parseInput(newPasswordSchema, { password: '🔑🔑🔑', passwordConfirmation: '🔑🔑🔑' })),
      [{ path: 'password', message: 'must have at least 4 characters' }],
    );
  });

  test('entered twice: a mismatch is reported on the confirmation, without either value', () => {
    let err: unknown;
    try {
      parseInput(newPasswordSchema, { password: 'correct horse', passwordConfirmation: 'correct hosre' });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ContractError);
    assert.deepEqual(err.issues, [{ path: 'passwordConfirmation', message: 'does not match password' }]);
    assert.doesNotMatch(err.message + JSON.stringify(err), /horse|hosre/);
  });

  test('missing fields', () => {
    assert.deepEqual(
      issues(() => parseInput(newPasswordSchema, {})),
      [
        { path: 'password', message: 'is required' },
        { path: 'passwordConfirmation', message: 'is required' },
      ],
    );
  });

  test('password change: old password any length, new one by the rules and twice', () => {
    const ok = { oldPassword: 'old', newPassword: 'new-pass', newPasswordConfirmation: 'new-pass' };
    assert.deepEqual(parseInput(passwordChangeSchema, ok), ok);
    assert.deepEqual(
      issues(() =>
        parseInput(passwordChangeSchema, {
          oldPassword: '',
          newPassword: 'abc',
          newPasswordConfirmation: 'abd',
        }),
      ),
      [
        { path: 'oldPassword', message: 'is required' },
        { path: 'newPassword', message: 'must have at least 4 characters' },
        { path: 'newPasswordConfirmation', message: 'does not match newPassword' },
      ],
    );
  });
});

describe('plan name and architecture', () => {
  test('a plan name has at least one character', () => {
    assert.equal(parseInput(planNameSchema, ' Nightly '), 'Nightly');
    assert.deepEqual(
      issues(() => parseInput(planNameSchema, '   ')),
      [{ path: '', message: 'must have at least one character' }],
    );
  });

  test('architectures', () => {
    for (const a of ['x86_64', 'arm64', 'riscv64']) assert.equal(parseInput(architectureSchema, a), a);
    for (const a of ['amd64', 'other', '']) {
      assert.deepEqual(
        issues(() => parseInput(architectureSchema, a)).map((i) => i.path),
        [''],
      );
    }
  });
});
