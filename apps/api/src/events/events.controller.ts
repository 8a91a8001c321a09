import { Controller, type MessageEvent, Param, Sse } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Catalog } from '@vaultline/catalog';
import type { Observable } from 'rxjs';

import { notFound } from '../common/api-error';
import { ApiErrors } from '../common/openapi';
import { UUID_RE } from '../common/zod-body.pipe';
import { RestoresService } from '../restores/restores.service';
import { EventsHub } from './events.hub';
import { liveStream } from './live-stream';

const FINISHED_RUN = new Set(['success', 'partial', 'failed']);
const FINISHED_JOB = new Set(['success', 'failed']);

const streamDoc = (state: string): string =>
  `Server-Sent Events: first \`state\` (the row as the database has it: a ${state} of the components), ` +
  'then the live events ' +
  '(`event:` = the event name of libs/contracts EVENTS, `data:` = its JSON payload) until the ' +
  'last one, then the stream ends; it also ends right after `state` when the work is already ' +
  'over. A `: keep-alive` comment comes every 15 s.';

/**
 * Live events of one run or restore as Server-Sent Events. The 404 is decided before the stream
 * starts (the handler is async), so an unknown id gets the API's usual error body.
 */
@ApiTags('events')
@ApiBearerAuth()
@Controller()
export class EventsController {
  constructor(
    private readonly hub: EventsHub,
    private readonly catalog: Catalog,
    private readonly restores: RestoresService,
  ) {}

  @Sse('v1/runs/:id/events')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: `${streamDoc('RunSummaryView')} Ends after \`run.finished\`.` })
  @ApiErrors({ NOT_FOUND: 'unknown run' })
  async runEvents(@Param('id') id: string): Promise<Observable<MessageEvent>> {
    await this.runState(id);
    return liveStream(this.hub.events$, {
      state: () => this.runState(id),
      matches: (e) => 'runId' in e.payload && e.payload.runId === id,
      isTerminal: (e) => e.name === 'run.finished',
    });
  }

  @Sse('v1/restores/:id/events')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({
    description: `${streamDoc('RestoreView')} Ends after \`restore.finished\`, or \`restore.failed\` with willRetry false.`,
  })
  @ApiErrors({ NOT_FOUND: 'unknown restore' })
  async restoreEvents(@Param('id') id: string): Promise<Observable<MessageEvent>> {
    await this.restores.get(id);
    return liveStream(this.hub.events$, {
      state: async () => {
        const view = await this.restores.get(id);
        return { data: view, finished: FINISHED_JOB.has(view.status) };
      },
      matches: (e) => 'restoreId' in e.payload && e.payload.restoreId === id,
      isTerminal: (e) =>
        e.name === 'restore.finished' || (e.name === 'restore.failed' && !e.payload.willRetry),
    });
  }

  private async runState(id: string): Promise<{ data: object; finished: boolean }> {
    const run = UUID_RE.test(id) ? await this.catalog.runs.find(id) : null;
    if (!run) throw notFound('run', id);
    return {
      data: {
        id: run.id,
        planId: run.planId,
        trigger: run.trigger,
        status: run.status,
        queuedAt: run.queuedAt.toISOString(),
        startedAt: run.startedAt?.toISOString() ?? null,
        finishedAt: run.finishedAt?.toISOString() ?? null,
      },
      finished: FINISHED_RUN.has(run.status),
    };
  }
}
