/**
 * Live events from the worker's jobs. One EventPublisher per process (runtime.ts) is shared by
 * every processor; processors only need its `emit`, which validates, publishes and never throws or
 * waits — an event lost while Redis is away costs nothing but a progress bar (the job results are
 * the durable record, libs/contracts events.ts).
 */
import type { EventPublisher } from '@vaultline/events';

export type LiveEvents = Pick<EventPublisher, 'emit'>;

/** `at` of an event: the publisher's clock, ISO 8601 UTC. */
export function eventTime(): string {
  return new Date().toISOString();
}
