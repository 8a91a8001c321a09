/**
 * Live events through the real API: events published on Redis with the fleet's EventPublisher
 * (libs/events, as workers and the report service publish them) come out of
 * GET /v1/runs/:id/events and GET /v1/restores/:id/events as Server-Sent Events.
 *
 * Redis pub/sub has no history, so each stream is first brought "live": a marker event is
 * published until it comes out of the stream (the API's subscription is then in place), and only
 * then the events under test. Pub/sub keeps the order of one publisher's messages.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { EventName, EventPayload } from '@vaultline/contracts';
import { EventPublisher } from '@vaultline/events';
import { Redis } from 'ioredis';
import { LiveProgress } from '../../apps/api/src/events/live-progress';
import { startPrivateRedis } from '../support/redis-server';
import {
  type EventStream,
  openEventStream,
  type SseFrame,
  startTestApi,
  type TestApi,
} from '../support/api-app';

const PROGRESS = { phase: 'backup', filesDone: 1, filesTotal: 4, bytesDone: 100, bytesTotal: 400 } as const;
const MARKER = { phase: 'scan', filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 } as const;
const STATS = {
  files: 4,
  dirs: 1,
  totalBytes: 400,
  bytesRead: 400,
  bytesAdded: 300,
  blobsAdded: 4,
  filesNew: 4,
  filesChanged: 0,
  filesUnmodified: 0,
  errors: 0,
  durationMs: 12,
};
const SNAPSHOT_ID = 'ab'.repeat(32);

const at = (): string => new Date().toISOString();
const payloadOf = (f: SseFrame): Record<string, unknown> =>
  JSON.parse(f.data ?? 'null') as Record<string, unknown>;

describe('API: live events (SSE)', () => {
  let api: TestApi;
  let publisher: EventPublisher;
  let planId: string;
  let serviceId: string;
  let targetId: string;

  const emit = <N extends EventName>(name: N, payload: EventPayload<N>): void =>
    publisher.emit(name, payload);

  const newRun = async (): Promise<string> => (await api.factories.newRun(planId)).id;

  /** Publishes `marker` until a frame of its type comes out of the stream; returns that frame. */
  async function goLive(stream: EventStream, type: string, marker: () => void): Promise<SseFrame> {
    const state = await stream.next();
    assert.equal(state?.type, 'state', 'the stream starts with the state from the database');
    marker();
    const timer = setInterval(marker, 100);
    try {
      for (;;) {
        const f = await stream.next();
        assert.ok(f, 'the stream ended before going live');
        if (f.type === type) return state;
      }
    } finally {
      clearInterval(timer);
    }
  }

  /** The frames after the markers (the markers published before the first one arrived are skipped). */
  async function framesAfterMarkers(
    stream: EventStream,
    isMarker: (f: SseFrame) => boolean,
  ): Promise<SseFrame[]> {
    const all = await stream.rest();
    return all.filter((f) => f.comment === undefined && !isMarker(f));
  }

  before(async () => {
    api = await startTestApi('api_events');
    publisher = EventPublisher.create(api.config.redisUrl, { warn: () => undefined });
    const target = await api.factories.newTarget({ name: 'disk', path: '/nowhere' });
    const plan = await api.factories.newPlan({ fields: { name: 'nightly', retention: { keepLast: 1 } } });
    const service = await api.factories.newService({ name: 'gitea', dataPath: '/srv/gitea' });
    planId = plan.id;
    serviceId = service.id;
    targetId = target.id;
  });

  after(async () => {
    await publisher?.close();
    await api?.close();
  });

  test('401 without a token, 404 for an unknown run or restore', async () => {
    const runId = await newRun();
    const anonymous = await api.call('GET', `/v1/runs/${runId}/events`, undefined, null);
    assert.equal(anonymous.status, 401);
    assert.equal((anonymous.json as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    for (const path of [
      `/v1/runs/${randomUUID()}/events`,
      '/v1/runs/not-an-id/events',
      `/v1/restores/${randomUUID()}/events`,
    ]) {
      const res = await api.call('GET', path);
      assert.equal(res.status, 404, path);
      assert.equal((res.json as { error: { code: string } }).error.code, 'NOT_FOUND');
    }
  });

  test("a run's stream: its state, only its events, and it ends after run.finished", async () => {
    const runId = await newRun();
    const otherRunId = await newRun();
    const stream = await openEventStream(api, `/v1/runs/${runId}/events`);
    assert.equal(stream.status, 200);
    const ref = { runId, planId, serviceId, targetId };
    const other = { ...ref, runId: otherRunId };
    const isMarker = (f: SseFrame): boolean =>
      f.type === 'backup.progress' && (payloadOf(f)['progress'] as { phase: string }).phase === 'scan';

    const state = await goLive(stream, 'backup.progress', () =>
      emit('backup.progress', { at: at(), ...ref, progress: MARKER }),
    );
    assert.deepEqual(
      { id: payloadOf(state)['id'], status: payloadOf(state)['status'] },
      { id: runId, status: 'queued' },
    );

    emit('backup.started', { at: at(), ...other, attempt: 1 });
    emit('backup.started', { at: at(), ...ref, attempt: 1 });
    emit('backup.progress', { at: at(), ...ref, progress: PROGRESS });
    emit('run.finished', { at: at(), runId: otherRunId, planId, status: 'success', durationMs: 5 });
    emit('backup.finished', {
      at: at(),
      ...ref,
      snapshotId: SNAPSHOT_ID,
      stats: STATS,
      unreadable: 0,
      durationMs: 12,
    });
    emit('run.finished', { at: at(), runId, planId, status: 'success', durationMs: 20 });
    // After the end: must not be read (the stream is over).
    emit('backup.started', { at: at(), ...ref, attempt: 2 });

    const frames = await framesAfterMarkers(stream, isMarker);
    assert.deepEqual(
      frames.map((f) => f.type),
      ['backup.started', 'backup.progress', 'backup.finished', 'run.finished'],
    );
    for (const f of frames) assert.equal(payloadOf(f)['runId'], runId);
    assert.deepEqual(payloadOf(frames[1]!)['progress'], PROGRESS);
    assert.equal(payloadOf(frames[3]!)['status'], 'success');
  });

  test('invalid events are dropped; LiveProgress keeps the latest progress until run.finished', async () => {
    const runId = await newRun();
    const live = api.app.get(LiveProgress);
    const ref = { runId, planId, serviceId, targetId };
    const stream = await openEventStream(api, `/v1/runs/${runId}/events`);
    const isMarker = (f: SseFrame): boolean => f.type === 'run.started';
    await goLive(stream, 'run.started', () =>
      emit('run.started', { at: at(), runId, planId, trigger: 'manual', backups: 1 }),
    );

    // Straight on the Redis channel, as a process of another version might: not a valid payload.
    const raw = new Redis(api.config.redisUrl);
    try {
      await raw.publish(
        'backup.progress',
        JSON.stringify({ pattern: 'backup.progress', data: { ...ref, progress: 'lots' } }),
      );
    } finally {
      raw.disconnect();
    }
    emit('backup.progress', { at: at(), ...ref, progress: PROGRESS });
    let progress = await stream.next();
    while (progress && isMarker(progress)) progress = await stream.next();
    assert.equal(progress?.type, 'backup.progress');
    assert.deepEqual(payloadOf(progress)['progress'], PROGRESS, 'the invalid event never reached the stream');
    assert.deepEqual(
      live.get(runId).map((p) => ({ serviceId: p.serviceId, targetId: p.targetId, progress: p.progress })),
      [{ serviceId, targetId, progress: PROGRESS }],
    );

    emit('run.finished', { at: at(), runId, planId, status: 'failed', durationMs: 1 });
    const rest = await framesAfterMarkers(stream, isMarker);
    assert.deepEqual(
      rest.map((f) => f.type),
      ['run.finished'],
    );
    assert.deepEqual(live.get(runId), [], 'dropped when the run finished');
  });

  test('a run already finished: its state, then the stream ends', async () => {
    const runId = await newRun();
    const finishedAt = new Date();
    await api.catalog.runs.markFinished(runId, 'partial', finishedAt, finishedAt);
    const stream = await openEventStream(api, `/v1/runs/${runId}/events`);
    const frames = await stream.rest();
    assert.deepEqual(
      frames.map((f) => f.type),
      ['state'],
    );
    assert.equal(payloadOf(frames[0]!)['status'], 'partial');
    assert.equal(payloadOf(frames[0]!)['finishedAt'], finishedAt.toISOString());
  });

  test("a restore's stream: progress, a retried failure, and it ends after restore.finished", async () => {
    const restore = await api.factories.newRestore(
      { serviceId, targetId },
      { snapshotId: SNAPSHOT_ID, destination: '/srv/gitea' },
    );
    const ref = { restoreId: restore.id, serviceId, targetId };
    const stream = await openEventStream(api, `/v1/restores/${restore.id}/events`);
    const isMarker = (f: SseFrame): boolean =>
      f.type === 'restore.progress' && (payloadOf(f)['progress'] as { phase: string }).phase === 'scan';
    const state = await goLive(stream, 'restore.progress', () =>
      emit('restore.progress', { at: at(), ...ref, progress: MARKER }),
    );
    assert.equal(payloadOf(state)['status'], 'queued');
    assert.equal(payloadOf(state)['snapshotId'], SNAPSHOT_ID);

    emit('restore.progress', { at: at(), ...ref, restoreId: randomUUID(), progress: PROGRESS });
    emit('restore.failed', {
      at: at(),
      ...ref,
      error: { code: 'UNREACHABLE', message: 'target away' },
      willRetry: true,
    });
    emit('restore.progress', { at: at(), ...ref, progress: { ...PROGRESS, phase: 'restore' } });
    emit('restore.finished', {
      at: at(),
      ...ref,
      snapshotId: SNAPSHOT_ID,
      files: 4,
      bytes: 400,
      verified: true,
      crossArch: false,
      durationMs: 30,
    });
    const frames = await framesAfterMarkers(stream, isMarker);
    assert.deepEqual(
      frames.map((f) => f.type),
      ['restore.failed', 'restore.progress', 'restore.finished'],
    );
    for (const f of frames) assert.equal(payloadOf(f)['restoreId'], restore.id);
  });
});

