import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { EventName, EventPayload } from '@vaultline/contracts';
import { Observable, Subject } from 'rxjs';

/** One validated live event: its name (the Redis channel) and its payload. */
export type LiveEvent = { [N in EventName]: { name: N; payload: EventPayload<N> } }[EventName];

/**
 * The API process's fan-out of the fleet's live events: the events consumer pushes what arrives
 * from Redis, every SSE stream and LiveProgress subscribe. In-process and lossy by design (events
 * are for the living, libs/contracts events.ts): a stream that starts late reads the database.
 */
@Injectable()
export class EventsHub implements OnModuleDestroy {
  private readonly subject = new Subject<LiveEvent>();

  readonly events$: Observable<LiveEvent> = this.subject.asObservable();

  publish(event: LiveEvent): void {
    this.subject.next(event);
  }

  onModuleDestroy(): void {
    // Completes the open SSE streams, so a shutdown does not wait for their clients.
    this.subject.complete();
  }
}
