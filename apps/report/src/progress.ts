/**
 * Live progress of running backups, coalesced: the engine reports up to four times a second per
 * backup and many backups run at once, so only the latest value per (run, service, target) is
 * kept and written at most once per flush interval (1 s). A slow flush is never overlapped by the
 * next one; what arrives meanwhile waits for the following tick.
 */

export interface ProgressKey {
  runId: string;
  serviceId: string;
  targetId: string;
}

export interface ProgressValue extends ProgressKey {
  bytesRead: number;
  files: number;
}

/** Writes one backup's latest progress; must not overwrite a finished row. */
export type ProgressSink = (value: ProgressValue) => Promise<void>;

export interface ProgressLogger {
  warn(obj: object, msg: string): void;
}

const keyOf = (k: ProgressKey): string => `${k.runId}/${k.serviceId}/${k.targetId}`;

export class ProgressCoalescer {
  private pending = new Map<string, ProgressValue>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(
    private readonly sink: ProgressSink,
    private readonly logger: ProgressLogger,
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      void this.flush();
    }, this.intervalMs);
    // Progress must never keep the process alive on its own.
    this.timer.unref();
  }

  /** The latest progress of a backup replaces whatever was waiting for it. */
  record(value: ProgressValue): void {
    this.pending.set(keyOf(value), value);
  }

  /** A new attempt starts from zero: drop what the previous one left waiting. */
  forget(key: ProgressKey): void {
    this.pending.delete(keyOf(key));
  }

  /** How many backups have progress waiting (for tests and metrics). */
  get size(): number {
    return this.pending.size;
  }

  /** Writes everything waiting; joins a flush already under way rather than overlapping it. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Stops the timer and writes what is still waiting. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }

  private async drain(): Promise<void> {
    const batch = [...this.pending.values()];
    this.pending = new Map();
    const results = await Promise.allSettled(batch.map((v) => this.sink(v)));
    const failures = results.filter((r) => r.status === 'rejected').length;
    // Progress is only for display: a lost update is replaced by the next one or by the report.
    if (failures) {
      const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      this.logger.warn({ failures, err: first?.reason as unknown }, 'progress not written');
    }
  }
}
