/**
 * The live events the report service listens to (@nestjs/microservices, Redis transport): backup
 * progress, coalesced into `service_backups.bytes_read` / `files` so that GET /v1/runs/:id shows a
 * run while it goes. Events are lossy by design (libs/contracts events.ts): an invalid or unknown
 * one is dropped, and nothing here affects the report, which is built from the jobs' results.
 */
import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { Logger } from 'pino';

import { ContractError, parseEventPayload, type EventName, type EventPayload } from '@vaultline/contracts';

import { LOGGER } from './tokens';
import { ReportRuntime } from './runtime';

@Controller()
export class LiveEventsController {
  constructor(
    private readonly runtime: ReportRuntime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @EventPattern('backup.started')
  onStarted(@Payload() data: unknown): void {
    const event = this.parse('backup.started', data);
    if (event) this.runtime.onBackupStarted(event);
  }

  @EventPattern('backup.progress')
  onProgress(@Payload() data: unknown): void {
    const event = this.parse('backup.progress', data);
    if (event) this.runtime.onBackupProgress(event);
  }

  private parse<N extends EventName>(name: N, data: unknown): EventPayload<N> | null {
    try {
      return parseEventPayload(name, data);
    } catch (err) {
      // Another version of the fleet (or another fleet on the same Redis): not ours to handle.
      if (err instanceof ContractError) {
        this.logger.debug({ event: name, err: err.message }, 'live event ignored');
        return null;
      }
      throw err;
    }
  }
}
