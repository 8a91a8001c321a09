import { type RedisOptions, ServerRedis } from '@nestjs/microservices';
import type { Redis } from 'ioredis';

/**
 * @nestjs/microservices' Redis server for the API's live events, with one change: it does not
 * make the API wait for Redis. The stock server resolves `listen` only once both of its clients
 * have connected and subscribes only then, so an API started while Redis is away would either not
 * start or never subscribe. The API must start (routes without queues work, health says 503), so
 * here `listen` returns at once, the clients connect and reconnect in the background (the
 * transport's retry options), and the channels are subscribed when the subscriber is first ready;
 * ioredis re-subscribes them by itself after every reconnect.
 */
export class EventsServer extends ServerRedis {
  /** Takes the options of `redisTransport()` (libs/events), like the stock server. */
  constructor(options: RedisOptions['options']) {
    super(options ?? {});
  }

  override start(callback?: () => void): void {
    const sub = this.subClient as Redis;
    const pub = this.pubClient as Redis;
    sub.once('ready', () => this.subscribeAll(sub, pub));
    // Rejected when the first attempt fails; the retry strategy keeps trying, errors are logged
    // by the server's error listener.
    for (const client of [sub, pub]) client.connect().catch(() => undefined);
    callback?.();
  }

  override async close(): Promise<void> {
    this.isManuallyClosed = true;
    // Nothing to flush (events are fire and forget), and QUIT would wait for a Redis that is away.
    (this.subClient as Redis | undefined)?.disconnect();
    (this.pubClient as Redis | undefined)?.disconnect();
    await Promise.resolve();
  }

  /** The stock bindEvents without its floating subscribe promises. */
  private subscribeAll(sub: Redis, pub: Redis): void {
    const logError = (err: unknown): void => {
      this.logger.error(err);
    };
    sub.on('message', (channel: string, buffer: string) => {
      // handleMessage is typed `Promise<any>`: only its failure matters here.
      (this.handleMessage(channel, buffer, pub, channel) as Promise<unknown>).catch(logError);
    });
    for (const channel of this.messageHandlers.keys()) sub.subscribe(channel).catch(logError);
  }
}
