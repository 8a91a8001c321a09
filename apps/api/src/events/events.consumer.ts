import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload, RedisContext } from '@nestjs/microservices';
import { EVENT_NAMES, isEventName, parseEventPayload } from '@vaultline/contracts';
import type { Logger } from 'pino';

import { Public } from '../auth/auth.guard';
import { LOGGER } from '../common/tokens';
import { EventsHub, type LiveEvent } from './events.hub';

/**
 * Receives the fleet's live events from Redis (the microservice connected in createApp): every
 * name of libs/contracts EVENTS, each validated before it reaches a client. An invalid or unknown
 * event is dropped with a warning: it comes from a process of another version or a bug, and must
 * not break the streams of everyone else.
 *
 * @Public: this class has no HTTP route; its handlers are called for Redis messages, which carry
 * no bearer token (the guard is for clients of the HTTP API).
 */
@Public()
@Controller()
export class EventsConsumer {
  constructor(
    private readonly hub: EventsHub,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @EventPattern([...EVENT_NAMES])
  receive(@Payload() data: unknown, @Ctx() ctx: RedisContext): void {
    const name = ctx.getChannel();
    try {
      if (!isEventName(name)) throw new Error(`unknown event ${name}`);
      // parseEventPayload returns the payload of `name`; the pair is a LiveEvent by construction.
      this.hub.publish({ name, payload: parseEventPayload(name, data) } as LiveEvent);
    } catch (err) {
      // The ContractError names the event and the fields, never the values.
      this.logger.warn({ err, event: name }, 'live event dropped: invalid');
    }
  }
}
