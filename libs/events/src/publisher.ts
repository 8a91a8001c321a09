/**
 * Publishing live events: `client.emit(name, payload)` of @nestjs/microservices over Redis, with
 * the payload validated against libs/contracts first. Fire and forget by design: an event that
 * cannot be published (Redis away, a bug in a payload) is logged and dropped, and never fails or
 * delays the job that emitted it — nothing depends on events for correctness.
 */
import { ClientProxyFactory, type ClientProxy } from '@nestjs/microservices';

import { parseEventPayload, type EventName, type EventPayload } from '@vaultline/contracts';

import { redisTransport } from './transport';

/** The part of a pino logger the publisher uses. */
export interface EventLogger {
  warn(obj: object, msg: string): void;
}

export class EventPublisher {
  private connecting?: Promise<void>;
  private closed = false;

  constructor(
    private readonly client: ClientProxy,
    private readonly logger: EventLogger,
  ) {}

  static create(redisUrl: string, logger: EventLogger): EventPublisher {
    return new EventPublisher(ClientProxyFactory.create(redisTransport(redisUrl)), logger);
  }

  /** Validates and publishes; returns at once. */
  emit<N extends EventName>(name: N, payload: EventPayload<N>): void {
    if (this.closed) return;
    let data: EventPayload<N>;
    try {
      data = parseEventPayload(name, payload);
    } catch (err) {
      this.logger.warn({ err, event: name }, 'event not published: invalid payload');
      return;
    }
    this.connecting ??= this.client.connect().then(
      () => undefined,
      (err: unknown) => {
        // Let the next emit try again; the client reconnects by itself once it has connected.
        this.connecting = undefined;
        this.logger.warn({ err }, 'events: cannot connect to Redis');
      },
    );
    void this.connecting.then(() => {
      if (this.closed) return;
      this.client.emit(name, data).subscribe({
        error: (err: unknown) => this.logger.warn({ err, event: name }, 'event not published'),
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client.close();
  }
}
