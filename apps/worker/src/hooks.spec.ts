import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { OutboundPolicy } from '@vaultline/config';

import { NOBODY, resolveHookIdentity, runHook } from './hooks';

const isRoot = process.getuid?.() === 0;

describe('hook identity (HOOK_UID / HOOK_GID)', () => {
  test('a root worker runs hooks as nobody unless told otherwise', () => {
    const root = { uid: 0, gid: 0 };
    assert.deepEqual(resolveHookIdentity({ hookUid: null, hookGid: null }, root), {
      uid: NOBODY,
      gid: NOBODY,
    });
    assert.deepEqual(resolveHookIdentity({ hookUid: 1000, hookGid: null }, root), { uid: 1000, gid: 1000 });
    assert.deepEqual(resolveHookIdentity({ hookUid: 1000, hookGid: 999 }, root), { uid: 1000, gid: 999 });
    assert.deepEqual(resolveHookIdentity({ hookUid: 0, hookGid: 0 }, root), { uid: 0, gid: 0 });
  });

  test('a non-root worker runs hooks as itself and refuses another identity at start', () => {
    const self = { uid: 1000, gid: 1000 };
    assert.equal(resolveHookIdentity({ hookUid: null, hookGid: null }, self), null);
    assert.equal(resolveHookIdentity({ hookUid: 1000, hookGid: 1000 }, self), null);
    assert.throws(() => resolveHookIdentity({ hookUid: 0, hookGid: null }, self), /only a root worker/);
    assert.throws(() => resolveHookIdentity({ hookUid: null, hookGid: 5 }, self), /only a root worker/);
  });

  test(
    'as root, a command hook runs as the configured uid and gid',
    { skip: !isRoot && 'needs root' },
    async () => {
      // The hook fails (and its stderr is in the error) unless `id` reports the identity.
      const check = (uid: number, gid: number) =>
        runHook(
          {
            kind: 'command',
            argv: [
              '/bin/sh',
              '-c',
              `u=$(id -u) g=$(id -g); echo "uid=$u gid=$g" >&2; [ "$u:$g" = "${uid}:${gid}" ]`,
            ],
          },
          'pre',
          undefined,
          { uid, gid },
        );
      await check(4242, 4343);
      await check(NOBODY, NOBODY);
      await assert.rejects(
        runHook({ kind: 'command', argv: ['/bin/sh', '-c', 'id -u >&2; exit 1'] }, 'pre', undefined, {
          uid: 4242,
          gid: 4242,
        }),
        /exited with code 1: 4242/,
      );
    },
  );

  test('an HTTP hook at a denied address fails before any request', async () => {
    await assert.rejects(
      runHook(
        { kind: 'http', url: 'http://169.254.169.254/latest/meta-data/' },
        'pre',
        undefined,
        null,
        new OutboundPolicy(),
      ),
      /pre-hook is refused by the outbound policy \(http:\/\/169\.254\.169\.254\)/,
    );
  });
});
