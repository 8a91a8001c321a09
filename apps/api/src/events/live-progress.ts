import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Progress } from '@vaultline/contracts';
import type { Subscription } from 'rxjs';

import { EventsHub, type LiveEvent } from './events.hub';

/** The latest progress of one service × target backup of a run, as its worker last reported it. */
export interface LiveBackupProgress {
  serviceId: string;
  targetId: string;
  progress: Progress;
  /** When the worker reported it (ISO time, the worker's clock). */
  at: string;
}

/**
 * Bounds memory whatever happens to run.finished (a report service that is down, a lost event):
 * past this many backups the runs heard of longest ago are forgotten first.
 */
export const LIVE_PROGRESS_LIMIT = 10_000;

/**
 * The latest `backup.progress` per run × service × target. A backup's entry goes when it finishes
 * or fails (its database row has the outcome then), a run's entries when the run finishes.
 */
export class ProgressTable {
  /** runId → "serviceId/targetId" → progress; Map order = the order runs were first heard of. */
  private readonly runs = new Map<string, Map<string, LiveBackupProgress>>();
  private size = 0;

  constructor(private readonly limit = LIVE_PROGRESS_LIMIT) {}

  /** The run's backups in progress (empty when none, or the run is unknown or finished). */
  get(runId: string): LiveBackupProgress[] {
    return [...(this.runs.get(runId)?.values() ?? [])];
  }

  apply(event: LiveEvent): void {
    switch (event.name) {
      case 'backup.progress': {
        const { runId, serviceId, targetId, progress, at } = event.payload;
        let backups = this.runs.get(runId);
        if (!backups) this.runs.set(runId, (backups = new Map<string, LiveBackupProgress>()));
        const key = `${serviceId}/${targetId}`;
        if (!backups.has(key)) this.size++;
        backups.set(key, { serviceId, targetId, progress, at });
        this.evict();
        return;
      }
      case 'backup.finished':
      case 'backup.failed': {
        // The database row has the outcome now; a retried attempt reports its own progress.
        const { runId, serviceId, targetId } = event.payload;
        const backups = this.runs.get(runId);
        if (backups?.delete(`${serviceId}/${targetId}`)) {
          this.size--;
          if (!backups.size) this.runs.delete(runId);
        }
        return;
      }
      case 'run.finished':
        this.dropRun(event.payload.runId);
        return;
      default:
        return;
    }
  }

  /** How many backups are tracked (all runs). */
  get count(): number {
    return this.size;
  }

  private dropRun(runId: string): void {
    this.size -= this.runs.get(runId)?.size ?? 0;
    this.runs.delete(runId);
  }

  private evict(): void {
    for (const runId of this.runs.keys()) {
      if (this.size <= this.limit) return;
      this.dropRun(runId);
    }
  }
}

/**
 * The live progress the API process has heard, so GET /v1/runs/:id can show bytes and files of
 * backups still going (the database only has them once a backup ends).
 */
@Injectable()
export class LiveProgress implements OnModuleDestroy {
  private readonly table = new ProgressTable();
  private readonly subscription: Subscription;

  constructor(hub: EventsHub) {
    this.subscription = hub.events$.subscribe((e) => this.table.apply(e));
  }

  /** The run's backups in progress (empty when none, or the run is unknown or finished). */
  get(runId: string): LiveBackupProgress[] {
    return this.table.get(runId);
  }

  onModuleDestroy(): void {
    this.subscription.unsubscribe();
  }
}
