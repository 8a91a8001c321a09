import type { MessageEvent } from '@nestjs/common';
import { filter, Observable } from 'rxjs';

import type { LiveEvent } from './events.hub';

/** A comment line every this often keeps proxies and load balancers from closing a quiet stream. */
export const HEARTBEAT_MS = 15_000;

/** What one SSE stream (a run's, a restore's) is about. */
export interface LiveStreamSpec {
  /**
   * The row as the database has it now: sent first as a `state` event, and the stream ends right
   * after it when `finished` (nothing more will happen).
   */
  state(): Promise<{ data: object; finished: boolean }>;
  /** Whether a live event is about this run or restore. */
  matches(event: LiveEvent): boolean;
  /** Whether the event is the last one (the stream completes after sending it). */
  isTerminal(event: LiveEvent): boolean;
}

/**
 * An SSE stream: a `state` event from the database, then the live events that match (`type` = the
 * event's name, `data` = its payload) until the terminal one, with a heartbeat comment.
 *
 * The hub is subscribed to before the database is read, and what arrives meanwhile is held back
 * until the state is sent, so no event falls between the two. Events are lossy (a Redis
 * reconnect, a report service that published before this process started listening), so each
 * heartbeat also re-reads the state: a stream whose terminal event was missed still ends.
 */
export function liveStream(
  events$: Observable<LiveEvent>,
  spec: LiveStreamSpec,
  heartbeatMs = HEARTBEAT_MS,
): Observable<MessageEvent> {
  return new Observable<MessageEvent>((subscriber) => {
    let live = false;
    const early: LiveEvent[] = [];
    const send = (e: LiveEvent): void => {
      subscriber.next({ type: e.name, data: e.payload });
      if (spec.isTerminal(e)) subscriber.complete();
    };
    const subscription = events$.pipe(filter((e) => spec.matches(e))).subscribe({
      next: (e) => (live ? send(e) : early.push(e)),
      // The hub completes when the app shuts down: let the client go.
      complete: () => subscriber.complete(),
    });

    const sendState = ({ data, finished }: { data: object; finished: boolean }): void => {
      if (subscriber.closed) return;
      subscriber.next({ type: 'state', data });
      if (finished) subscriber.complete();
    };

    let checking = false;
    const heartbeat = setInterval(() => {
      subscriber.next({ comment: 'keep-alive' });
      if (!live || checking) return;
      checking = true;
      spec.state().then(
        (s) => {
          checking = false;
          if (s.finished) sendState(s);
        },
        // A database hiccup: the next heartbeat tries again; the stream itself is fine.
        () => (checking = false),
      );
    }, heartbeatMs);

    spec.state().then(
      (s) => {
        sendState(s);
        if (subscriber.closed) return;
        live = true;
        for (const e of early.splice(0)) {
          if (subscriber.closed) break;
          send(e);
        }
      },
      (err: unknown) => subscriber.error(err),
    );

    return () => {
      subscription.unsubscribe();
      clearInterval(heartbeat);
    };
  });
}