describe('API: live events across a Redis restart', () => {
  test('the API re-subscribes by itself: events flow again once Redis is back', async () => {
    const redis = await startPrivateRedis();
    let api: TestApi | undefined;
    let publisher: EventPublisher | undefined;
    try {
      api = await startTestApi('api_events_restart', { REDIS_URL: redis.url });
      const plan = await api.factories.newPlan({ fields: { name: 'p', retention: { keepLast: 1 } } });
      const run = await api.factories.newRun(plan.id);
      const stream = await openEventStream(api, `/v1/runs/${run.id}/events`);
      assert.equal((await stream.next())?.type, 'state');

      await redis.restart();
      publisher = EventPublisher.create(redis.url, { warn: () => undefined });
      const pub = publisher;
      const started = () =>
        pub.emit('run.started', { at: at(), runId: run.id, planId: plan.id, trigger: 'manual', backups: 1 });
      // Published until one comes through: the API's subscriber reconnects on its own schedule.
      started();
      const timer = setInterval(started, 200);
      try {
        let f = await stream.next();
        while (f && f.type !== 'run.started') f = await stream.next();
        assert.equal(f?.type, 'run.started');
      } finally {
        clearInterval(timer);
      }
      pub.emit('run.finished', {
        at: at(),
        runId: run.id,
        planId: plan.id,
        status: 'success',
        durationMs: 1,
      });
      const rest = await stream.rest();
      assert.equal(rest.filter((x) => x.type !== undefined).at(-1)?.type, 'run.finished');
    } finally {
      await publisher?.close();
      await api?.close();
      await redis.stop();
    }
  });
});
