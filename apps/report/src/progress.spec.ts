import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ProgressCoalescer, type ProgressValue } from './progress';

const quiet = { warn: () => undefined };
const key = { runId: 'r', serviceId: 's', targetId: 't' };

function record(into: ProgressValue[]): (v: ProgressValue) => Promise<void> {
  return (v) => {
    into.push(v);
    return Promise.resolve();
  };
}

describe('ProgressCoalescer', () => {
  test('keeps only the latest value per backup until the flush', async () => {
    const written: ProgressValue[] = [];
    const c = new ProgressCoalescer(record(written), quiet, 60_000);
    c.record({ ...key, bytesRead: 1, files: 1 });
    c.record({ ...key, bytesRead: 5, files: 2 });
    c.record({ ...key, targetId: 'u', bytesRead: 7, files: 3 });
    assert.equal(c.size, 2);
    await c.flush();
    assert.deepEqual(written, [
      { ...key, bytesRead: 5, files: 2 },
      { ...key, targetId: 'u', bytesRead: 7, files: 3 },
    ]);
    await c.flush();
    assert.equal(written.length, 2, 'nothing new, nothing written');
  });

  test('a new attempt drops the stale value; stop writes what is left', async () => {
    const written: ProgressValue[] = [];
    const c = new ProgressCoalescer(record(written), quiet, 60_000);
    c.start();
    c.record({ ...key, bytesRead: 9, files: 9 });
    c.forget(key);
    c.record({ ...key, serviceId: 'x', bytesRead: 1, files: 1 });
    await c.stop();
    assert.deepEqual(written, [{ ...key, serviceId: 'x', bytesRead: 1, files: 1 }]);
  });

  test('concurrent flushes join instead of overlapping; sink failures are logged, not thrown', async () => {
    let calls = 0;
    const warnings: object[] = [];
    const c = new ProgressCoalescer(
      async () => {
        calls++;
        await new Promise((r) => setImmediate(r));
        throw new Error('db away');
      },
      { warn: (obj) => void warnings.push(obj) },
      60_000,
    );
    c.record({ ...key, bytesRead: 1, files: 1 });
    await Promise.all([c.flush(), c.flush()]);
    assert.equal(calls, 1);
    assert.equal(warnings.length, 1);
  });
});
