import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

import type { OutboundPolicy } from '@vaultline/config';
import type { Catalog } from '@vaultline/catalog';
import type { WorkerPool } from '@vaultline/engine';
import type { FleetMetrics } from '@vaultline/observability';
import type { ServerKeys } from '@vaultline/secrets';

import type { LiveEvents } from './events';
import type { HookIdentity } from './hooks';
import type { ServiceLockOptions } from './service-lock';

/** What a job that holds a service (backup, restore) needs from its process. */
export interface ServiceJobDeps {
  catalog: Catalog;
  redis: Redis;
  keys: ServerKeys;
  pool: WorkerPool;
  logger: Logger;
  /** The process's live-event publisher. */
  events: LiveEvents;
  queuePrefix: string;
  /** Fires when the process shuts down: running jobs stop and go back to wait. */
  shutdown: AbortSignal;
  /** The process's Prometheus metrics (libs/observability). */
  metrics?: FleetMetrics;
  options?: ServiceLockOptions;
  /** Who command hooks run as (HOOK_UID / HOOK_GID, resolved at start); null: the worker itself. */
  hookIdentity?: HookIdentity | null;
  /** The outbound policy HTTP hooks are checked against (OUTBOUND_*_CIDRS). */
  outbound?: OutboundPolicy;
}
