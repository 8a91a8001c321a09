/**
 * Counts failed sign-ins per client address and per user name in Redis (the API already holds a
 * connection for its own keys), so every API process shares one count and a restart does not
 * reset it. A fixed window of a minute from the first failure; while either count is at the
 * limit, sign-in is refused before any password is hashed (429 with Retry-After).
 *
 * While Redis is down sign-in answers 503 (QueuesService.run): failing open would let an attacker
 * guess freely whenever Redis is unreachable.
 */
import { createHash } from 'node:crypto';

import type { QueuesService } from '../common/queues.service';

const WINDOW_MS = 60_000;

/** The longest remaining window among the keys at the limit, in ms; 0 when none is. */
const CHECK = `
local wait = 0
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = tonumber(ARGV[2]) end
    if ttl > wait then wait = ttl end
  end
end
return wait`;

/** One more failure on each key; the window starts with the first. */
const FAIL = `
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0`;

export class LoginLimiter {
  constructor(
    private readonly queues: QueuesService,
    private readonly limit: number,
  ) {}

  private keys(address: string, name: string): [string, string] {
    // Hashed: a name or an address is any text up to the body limit; a key stays short and plain.
    const h = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 32);
    const base = `${this.queues.prefix}:login-failures`;
    return [`${base}:address:${h(address)}`, `${base}:name:${h(name)}`];
  }

  /** Milliseconds until sign-in is allowed again for this address and name; 0 now. */
  async blockedFor(address: string, name: string): Promise<number> {
    const wait = await this.queues.run(() =>
      this.queues.redis.eval(CHECK, 2, ...this.keys(address, name), this.limit, WINDOW_MS),
    );
    return Number(wait);
  }

  async recordFailure(address: string, name: string): Promise<void> {
    await this.queues.run(() => this.queues.redis.eval(FAIL, 2, ...this.keys(address, name), WINDOW_MS));
  }

  /** A successful sign-in clears the name's count (not the address's: one success proves nothing of it). */
  async recordSuccess(address: string, name: string): Promise<void> {
    await this.queues.run(() => this.queues.redis.del(this.keys(address, name)[1]));
  }
}
