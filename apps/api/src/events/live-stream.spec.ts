import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MessageEvent } from '@nestjs/common';
import { lastValueFrom, Subject, toArray } from 'rxjs';

import type { LiveEvent } from './events.hub';
import { liveStream, type LiveStreamSpec } from './live-stream';

const AT = '2025-03-01T02:00:00.000Z';
const started = (runId: string): LiveEvent => ({
  name: 'run.started',
  payload: { at: AT, runId, planId: 'plan_1', trigger: 'manual', backups: 1 },
});
const finished = (runId: string): LiveEvent => ({
  name: 'run.finished',
  payload: { at: AT, runId, planId: 'plan_1', status: 'success', durationMs: 1 },
});

function spec(state: LiveStreamSpec['state']): LiveStreamSpec {
  return {
    state,
    matches: (e) => 'runId' in e.payload && e.payload.runId === 'run_1',
    isTerminal: (e) => e.name === 'run.finished',
  };
}

const types = (events: MessageEvent[]): (string | undefined)[] => events.map((e) => e.type);

describe('liveStream', () => {
  test('state first; events that arrive while the state is read are sent after it, in order', async () => {
    const hub = new Subject<LiveEvent>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stream = liveStream(
      hub,
      spec(async () => {
        await gate;
        return { data: { status: 'running' }, finished: false };
      }),
    );
    const all = lastValueFrom(stream.pipe(toArray()));
    hub.next(started('run_1'));
    hub.next(started('run_2'));
    release();
    await gate;
    await new Promise((r) => setImmediate(r));
    hub.next(finished('run_2'));
    hub.next(finished('run_1'));
    hub.next(started('run_1')); // after the end: never sent
    const events = await all;
    assert.deepEqual(types(events), ['state', 'run.started', 'run.finished']);
    assert.deepEqual(events[0]?.data, { status: 'running' });
    assert.equal((events[2]?.data as { runId: string }).runId, 'run_1');
  });

  test('a terminal event that arrived while the state was read ends the stream', async () => {
    const hub = new Subject<LiveEvent>();
    const stream = liveStream(
      hub,
      spec(() => {
        hub.next(finished('run_1'));
        return Promise.resolve({ data: { status: 'running' }, finished: false });
      }),
    );
    assert.deepEqual(types(await lastValueFrom(stream.pipe(toArray()))), ['state', 'run.finished']);
  });

  test('already finished: the state, then the end', async () => {
    const hub = new Subject<LiveEvent>();
    const stream = liveStream(
      hub,
      spec(() => Promise.resolve({ data: { status: 'failed' }, finished: true })),
    );
    assert.deepEqual(types(await lastValueFrom(stream.pipe(toArray()))), ['state']);
    assert.equal(hub.observed, false, 'unsubscribed from the hub');
  });

  test('a missed terminal event: the heartbeat re-reads the state and ends the stream', async () => {
    const hub = new Subject<LiveEvent>();
    let reads = 0;
    const stream = liveStream(
      hub,
      spec(() => {
        reads++;
        return Promise.resolve(
          reads === 1
            ? { data: { status: 'running' }, finished: false }
            : { data: { status: 'success' }, finished: true },
        );
      }),
      1,
    );
    const events = await lastValueFrom(stream.pipe(toArray()));
    assert.equal(events[0]?.type, 'state');
    assert.ok(events.some((e) => e.comment === 'keep-alive'));
    assert.deepEqual(events.at(-1), { type: 'state', data: { status: 'success' } });
  });

  test('the hub completing (shutdown) ends the stream', async () => {
    const hub = new Subject<LiveEvent>();
    const stream = liveStream(
      hub,
      spec(() => Promise.resolve({ data: {}, finished: false })),
    );
    const all = lastValueFrom(stream.pipe(toArray()));
    await new Promise((r) => setImmediate(r));
    hub.complete();
    assert.deepEqual(types(await all), ['state']);
  });
});
