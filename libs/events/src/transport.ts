/**
 * The options of @nestjs/microservices' Redis transport for the fleet's live events, from the one
 * REDIS_URL every process is configured with. Publishers (`ClientProxyFactory.create`) and
 * consumers (`connectMicroservice` / `createMicroservice` with `@EventPattern` handlers) take the
 * same object, so they always meet on the same server and database.
 */
import { Transport, type RedisOptions } from '@nestjs/microservices';

export function redisTransport(redisUrl: string): RedisOptions & { transport: Transport.REDIS } {
  const url = new URL(redisUrl);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  return {
    transport: Transport.REDIS,
    options: {
      host: url.hostname || '127.0.0.1',
      port: url.port ? Number(url.port) : 6379,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(Number.isInteger(db) && db > 0 ? { db } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
      // Events are for the living (libs/contracts events.ts): never queue them up while Redis is
      // away, and keep reconnecting in the background for as long as the process lives.
      retryAttempts: Number.MAX_SAFE_INTEGER,
      retryDelay: 1_000,
    },
  };
}
